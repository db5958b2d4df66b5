package collector

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/smtpscope/smtpscope/collector/ace"
	"github.com/smtpscope/smtpscope/core"
	bolt "go.etcd.io/bbolt"
)

// The hub (`smtpscope hub`): a durable JetStream pull consumer on the
// stream the sensors' NATS groups publish to (nats.go). Each message is
// an email a sensor already analysed: its record and raw bytes are
// stored as they are (IngestRecord: no analysis again) under the global
// id <sensor>/<id>, through the same group commit as a sensor's emails,
// and acknowledged only after that commit. The commit also marks the
// email for the index (unindexed.go), so an email acknowledged but not
// yet in the index when the hub dies is indexed at its next start.

// Hub defaults.
const (
	HubStream   = "SMTPSCOPE"     // default stream name
	HubConsumer = "smtpscope-hub" // default durable consumer name
	hubFetch    = 64              // messages fetched at once
	hubAckWait  = 60 * time.Second
)

// HubConfig configures RunHub.
type HubConfig struct {
	Servers  []string // nats:// or tls:// URLs
	Stream   string   // default HubStream
	Consumer string   // default HubConsumer
	Workers  int      // messages stored in parallel (default the collector's workers)
	// AckWait is how long the server waits for an ack before it
	// redelivers (default 60s).
	AckWait time.Duration
	// CountsEvery is how often the hub writes its per sensor and hour
	// counts for reconciliation (reconcile.go; default 5s).
	CountsEvery time.Duration
	Options     []nats.Option // extra connection options (TLS, credentials)
	Log         *slog.Logger
}

func (h *HubConfig) defaults(c *Collector) {
	if h.Stream == "" {
		h.Stream = HubStream
	}
	if h.Consumer == "" {
		h.Consumer = HubConsumer
	}
	if h.Workers <= 0 {
		h.Workers = max(2, c.cfg().Workers)
	}
	if h.AckWait <= 0 {
		h.AckWait = hubAckWait
	}
	if h.Log == nil {
		h.Log = c.log
	}
}

// StreamProblems checks the configuration of an existing stream for the
// hub: it must take the subjects the sensors publish to, keep them in
// files, and have min(3, clusterSize) replicas or more. Each problem is
// one sentence saying what is wrong and how to fix it; none: the stream
// is fine.
func StreamProblems(cfg jetstream.StreamConfig, clusterSize int) []string {
	var out []string
	want := NATSSubjectPrefix + ">"
	if !slices.ContainsFunc(cfg.Subjects, func(s string) bool { return s == want || s == "smtpscope.>" || s == ">" }) {
		out = append(out, fmt.Sprintf("its subjects %q do not take %s, the subjects the sensors publish to (nats stream edit %s --subjects '%s')",
			cfg.Subjects, want, cfg.Name, want))
	}
	if cfg.Storage != jetstream.FileStorage {
		out = append(out, "it keeps its messages in memory: a server restart loses every email not yet stored by the hub; it needs file storage (storage cannot be changed: delete the stream once the hub has drained it and let the hub create it)")
	}
	if r := StreamReplicas(clusterSize); max(cfg.Replicas, 1) < r {
		out = append(out, fmt.Sprintf("it has %d replica(s) on a cluster of %d servers: it needs %d so that losing a server loses nothing (nats stream edit %s --replicas %d)",
			max(cfg.Replicas, 1), clusterSize, r, cfg.Name, r))
	}
	return out
}

// StreamReplicas is the replicas the hub's stream needs: min(3, cluster size).
func StreamReplicas(clusterSize int) int { return max(1, min(3, clusterSize)) }

// clusterSize is the number of servers the client knows of (the URLs
// given and those the servers advertise) when connected to a cluster,
// else 1.
func clusterSize(nc *nats.Conn) int {
	if nc.ConnectedClusterName() == "" {
		return 1
	}
	hosts := map[string]bool{}
	for _, s := range nc.Servers() {
		if u, err := url.Parse(s); err == nil {
			hosts[u.Host] = true
		}
	}
	return max(1, len(hosts))
}

// EnsureStream creates the hub's stream when it does not exist (subjects
// smtpscope.email.>, file storage, StreamReplicas(cluster) replicas, a
// 2-minute duplicate window) or checks an existing one (StreamProblems):
// a misconfigured stream is an error naming every problem.
func EnsureStream(ctx context.Context, nc *nats.Conn, js jetstream.JetStream, name string) error {
	size := clusterSize(nc)
	s, err := js.Stream(ctx, name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		cfg := jetstream.StreamConfig{Name: name, Subjects: HubSubjects(), Storage: jetstream.FileStorage,
			Replicas: StreamReplicas(size), Duplicates: 2 * time.Minute, Retention: jetstream.LimitsPolicy}
		if _, err := js.CreateStream(ctx, cfg); err != nil {
			return fmt.Errorf("creating stream %s (subjects %s>, file storage, %d replica(s)): %w", name, NATSSubjectPrefix, cfg.Replicas, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("stream %s: %w", name, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return fmt.Errorf("stream %s: %w", name, err)
	}
	if p := StreamProblems(info.Config, size); len(p) > 0 {
		return &StreamError{Stream: name, Problems: p}
	}
	// a stream made before sessions and review entries travelled: their
	// subjects are added (the stream keeps everything else)
	cfg := info.Config
	added := false
	for _, sub := range HubSubjects()[1:] {
		if !slices.ContainsFunc(cfg.Subjects, func(s string) bool { return s == sub || s == "smtpscope.>" || s == ">" }) {
			cfg.Subjects = append(cfg.Subjects, sub)
			added = true
		}
	}
	if added {
		if _, err := js.UpdateStream(ctx, cfg); err != nil {
			return fmt.Errorf("stream %s: adding the subjects %s: %w", name, strings.Join(HubSubjects()[1:], ", "), err)
		}
	}
	return nil
}

// HubSubjects are the subjects of the hub's stream: emails, sessions
// without email, review entries (natsother.go).
func HubSubjects() []string {
	return []string{NATSSubjectPrefix + ">", NATSSessionPrefix + ">", NATSReviewPrefix + ">"}
}

// hubConsumerConfig is the hub's durable pull consumer.
func hubConsumerConfig(h *HubConfig) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{Durable: h.Consumer, AckPolicy: jetstream.AckExplicitPolicy, AckWait: h.AckWait,
		DeliverPolicy: jetstream.DeliverAllPolicy, FilterSubjects: HubSubjects(), MaxAckPending: 4 * hubFetch}
}

// RunHub connects to the servers, creates or checks the stream, and
// consumes it until ctx ends: each email is stored (IngestRecord) and
// acknowledged after its commit. A misconfigured stream (StreamError) or
// a stream or consumer the servers refuse to make ends it with an error
// at once; servers not reachable (at start or later) are waited for
// (the client reconnects forever), the error recorded once while it
// repeats. A message that can never be stored (not an smtpscope email, a raw message whose sha256
// does not match) is recorded in the store's errors and terminated: it
// stays in the stream, never redelivered.
func RunHub(ctx context.Context, c *Collector, h HubConfig) error {
	h.defaults(c)
	if len(h.Servers) == 0 {
		return errors.New("hub: no NATS server given")
	}
	opts := append([]nats.Option{nats.Name("smtpscope hub"), nats.RetryOnFailedConnect(true), nats.MaxReconnects(-1), nats.ReconnectWait(time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				h.Log.Warn("hub: nats disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) { h.Log.Info("hub: nats reconnected", "server", nc.ConnectedUrlRedacted()) })}, h.Options...)
	nc, err := nats.Connect(strings.Join(h.Servers, ","), opts...)
	if err != nil {
		return fmt.Errorf("hub: connecting to NATS: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	r := &hubRunner{c: c, js: js, cfg: h}
	if r.counts, err = loadHubCounts(c.store); err != nil {
		return fmt.Errorf("hub: counting the stored emails: %w", err)
	}
	var cons jetstream.Consumer
	for {
		cons, err = setupHub(ctx, nc, js, &h)
		var serr *StreamError
		var apiErr *jetstream.APIError
		switch {
		case err == nil:
		case errors.As(err, &serr) || errors.As(err, &apiErr) && apiErr.Code != 503:
			return err // the servers answered: waiting will not change it
		case ctx.Err() == nil:
			r.wait(ctx, err) // not connected (yet)
			continue
		default:
			return nil
		}
		break
	}
	h.Log.Info("hub consuming", "stream", h.Stream, "consumer", h.Consumer, "server", nc.ConnectedUrlRedacted())
	countsCtx, countsStop := context.WithCancel(ctx)
	countsDone := make(chan struct{})
	go func() { defer close(countsDone); r.countsLoop(countsCtx, cons) }()
	defer func() { countsStop(); <-countsDone }()
	defer r.settling.Wait() // every message taken is settled before the connection closes
	for ctx.Err() == nil {
		batch, err := cons.Fetch(hubFetch, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			r.wait(ctx, err)
			continue
		}
		r.process(ctx, batch.Messages())
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			r.wait(ctx, err)
			continue
		}
		r.mu.Lock()
		r.lastErr = "" // the next failure is recorded again
		r.mu.Unlock()
	}
	return nil
}

// setupHub creates or checks the stream and the durable consumer.
func setupHub(ctx context.Context, nc *nats.Conn, js jetstream.JetStream, h *HubConfig) (jetstream.Consumer, error) {
	if !nc.IsConnected() {
		return nil, fmt.Errorf("hub: not connected to NATS (%s): %w", redactedServers(h.Servers), nats.ErrNoServers)
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := EnsureStream(sctx, nc, js, h.Stream); err != nil {
		return nil, err
	}
	cons, err := js.CreateOrUpdateConsumer(sctx, h.Stream, hubConsumerConfig(h))
	if err != nil {
		return nil, fmt.Errorf("hub: consumer %s on stream %s: %w", h.Consumer, h.Stream, err)
	}
	return cons, nil
}

func redactedServers(urls []string) string {
	out := make([]string, len(urls))
	for i, u := range urls {
		out[i] = ace.RedactURL(u)
	}
	return strings.Join(out, ",")
}

// StreamError is an existing stream the hub cannot use as it is.
type StreamError struct {
	Stream   string
	Problems []string // StreamProblems
}

func (e *StreamError) Error() string {
	return fmt.Sprintf("stream %s is misconfigured: %s", e.Stream, strings.Join(e.Problems, "; "))
}

type hubRunner struct {
	c      *Collector
	js     jetstream.JetStream
	cfg    HubConfig
	counts *hubCounts // reconcile.go

	mu       sync.Mutex
	lastErr  string
	settling sync.WaitGroup // messages handed over, not yet acked (or nak'd)
}

// wait notes a fetch error (once while it repeats) and waits a second.
func (r *hubRunner) wait(ctx context.Context, err error) {
	r.mu.Lock()
	first := r.lastErr != err.Error()
	r.lastErr = err.Error()
	r.mu.Unlock()
	if first && ctx.Err() == nil {
		r.c.fail("hub fetch", err)
	}
	select {
	case <-ctx.Done():
	case <-time.After(time.Second):
	}
}

// process stores the messages of one fetch on cfg.Workers goroutines;
// a worker hands each to the committer and goes on (their commits are
// grouped); each is acked after its commit.
func (r *hubRunner) process(ctx context.Context, msgs <-chan jetstream.Msg) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, r.cfg.Workers)
	for m := range msgs {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			r.handle(ctx, m)
		}()
	}
	wg.Wait()
}

// handle stores one message and acks it after the commit; a message that
// can never be stored is terminated, one that failed for now is
// redelivered later.
func (r *hubRunner) handle(ctx context.Context, m jetstream.Msg) {
	r.c.commits.working(true)
	defer r.c.commits.working(false)
	name := m.Subject()
	if md, err := m.Metadata(); err == nil {
		name += " #" + strconv.FormatUint(md.Sequence.Stream, 10)
	}
	r.settling.Add(1)
	var sensor string
	var at time.Time
	settle := func(known bool, err error) {
		if err == nil && !known && sensor != "" {
			r.counts.add(sensor, at) // counted before its ack (reconcile.go)
		}
		// on the committer's goroutine: the ack waits for the server
		go func() {
			defer r.settling.Done()
			r.settle(m, name, err)
		}()
	}
	object := func(name string, limit int64) ([]byte, error) { return r.object(ctx, name, limit) }
	if k := m.Headers().Get(HdrKind); k == KindSession || k == KindReview {
		o, err := DecodeHubOther(m.Subject(), m.Headers(), m.Data(), object)
		if err != nil {
			settle(false, err)
			return
		}
		r.c.ingestOther(o, settle)
		return
	}
	rec, raw, err := DecodeHubMessage(m.Subject(), m.Headers(), m.Data(), object)
	if err != nil {
		settle(false, err)
		return
	}
	// the email's time: the session's, else its sensor's (HdrTime),
	// else now; the hour counted is the one stored
	sensor, at = rec.Sensor, rec.Session.Time
	if at.IsZero() {
		if at = hubTime(m.Headers()); at.IsZero() {
			at = time.Now().UTC()
		}
	}
	r.c.ingestRecordAt(rec, raw, at, settle)
}

// settle acks a stored message, terminates one that can never be
// stored, and naks one that failed for now (delivered again later).
func (r *hubRunner) settle(m jetstream.Msg, name string, err error) {
	var bad *BadMessageError
	switch {
	case errors.As(err, &bad):
		r.c.fail("hub: message "+name, err)
		_ = m.Term()
		return
	case err != nil:
		r.c.fail("hub: storing message "+name, err)
		_ = m.NakWithDelay(5 * time.Second)
		return
	}
	actx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.DoubleAck(actx); err != nil {
		// stored: the redelivery is recognised by its global id
		r.cfg.Log.Warn("hub: ack not confirmed; the message will be delivered again and found stored", "message", name, "err", err)
	}
}

// BadMessageError is a message the hub can never store: not an
// smtpscope email, or its parts do not agree.
type BadMessageError struct{ What string }

func (e *BadMessageError) Error() string { return e.What }

func bad(format string, a ...any) error { return &BadMessageError{What: fmt.Sprintf(format, a...)} }

// DecodeHubMessage reads a message's record and raw bytes (through
// object, from the Object Store, when the headers say so) and checks
// that they agree with the headers and the subject. An error that is a
// *BadMessageError will not change by trying again.
func DecodeHubMessage(subject string, h nats.Header, data []byte, object func(name string, limit int64) ([]byte, error)) (*core.Email, []byte, error) {
	if f := h.Get(HdrFormat); f != NATSFormat {
		return nil, nil, bad("%s %q: not a format this hub reads (%s)", HdrFormat, f, NATSFormat)
	}
	if k := h.Get(HdrKind); k != "email" {
		return nil, nil, bad("%s %q: the hub stores emails only", HdrKind, k)
	}
	sensor := h.Get(HdrSensor)
	if err := core.ValidSensor(sensor); err != nil {
		return nil, nil, bad("%s: %v", HdrSensor, err)
	}
	if subject != NATSSubjectPrefix+sensor {
		return nil, nil, bad("subject %s does not match %s %q", subject, HdrSensor, sensor)
	}
	size, err := strconv.ParseInt(h.Get(HdrSize), 10, 64)
	if err != nil || size < 0 || size > maxRawEmail {
		return nil, nil, bad("%s %q: want a size up to %d bytes", HdrSize, h.Get(HdrSize), maxRawEmail)
	}
	var env NATSEnvelope
	if err := json.Unmarshal(data, &env); err != nil {
		return nil, nil, bad("body: not an smtpscope envelope: %v", err)
	}
	sum := h.Get(HdrSHA256)
	raw := env.Raw
	switch h.Get(HdrRaw) {
	case RawInline:
	case RawObject:
		if raw, err = object(sum, size); err != nil {
			return nil, nil, err
		}
	default:
		return nil, nil, bad("%s %q: want %s or %s", HdrRaw, h.Get(HdrRaw), RawInline, RawObject)
	}
	recJSON := []byte(env.Record)
	switch h.Get(HdrRecord) {
	case RawInline:
	case RawObject:
		if recJSON, err = object(env.RecordObject, maxRawEmail); err != nil {
			return nil, nil, err
		}
	default:
		return nil, nil, bad("%s %q: want %s or %s", HdrRecord, h.Get(HdrRecord), RawInline, RawObject)
	}
	if int64(len(raw)) != size {
		return nil, nil, bad("raw message of %d bytes, %s says %d", len(raw), HdrSize, size)
	}
	got := sha256.Sum256(raw)
	if hex.EncodeToString(got[:]) != sum {
		return nil, nil, bad("raw message sha256 %x, %s says %s", got, HdrSHA256, sum)
	}
	var rec core.Email
	if err := json.Unmarshal(recJSON, &rec); err != nil {
		return nil, nil, bad("record: %v", err)
	}
	if rec.ID == "" || rec.ID != h.Get(HdrID) || strings.Contains(rec.ID, "/") {
		return nil, nil, bad("record id %q: want %s %q (without '/')", rec.ID, HdrID, h.Get(HdrID))
	}
	if rec.SHA256 != sum {
		return nil, nil, bad("record sha256 %s, %s says %s", rec.SHA256, HdrSHA256, sum)
	}
	if rec.Sensor == "" {
		rec.Sensor = sensor // stored before sensor names: published under the sensor's current name
	}
	if rec.Sensor != sensor {
		return nil, nil, bad("record of sensor %q published as %s %q", rec.Sensor, HdrSensor, sensor)
	}
	return &rec, raw, nil
}

// object reads an object of NATSRawBucket, at most limit bytes. Every
// failure is retried, a missing object too: the sensor put it before it
// published the email, and in a cluster a replica that has not caught up
// yet (a server just restarted) answers reads of the bucket "not found"
// for a while (the bucket's reads go to any replica).
func (r *hubRunner) object(ctx context.Context, name string, limit int64) ([]byte, error) {
	if name == "" {
		return nil, bad("object name missing")
	}
	mctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	obs, err := r.js.ObjectStore(mctx, NATSRawBucket)
	if err != nil {
		return nil, fmt.Errorf("object store %s: %w", NATSRawBucket, err)
	}
	info, err := obs.GetInfo(mctx, name)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return nil, fmt.Errorf("object %s not in %s (yet)", name, NATSRawBucket)
	}
	if err != nil {
		return nil, fmt.Errorf("object store %s: %s: %w", NATSRawBucket, name, err)
	}
	// chunks missing (a put that failed half-way, one being replaced):
	// tried again later rather than waited for
	if have, whole, err := objectComplete(mctx, r.js, info); err != nil {
		return nil, fmt.Errorf("object store %s: %s: %w", NATSRawBucket, name, err)
	} else if !whole {
		return nil, fmt.Errorf("object store %s: %s has %d of its %d chunks", NATSRawBucket, name, have, info.Chunks)
	}
	return readObject(ctx, obs, name, limit)
}

// hubObjectStall: a read of an object that gets no byte for this long
// is given up (and the message tried again): a chunk that will not come
// (the object replaced while it is read, the server of the reading
// consumer gone) must not hold the hub's batch until the read's
// deadline, hubObjectDeadline.
var hubObjectStall = 30 * time.Second

const hubObjectDeadline = 2 * time.Minute

// readObject reads an object whole, at most limit bytes, giving up when
// hubObjectStall passes without a byte. (A blocked read of nats.go's
// object result cannot be interrupted: a read given up goes on in its
// goroutine until the deadline, then its result is dropped.)
func readObject(ctx context.Context, obs jetstream.ObjectStore, name string, limit int64) ([]byte, error) {
	octx, cancel := context.WithTimeout(ctx, hubObjectDeadline)
	res, err := obs.Get(octx, name)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("object store %s: %s: %w", NATSRawBucket, name, err)
	}
	type result struct {
		b   []byte
		err error
	}
	done := make(chan result, 1)
	progress := make(chan struct{}, 1)
	go func() {
		defer cancel()
		defer res.Close()
		b, err := io.ReadAll(io.LimitReader(progressReader{res, func() {
			select {
			case progress <- struct{}{}:
			default:
			}
		}}, limit+1))
		done <- result{b, err}
	}()
	stall := time.NewTimer(hubObjectStall)
	defer stall.Stop()
	for {
		select {
		case <-progress:
			stall.Reset(hubObjectStall)
		case <-stall.C:
			return nil, fmt.Errorf("object store %s: %s: no data for %v", NATSRawBucket, name, hubObjectStall)
		case r := <-done:
			if r.err != nil {
				return nil, fmt.Errorf("object store %s: %s: %w", NATSRawBucket, name, r.err)
			}
			if int64(len(r.b)) > limit {
				return nil, bad("object %s is larger than %d bytes", name, limit)
			}
			return r.b, nil
		}
	}
}

// progressReader calls progress after every read that returned bytes.
type progressReader struct {
	r        io.Reader
	progress func()
}

func (p progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 {
		p.progress()
	}
	return n, err
}

// IngestRecord stores an email another smtpscope (a sensor) analysed:
// its record as it is (no analysis again; rec.Sensor kept) under the
// global id core.GlobalID(rec.Sensor, rec.ID), and its exact bytes,
// through the group commit, with the same side effects (index, events)
// as the collector's own emails. Nothing is queued to the groups (the
// sensor delivered it; `submit` queues it here). known: the same email
// (global id and sha256) was stored already: nothing is written. Other
// bytes under a global id already taken are stored beside it as
// <sensor>/<id>+<first 12 hex digits of their sha256>. When it returns
// nil the email is committed.
func (c *Collector) IngestRecord(rec *core.Email, raw []byte) (known bool, err error) {
	type result struct {
		known bool
		err   error
	}
	ch := make(chan result, 1)
	c.ingestRecordAt(rec, raw, time.Time{}, func(known bool, err error) { ch <- result{known, err} })
	r := <-ch
	return r.known, r.err
}

// ingestRecordAt is IngestRecord without waiting for the commit: it
// returns once the email is handed to the committer (or refused, or
// found stored), and done is called with the outcome (on the
// committer's goroutine: it must not block). at is the email's time
// when its record has no session time (a raw email: its time on the
// sensor); zero: now.
func (c *Collector) ingestRecordAt(rec *core.Email, raw []byte, at time.Time, done func(known bool, err error)) {
	if err := core.ValidSensor(rec.Sensor); err != nil {
		done(false, bad("%v", err))
		return
	}
	if rec.ID == "" || strings.Contains(rec.ID, "/") {
		done(false, bad("email id %q: want a sensor's id (without '/')", rec.ID))
		return
	}
	if len(raw) > maxRawEmail {
		done(false, bad("email of %d bytes is larger than the %d byte limit", len(raw), maxRawEmail))
		return
	}
	sum := sha256.Sum256(raw)
	if hex.EncodeToString(sum[:]) != rec.SHA256 {
		done(false, bad("raw bytes' sha256 %x is not the record's %s", sum, rec.SHA256))
		return
	}
	r := *rec
	r.ID = core.GlobalID(rec.Sensor, rec.ID)
	em, err := c.store.Email(r.ID)
	if err == nil && em.SHA256 != r.SHA256 {
		// the id is taken by other bytes (a sensor whose data dir was
		// started afresh): this one is kept beside it, never over it
		r.ID += "+" + r.SHA256[:12]
		em, err = c.store.Email(r.ID)
	}
	if err == nil && em.SHA256 == r.SHA256 {
		c.store.addMetaCount("dup_emails", 1)
		done(true, nil)
		return
	}
	now := time.Now().UTC()
	s := c.store
	safe := fileName(r.ID)
	day := dayDir(now)
	emlRel := EmailsDir + "/" + day + "/" + safe + ".eml"
	resRel := ResultsDir + "/" + day + "/" + safe + ".json"
	if err := s.fw.write(s.Path(emlRel), raw, time.Time{}); err != nil {
		done(false, err)
		return
	}
	var js byteCounter
	if err := s.fw.writeWith(s.Path(resRel), recordWriter(&r, &js), time.Time{}); err != nil {
		done(false, err)
		return
	}
	em = emailMeta(&r, "", emlRel, resRel, now)
	if r.Session.Time.IsZero() && !at.IsZero() {
		em.Time = at
	}
	em.Size, em.Bytes = int64(len(raw)), int64(len(raw))+int64(js)
	ing := &ingested{emails: []*EmailMeta{em}, records: []*core.Email{&r}, queued: map[string][]string{}}
	id := em.ID
	job := &commitJob{size: em.Bytes, tx: func(tx *bolt.Tx) error { return c.commitTx(tx, ing, nil, nil, now) },
		done: func(err error, _ *afterGroup) {
			if err == nil {
				c.afterCommit(ing)
			}
			done(err == nil && ing.known[id], err)
		}}
	c.commits.submit(job)
}
