package collector

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	bolt "go.etcd.io/bbolt"

	"github.com/smtpscope/smtpscope/collector/ace"
	"github.com/smtpscope/smtpscope/core"
)

// Sessions without email and review entries travel to the hub too: a
// NATS group's queue holds, beside email ids, "session/<key>" (a session
// stored without email) and "review/<name>" (a review/ entry), with the
// same states, backoff and crash guarantees. They are published to
// smtpscope.session.<sensor> and smtpscope.review.<sensor> (kind
// "session", "review"): the record is the SessionMeta or ReviewEntry
// JSON, the raw bytes the session file or the review/ file (inline, or
// in the Object Store when large; a review/ file larger than the email
// limit travels without its bytes, Smtpscope-Raw: none). The hub stores
// them under global names (IngestSession, IngestReview). Email ids never
// contain '/', so the prefixes cannot be taken for one.
const (
	QueueSessionPrefix = "session/"
	QueueReviewPrefix  = "review/"

	NATSSessionPrefix = "smtpscope.session." // + sensor
	NATSReviewPrefix  = "smtpscope.review."  // + sensor

	KindSession = "session"
	KindReview  = "review"
	RawNone     = "none" // HdrRaw of a review entry whose bytes do not travel
)

// IsQueuedRecord reports whether a queue id names a session or review
// entry rather than an email.
func IsQueuedRecord(id string) bool {
	return strings.HasPrefix(id, QueueSessionPrefix) || strings.HasPrefix(id, QueueReviewPrefix)
}

// queueToNATS queues a session or review entry to every enabled NATS
// group that covers it (ACE groups take emails only).
func queueToNATS(tx *bolt.Tx, id string, groups []GroupConfig, now time.Time) error {
	for _, g := range groups {
		if g.Kind != KindNATS || !g.IsEnabled() || !covers(g.Name, g.Coverage, id) {
			continue
		}
		if old, _ := getSub(tx, id, g.Name); old != nil {
			continue
		}
		st := &SubmissionStatus{EmailID: id, Group: g.Name, State: StateQueued, Queued: now, Updated: now, NextAttempt: now}
		if err := setSub(tx, nil, st); err != nil {
			return err
		}
	}
	return nil
}

// reviewEntry reads one review entry's record.
func (s *Store) reviewEntry(name string) (*ReviewEntry, error) {
	var e ReviewEntry
	var ok bool
	err := s.view(func(tx *bolt.Tx) (err error) {
		ok, err = getJSON(bucket(tx, bReview), []byte(name), &e)
		return err
	})
	if err == nil && !ok {
		err = fmt.Errorf("review entry %q: %w", name, ErrNotFound)
	}
	return &e, err
}

// otherMessage builds the message of a queued session or review entry.
func (d *natsDelivery) otherMessage(nc *nats.Conn, js jetstream.JetStream, id string) (*nats.Msg, error) {
	s := d.c.store
	sensor := d.c.cfg().Sensor
	gone := func(err error) error {
		return &ace.Error{Message: "reading " + id + ": " + err.Error(), Permanent: errors.Is(err, ErrNotFound) || errors.Is(err, os.ErrNotExist)}
	}
	var kind, name, path, subject string
	var record any
	var size int64
	if key, ok := strings.CutPrefix(id, QueueSessionPrefix); ok {
		m, err := s.Session(key)
		if err != nil {
			return nil, gone(err)
		}
		sensor = firstOf(m.Sensor, sensor)
		kind, name, path, subject, record, size = KindSession, key, s.Path(m.File), NATSSessionPrefix+sensor, m, m.Size
	} else {
		rname := strings.TrimPrefix(id, QueueReviewPrefix)
		e, err := s.reviewEntry(rname)
		if err != nil {
			return nil, gone(err)
		}
		sensor = firstOf(e.Sensor, sensor)
		kind, name, path, subject, record, size = KindReview, rname, s.Path(ReviewDir+"/"+rname), NATSReviewPrefix+sensor, e, e.Size
		if fi, err := os.Lstat(path); rname != filepath.Base(rname) || err != nil || !fi.Mode().IsRegular() {
			path = "" // not a regular file (an entry moved whole: a symlink, a fifo) or gone: the entry travels without it
		} else {
			size = fi.Size()
		}
	}
	msg := nats.NewMsg(subject)
	h := msg.Header
	h.Set(HdrFormat, NATSFormat)
	h.Set(HdrKind, kind)
	h.Set(HdrSensor, sensor)
	h.Set(HdrID, name)
	h.Set(HdrRecord, RawInline)
	env := NATSEnvelope{}
	var err error
	if env.Record, err = json.Marshal(record); err != nil {
		return nil, &ace.Error{Message: "encoding record: " + err.Error(), Permanent: true}
	}
	fits := func(n int) bool { return int64(n+natsMargin) <= nc.MaxPayload() }
	var raw []byte
	if path != "" && size <= maxRawEmail {
		if raw, err = readNoFollow(path, maxRawEmail); err != nil {
			return nil, gone(err)
		}
	}
	if raw == nil && kind == KindSession {
		raw = []byte{} // an empty file
	}
	if kind == KindReview {
		if m, ok := record.(*ReviewEntry); ok {
			e := *m
			e.Size = size // the bytes that travel (or would)
			record = &e
		}
	}
	switch {
	case raw == nil: // a review/ file too large (or not ours) to travel
		h.Set(HdrRaw, RawNone)
		h.Set(HdrSize, strconv.FormatInt(size, 10))
		h.Set(jetstream.MsgIDHeader, core.GlobalID(sensor, kind+"/"+name))
	default:
		sum := sha256.Sum256(raw)
		sha := hex.EncodeToString(sum[:])
		h.Set(HdrSHA256, sha)
		h.Set(HdrSize, strconv.Itoa(len(raw)))
		h.Set(jetstream.MsgIDHeader, core.GlobalID(sensor, kind+"/"+name)+"/"+sha)
		if fits(len(env.Record) + base64.StdEncoding.EncodedLen(len(raw))) {
			h.Set(HdrRaw, RawInline)
			env.Raw = raw
		} else {
			if err := d.putObject(nc, js, sha, "", raw); err != nil {
				return nil, err
			}
			h.Set(HdrRaw, RawObject)
		}
	}
	if !fits(len(env.Record)) {
		return nil, &ace.Error{Message: fmt.Sprintf("%s: its record of %d bytes is larger than the server's max payload", id, len(env.Record)), Permanent: true}
	}
	if msg.Data, err = json.Marshal(env); err != nil {
		return nil, &ace.Error{Message: "encoding: " + err.Error(), Permanent: true}
	}
	return msg, nil
}

// HubOther is a session or review entry a hub message carries.
type HubOther struct {
	Kind    string // KindSession or KindReview
	Sensor  string
	Session *SessionMeta // the sensor's, for KindSession
	Review  *ReviewEntry // the sensor's, for KindReview
	Raw     []byte       // the file's bytes; nil: a review entry whose bytes did not travel
}

// DecodeHubOther reads a session or review message (kind in the
// headers) and checks that its parts agree, as DecodeHubMessage does
// for emails. An error that is a *BadMessageError will not change by
// trying again.
func DecodeHubOther(subject string, h nats.Header, data []byte, object func(name string, limit int64) ([]byte, error)) (*HubOther, error) {
	if f := h.Get(HdrFormat); f != NATSFormat {
		return nil, bad("%s %q: not a format this hub reads (%s)", HdrFormat, f, NATSFormat)
	}
	o := &HubOther{Kind: h.Get(HdrKind), Sensor: h.Get(HdrSensor)}
	prefix := map[string]string{KindSession: NATSSessionPrefix, KindReview: NATSReviewPrefix}[o.Kind]
	if prefix == "" {
		return nil, bad("%s %q: want %s or %s", HdrKind, o.Kind, KindSession, KindReview)
	}
	if err := core.ValidSensor(o.Sensor); err != nil {
		return nil, bad("%s: %v", HdrSensor, err)
	}
	if subject != prefix+o.Sensor {
		return nil, bad("subject %s does not match %s %q", subject, HdrSensor, o.Sensor)
	}
	size, err := strconv.ParseInt(h.Get(HdrSize), 10, 64)
	if err != nil || size < 0 {
		return nil, bad("%s %q: want a size in bytes", HdrSize, h.Get(HdrSize))
	}
	var env NATSEnvelope
	if err := json.Unmarshal(data, &env); err != nil {
		return nil, bad("body: not an smtpscope envelope: %v", err)
	}
	if h.Get(HdrRecord) != RawInline {
		return nil, bad("%s %q: want %s", HdrRecord, h.Get(HdrRecord), RawInline)
	}
	sum := h.Get(HdrSHA256)
	switch h.Get(HdrRaw) {
	case RawInline:
		o.Raw = env.Raw
		if o.Raw == nil {
			o.Raw = []byte{}
		}
	case RawObject:
		if size > maxRawEmail {
			return nil, bad("%s %d: larger than the %d byte limit", HdrSize, size, maxRawEmail)
		}
		if o.Raw, err = object(sum, size); err != nil {
			return nil, err
		}
	case RawNone:
		if o.Kind != KindReview {
			return nil, bad("%s %s: only a review entry travels without its bytes", HdrRaw, RawNone)
		}
	default:
		return nil, bad("%s %q: want %s, %s or %s", HdrRaw, h.Get(HdrRaw), RawInline, RawObject, RawNone)
	}
	if o.Raw != nil {
		if int64(len(o.Raw)) != size || size > maxRawEmail {
			return nil, bad("raw bytes of %d, %s says %d (limit %d)", len(o.Raw), HdrSize, size, maxRawEmail)
		}
		if got := sha256.Sum256(o.Raw); hex.EncodeToString(got[:]) != sum {
			return nil, bad("raw sha256 %x, %s says %s", got, HdrSHA256, sum)
		}
	}
	id := h.Get(HdrID)
	if id == "" || id == "." || id == ".." || strings.ContainsAny(id, "/\x00") || len(id) > 4*maxFileName || !utf8.ValidString(id) {
		return nil, bad("%s %q: want a name of the sensor's store", HdrID, id)
	}
	switch o.Kind {
	case KindSession:
		var m SessionMeta
		if err := json.Unmarshal(env.Record, &m); err != nil {
			return nil, bad("record: %v", err)
		}
		if m.Key != id || m.SHA256 != sum || m.Size != size || len(m.Emails) != 0 || strings.ContainsAny(m.UID, "\x00") {
			return nil, bad("session record (key %q, sha256 %s, %d bytes, %d emails) does not agree with the headers (%q, %s, %d bytes) or has emails",
				m.Key, m.SHA256, m.Size, len(m.Emails), id, sum, size)
		}
		if m.Sensor == "" {
			m.Sensor = o.Sensor
		}
		if m.Sensor != o.Sensor {
			return nil, bad("session of sensor %q published as %s %q", m.Sensor, HdrSensor, o.Sensor)
		}
		o.Session = &m
	case KindReview:
		var e ReviewEntry
		if err := json.Unmarshal(env.Record, &e); err != nil {
			return nil, bad("record: %v", err)
		}
		if e.Name != id || e.Size != size {
			return nil, bad("review record (name %q, %d bytes) does not agree with the headers (%q, %d bytes)", e.Name, e.Size, id, size)
		}
		if e.Sensor == "" {
			e.Sensor = o.Sensor
		}
		if e.Sensor != o.Sensor {
			return nil, bad("review entry of sensor %q published as %s %q", e.Sensor, HdrSensor, o.Sensor)
		}
		o.Review = &e
	}
	return o, nil
}

// ingestOther stores a session without email or a review entry a sensor
// published, under its global name (<sensor>/<key> for a session, and
// <sensor>/<uid> as its uid; fileName(<sensor>/<name>) for a review
// entry), through the group commit; done as for ingestRecordAt. The
// same name with the same bytes is known (a redelivery); a session key
// taken by other bytes gets "+<sha256 prefix>".
func (c *Collector) ingestOther(o *HubOther, done func(known bool, err error)) {
	s := c.store
	now := time.Now().UTC()
	switch o.Kind {
	case KindSession:
		m := *o.Session
		m.Key, m.UID, m.Sensor, m.Emails = core.GlobalID(o.Sensor, m.Key), core.GlobalID(o.Sensor, m.UID), o.Sensor, nil
		if old, err := s.Session(m.Key); err == nil && old.SHA256 != m.SHA256 {
			m.Key += "+" + m.SHA256[:12]
			m.UID += "+" + m.SHA256[:12]
		}
		if old, err := s.Session(m.Key); err == nil && old.SHA256 == m.SHA256 {
			done(true, nil)
			return
		}
		rel := SessionsDir + "/" + dayDir(now) + "/" + fileName(m.Key)
		if err := s.fw.write(s.Path(rel), o.Raw, time.Time{}); err != nil {
			done(false, err)
			return
		}
		m.File, m.Stored, m.Bytes = rel, now, int64(len(o.Raw))
		ing := &ingested{session: &m, queued: map[string][]string{}}
		c.commits.submit(&commitJob{size: m.Bytes, tx: func(tx *bolt.Tx) error { return c.commitTx(tx, ing, nil, nil, now) },
			done: func(err error, _ *afterGroup) {
				if err == nil {
					c.afterCommit(ing)
				}
				done(false, err)
			}})
	case KindReview:
		e := *o.Review
		e.Name, e.Sensor = fileName(core.GlobalID(o.Sensor, e.Name)), o.Sensor
		if _, err := s.reviewEntry(e.Name); err == nil {
			done(true, nil)
			return
		}
		dir := s.Path(ReviewDir)
		if o.Raw != nil {
			if err := s.fw.write(dir+"/"+e.Name, o.Raw, time.Time{}); err != nil {
				done(false, err)
				return
			}
		}
		if err := s.fw.write(dir+"/"+e.Name+errorSuffix, []byte(e.Reason+"\n"), time.Time{}); err != nil {
			done(false, err)
			return
		}
		ing := &ingested{review: &e}
		c.commits.submit(&commitJob{size: e.Size, tx: func(tx *bolt.Tx) error {
			if err := putJSON(tx.Bucket(bReview), []byte(e.Name), &e); err != nil {
				return err
			}
			if err := markUnindexed(tx, IndexKey{IndexReview, e.Name}, ""); err != nil {
				return err
			}
			return addMeta(tx, "reviewed", 1)
		}, done: func(err error, _ *afterGroup) {
			if err == nil && c.indexer != nil {
				if ierr := c.indexer.IndexReview(ing.review); ierr != nil {
					c.fail("indexing review entry "+e.Name, ierr)
				}
			}
			if err == nil {
				c.hub.publish(Event{Type: EventReview, Review: ing.review})
			}
			done(false, err)
		}})
	default:
		done(false, bad("kind %q", o.Kind))
	}
}
