package collector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	bolt "go.etcd.io/bbolt"

	"github.com/smtpscope/smtpscope/core"
)

// Reconciliation between sensors and the hub (README "Reconciliation"):
// a broker that loses acknowledged writes (or a stream purged or
// deleted before the hub consumed it) must not lose an email for good.
//
// The hub computes: it keeps, per sensor and hour of the email's time
// (EmailMeta.Time, UTC), how many distinct emails it holds, and writes
// them to the JetStream KV bucket CountsBucket under HourKey, then, under
// CountsHubKey, a HubCounts naming the stream and its consumer's ack
// floor: every message of the stream up to that sequence has been
// stored (its count written) or terminated. It writes only what changed,
// every HubConfig.CountsEvery.
//
// The sensor compares: every reconcile_interval (and at start) each NATS
// group reads HubCounts, counts per hour its own emails the hub must
// hold by now (sent to this group, and either acknowledged on the hub's
// stream at or below the ack floor, or sent before the stream was
// created), and re-publishes every email of an hour whose hub count is
// lower. A re-publish carries a Nats-Msg-Id of its own per round (the
// email's id + "/r<round>"), so JetStream's duplicate window does not
// drop it; the hub is idempotent on the global id and sha256. Work is
// bounded: hours older than the stream's max age, the hub's retention
// max age or this sensor's retention max age are not compared, and at
// most reconcile_max emails are re-published per round (the rest in
// the next rounds).

// Reconciliation names and defaults.
const (
	CountsBucket = "smtpscope-counts" // KV bucket the hub writes its counts to
	CountsHubKey = "hub"              // its HubCounts

	HdrTime = "Smtpscope-Time" // the email's time on its sensor (RFC 3339), its hour for reconciliation

	defaultReconcileInterval = 10 * time.Minute
	defaultReconcileMax      = 10000
	hubCountsEvery           = 5 * time.Second
)

// HourKey is the KV key of a sensor's hour: <sensor>.<YYYYMMDDHH>, UTC.
// Its value is the hub's count as decimal digits.
func HourKey(sensor string, t time.Time) string {
	return sensor + "." + t.UTC().Format("2006010215")
}

// HubCounts is the value of CountsHubKey: what a sensor needs to know
// which of its emails the hub must hold by now.
type HubCounts struct {
	Stream   string    `json:"stream"`
	Created  time.Time `json:"created"`   // the stream's creation
	AckFloor uint64    `json:"ack_floor"` // the hub's consumer has settled every message up to this stream sequence
	// MaxAge: hours older than this are not compared (the smaller of
	// the stream's max age and the hub's retention max age; 0: none).
	MaxAge  time.Duration `json:"max_age"`
	Updated time.Time     `json:"updated"`
}

// hubCounts is the hub's per sensor and hour count of the emails it
// holds: loaded from the store at start, one added for each email
// stored (before its ack), written to CountsBucket when changed.
type hubCounts struct {
	mu     sync.Mutex
	n      map[string]int64 // HourKey -> emails held
	dirty  map[string]bool
	status HubCounts // last written
	err    string    // last write error (recorded once while it repeats)
}

// loadHubCounts counts the hub's stored emails by sensor (the part of
// the global id before '/') and hour.
func loadHubCounts(s *Store) (*hubCounts, error) {
	h := &hubCounts{n: map[string]int64{}, dirty: map[string]bool{}}
	err := s.ListEmails(func(m *EmailMeta) bool {
		if sensor, _, ok := strings.Cut(m.ID, "/"); ok {
			h.n[HourKey(sensor, m.Time)]++
		}
		return true
	})
	for k := range h.n {
		h.dirty[k] = true
	}
	return h, err
}

func (h *hubCounts) add(sensor string, t time.Time) {
	k := HourKey(sensor, t)
	h.mu.Lock()
	h.n[k]++
	h.dirty[k] = true
	h.mu.Unlock()
}

// countsBucket opens CountsBucket, creating it (file storage, the
// stream's replicas, one value per key) when missing.
func countsBucket(ctx context.Context, js jetstream.JetStream, replicas int) (jetstream.KeyValue, error) {
	kv, err := js.KeyValue(ctx, CountsBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: CountsBucket, Storage: jetstream.FileStorage,
			Replicas: max(replicas, 1), History: 1, Description: "smtpscope hub: emails held per sensor and hour"})
	}
	if err != nil {
		return nil, fmt.Errorf("kv bucket %s: %w", CountsBucket, err)
	}
	return kv, nil
}

// write puts the changed counts, then the HubCounts with the ack floor
// read before them (every message at or below it was counted before it
// was acked). A failure leaves the counts to write next time.
func (h *hubCounts) write(ctx context.Context, js jetstream.JetStream, cons jetstream.Consumer, stream string, retention time.Duration) error {
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ci, err := cons.Info(wctx)
	if err != nil {
		return fmt.Errorf("consumer info: %w", err)
	}
	s, err := js.Stream(wctx, stream)
	if err != nil {
		return fmt.Errorf("stream %s: %w", stream, err)
	}
	si, err := s.Info(wctx)
	if err != nil {
		return fmt.Errorf("stream %s: %w", stream, err)
	}
	maxAge := si.Config.MaxAge
	if retention > 0 && (maxAge <= 0 || retention < maxAge) {
		maxAge = retention
	}
	st := HubCounts{Stream: stream, Created: si.Created.UTC(), AckFloor: ci.AckFloor.Stream, MaxAge: maxAge}
	h.mu.Lock()
	vals := make(map[string]int64, len(h.dirty))
	for k := range h.dirty {
		vals[k] = h.n[k]
	}
	clear(h.dirty)
	prev := h.status
	h.mu.Unlock()
	if len(vals) == 0 && prev.Stream == st.Stream && prev.Created.Equal(st.Created) && prev.AckFloor == st.AckFloor &&
		prev.MaxAge == st.MaxAge && time.Since(prev.Updated) < time.Minute {
		return nil
	}
	kv, err := countsBucket(wctx, js, si.Config.Replicas)
	if err == nil {
		for k, v := range vals {
			if _, err = kv.Put(wctx, k, []byte(strconv.FormatInt(v, 10))); err != nil {
				err = fmt.Errorf("kv bucket %s: put %s: %w", CountsBucket, k, err)
				break
			}
			delete(vals, k)
		}
	}
	if err == nil {
		st.Updated = time.Now().UTC()
		b, _ := json.Marshal(st)
		if _, err = kv.Put(wctx, CountsHubKey, b); err != nil {
			err = fmt.Errorf("kv bucket %s: put %s: %w", CountsBucket, CountsHubKey, err)
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if err != nil {
		for k := range vals {
			h.dirty[k] = true
		}
		return err
	}
	h.status = st
	return nil
}

// countsLoop writes the counts every CountsEvery until ctx ends.
func (r *hubRunner) countsLoop(ctx context.Context, cons jetstream.Consumer) {
	every := r.cfg.CountsEvery
	if every <= 0 {
		every = hubCountsEvery
	}
	retention := r.c.cfg().Retention.MaxAge.D()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		err := r.counts.write(ctx, r.js, cons, r.cfg.Stream, retention)
		if ctx.Err() != nil {
			return
		}
		r.counts.mu.Lock()
		msg := ""
		if err != nil {
			msg = err.Error()
		}
		first := msg != "" && msg != r.counts.err
		r.counts.err = msg
		r.counts.mu.Unlock()
		if first {
			r.c.fail("hub counts", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// hubTime is the email's time its sensor sent (HdrTime), zero when
// absent or not RFC 3339 (the hub then uses its own clock).
func hubTime(h nats.Header) time.Time {
	t, err := time.Parse(time.RFC3339Nano, h.Get(HdrTime))
	if err != nil {
		return time.Time{}
	}
	return t.UTC()
}

// reconciler is a NATS group's side of reconciliation.
type reconciler struct {
	mu sync.Mutex
	st ReconcileStatus
	// the last round's re-publishes: the next round waits until the
	// hub's ack floor has passed them (else it would count them missing
	// again and publish them once more)
	waitStream  string
	waitCreated time.Time // the stream's creation (a stream made anew starts its sequences again)
	waitSeq     uint64
}

func (d *natsDelivery) reconcileStatus() *ReconcileStatus {
	if !d.cfg.Reconciles() {
		return nil
	}
	d.rec.mu.Lock()
	defer d.rec.mu.Unlock()
	if d.rec.st.Rounds == 0 {
		return nil
	}
	st := d.rec.st
	return &st
}

// reconcileLoop runs a round once connected, then every
// reconcile_interval, until ctx ends.
func (d *natsDelivery) reconcileLoop(ctx context.Context) {
	every := d.cfg.ReconcileInterval.D()
	if every <= 0 {
		every = defaultReconcileInterval
	}
	for !d.ready() { // the first round as soon as connected
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
	for {
		d.reconcileRound(ctx)
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}

// reconcileRound runs one round and records its outcome.
func (d *natsDelivery) reconcileRound(ctx context.Context) {
	res, err := d.reconcile(ctx, time.Now())
	if ctx.Err() != nil {
		return
	}
	d.rec.mu.Lock()
	prevErr := d.rec.st.LastError
	st := &d.rec.st
	st.Last, st.HoursChecked, st.HoursShort, st.Republished, st.Skipped = time.Now().UTC(), res.checked, res.short, res.republished, res.skipped
	st.Rounds++
	st.Total += int64(res.republished)
	st.LastError = ""
	if err != nil {
		st.LastError = err.Error()
	}
	d.rec.mu.Unlock()
	d.c.metrics.reconcileRounds.WithLabelValues(d.cfg.Name).Inc()
	d.c.metrics.republished.WithLabelValues(d.cfg.Name).Add(float64(res.republished))
	if err != nil && err.Error() != prevErr {
		d.c.fail("reconcile "+d.cfg.Name, err)
	}
	if res.republished > 0 {
		d.c.log.Info("reconciliation re-published emails the hub was short of", "group", d.cfg.Name,
			"hours", res.short, "emails", res.republished)
	}
}

type reconcileResult struct {
	checked, short, republished int
	skipped                     string
}

// reconcile compares this sensor's hours with the hub's counts and
// re-publishes the emails of every hour the hub is short of.
func (d *natsDelivery) reconcile(ctx context.Context, now time.Time) (res reconcileResult, err error) {
	nc, js := d.conn()
	if nc == nil || !nc.IsConnected() {
		res.skipped = "not connected"
		return res, nil
	}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	kv, err := js.KeyValue(rctx, CountsBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		res.skipped = "no hub counts yet (KV bucket " + CountsBucket + " missing)"
		return res, nil
	}
	if err != nil {
		return res, fmt.Errorf("kv bucket %s: %w", CountsBucket, err)
	}
	e, err := kv.Get(rctx, CountsHubKey)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		res.skipped = "no hub counts yet (key " + CountsHubKey + " missing)"
		return res, nil
	}
	if err != nil {
		return res, fmt.Errorf("kv bucket %s: get %s: %w", CountsBucket, CountsHubKey, err)
	}
	var hc HubCounts
	if err := json.Unmarshal(e.Value(), &hc); err != nil || hc.Stream == "" {
		return res, fmt.Errorf("kv bucket %s: key %s is not a hub's counts (%d bytes)", CountsBucket, CountsHubKey, len(e.Value()))
	}
	d.rec.mu.Lock()
	waitStream, waitCreated, waitSeq := d.rec.waitStream, d.rec.waitCreated, d.rec.waitSeq
	d.rec.mu.Unlock()
	if waitSeq > 0 && waitStream == hc.Stream && waitCreated.Equal(hc.Created) && hc.AckFloor < waitSeq {
		res.skipped = fmt.Sprintf("the hub has not yet consumed the last round's re-publishes (its ack floor %d < %d)", hc.AckFloor, waitSeq)
		return res, nil
	}
	var last uint64 // the highest sequence re-published this round
	var lastStream string
	defer func() {
		if last > 0 {
			d.rec.mu.Lock()
			d.rec.waitStream, d.rec.waitCreated, d.rec.waitSeq = lastStream, hc.Created, last
			d.rec.mu.Unlock()
		}
	}()
	var since time.Time
	if hc.MaxAge > 0 {
		since = now.Add(-hc.MaxAge)
	}
	if ret := d.c.cfg().Retention.MaxAge.D(); ret > 0 && (since.IsZero() || now.Add(-ret).After(since)) {
		since = now.Add(-ret)
	}
	hours, err := d.c.store.reconcileHours(d.cfg.Name, hc, since)
	if err != nil {
		return res, err
	}
	keys := make([]time.Time, 0, len(hours))
	for h := range hours {
		keys = append(keys, h)
	}
	slices.SortFunc(keys, func(a, b time.Time) int { return a.Compare(b) }) // oldest first: the nearest to expiry
	budget := d.cfg.ReconcileMax
	if budget <= 0 {
		budget = defaultReconcileMax
	}
	round := "r" + strconv.FormatInt(now.UnixNano(), 36)
	sensor := d.c.cfg().Sensor
	for _, hour := range keys {
		ids := hours[hour]
		res.checked++
		n, err := hubCount(rctx, kv, HourKey(sensor, hour))
		if err != nil {
			return res, err
		}
		if n >= int64(len(ids)) {
			continue
		}
		// short (or the emails were published under another sensor
		// name, stored before a rename): compare by the name each
		// record was published under
		bySensor := map[string][]*core.Email{}
		for _, id := range ids {
			rec, err := d.c.store.Record(id)
			if err != nil {
				continue // removed meanwhile (retention)
			}
			name := firstOf(rec.Sensor, sensor)
			bySensor[name] = append(bySensor[name], rec)
		}
		short := false
		for name, recs := range bySensor {
			if name != sensor {
				if n, err = hubCount(rctx, kv, HourKey(name, hour)); err != nil {
					return res, err
				}
			}
			if n >= int64(len(recs)) {
				continue
			}
			short = true
			for _, rec := range recs {
				if budget == 0 {
					res.short++
					return res, nil
				}
				ack, err := d.republish(rctx, rec.ID, round)
				if err != nil {
					res.short++
					return res, err
				}
				if ack.Stream != lastStream || ack.Sequence > last {
					last, lastStream = ack.Sequence, ack.Stream
				}
				budget--
				res.republished++
			}
		}
		if short {
			res.short++
		}
	}
	return res, nil
}

// hubCount is the hub's count under key (0 when it has none).
func hubCount(ctx context.Context, kv jetstream.KeyValue, key string) (int64, error) {
	e, err := kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("kv bucket %s: get %s: %w", CountsBucket, key, err)
	}
	n, err := strconv.ParseInt(string(e.Value()), 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("kv bucket %s: key %s: %q is not a count", CountsBucket, key, e.Value())
	}
	return n, nil
}

// republish publishes a stored email again with a Nats-Msg-Id of this
// round, so the stream's duplicate window does not drop it.
func (d *natsDelivery) republish(ctx context.Context, id, round string) (*jetstream.PubAck, error) {
	nc, js := d.conn()
	if nc == nil || !nc.IsConnected() {
		return nil, fmt.Errorf("re-publishing %s: %w", id, nats.ErrConnectionClosed)
	}
	msg, err := d.message(nc, js, id)
	if err != nil {
		return nil, fmt.Errorf("re-publishing %s: %w", id, err)
	}
	msgID := msg.Header.Get(jetstream.MsgIDHeader) + "/" + round
	msg.Header.Set(jetstream.MsgIDHeader, msgID)
	pctx, cancel := context.WithTimeout(ctx, d.sub.Timeout.D())
	defer cancel()
	ack, err := js.PublishMsg(pctx, msg, jetstream.WithMsgID(msgID))
	if err != nil {
		return nil, fmt.Errorf("re-publishing %s to %s: %w", id, msg.Subject, err)
	}
	return ack, nil
}

// reconcileHours are the emails of this sensor the hub must hold by now,
// by hour (UTC): sent to group, with a time not before since, and
// acknowledged on the hub's stream at or below its ack floor or sent
// before the stream was created (published to a stream since lost).
func (s *Store) reconcileHours(group string, hc HubCounts, since time.Time) (map[time.Time][]string, error) {
	out := map[time.Time][]string{}
	err := s.view(func(tx *bolt.Tx) error {
		ob, eb, sb := bucket(tx, bEmailOrder), bucket(tx, bEmails), bucket(tx, bSubs)
		if ob == nil || eb == nil || sb == nil {
			return nil
		}
		c := ob.Cursor()
		for k, _ := c.Last(); k != nil; k, _ = c.Prev() { // newest first
			if len(k) < 8 {
				continue
			}
			var m EmailMeta
			ok, err := getJSON(eb, k[8:], &m)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			if !since.IsZero() && m.Time.Before(since) {
				break
			}
			var st SubmissionStatus
			if ok, err := getJSON(sb, subKey(m.ID, group), &st); err != nil || !ok || st.State != StateSent {
				continue
			}
			if !hc.passed(st) {
				continue
			}
			h := m.Time.UTC().Truncate(time.Hour)
			out[h] = append(out[h], m.ID)
		}
		return nil
	})
	return out, err
}

// passed reports whether the hub must hold a sent email by now: its
// PubAck (the receipt "<stream>/<sequence>[ (duplicate)]") is on the
// hub's stream at or below the ack floor, or it was sent before the
// stream was created.
func (hc HubCounts) passed(st SubmissionStatus) bool {
	if !hc.Created.IsZero() && !st.Sent.IsZero() && st.Sent.Before(hc.Created) {
		return true
	}
	receipt, _, _ := strings.Cut(st.UUID, " ")
	stream, seq, ok := strings.Cut(receipt, "/")
	if !ok || stream != hc.Stream {
		return false
	}
	n, err := strconv.ParseUint(seq, 10, 64)
	return err == nil && n <= hc.AckFloor
}
