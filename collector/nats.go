package collector

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/smtpscope/smtpscope/collector/ace"
	"github.com/smtpscope/smtpscope/core"
)

// Group kinds.
const (
	KindACE  = "ace"
	KindNATS = "nats"
)

// NATS message format (README "NATS JetStream delivery"): version 1.
const (
	NATSSubjectPrefix = "smtpscope.email." // + sensor
	NATSRawBucket     = "smtpscope-raw"    // Object Store bucket of raw messages too large to travel inline
	NATSFormat        = "1"

	HdrFormat  = "Smtpscope-Format"
	HdrKind    = "Smtpscope-Kind" // "email"
	HdrSensor  = "Smtpscope-Sensor"
	HdrID      = "Smtpscope-Id"     // the email id on its sensor
	HdrSHA256  = "Smtpscope-Sha256" // of the raw message
	HdrSize    = "Smtpscope-Size"   // raw message bytes
	HdrRaw     = "Smtpscope-Raw"    // "inline" (body's raw) or "object" (NATSRawBucket, named by the sha256)
	HdrRecord  = "Smtpscope-Record" // "inline" (body's record) or "object" (NATSRawBucket, named by body's record_object)
	RawInline  = "inline"
	RawObject  = "object"
	natsMargin = 4096 // bytes of a message's max payload kept for headers and JSON framing
)

// NATSEnvelope is the JSON body of an email message: the record (the
// core.Email JSON) and the raw message (base64, byte-exact), each
// inline or, when too large for the server's max payload, in the Object
// Store bucket NATSRawBucket (headers HdrRaw, HdrRecord say which).
type NATSEnvelope struct {
	Record       json.RawMessage `json:"record,omitempty"`
	RecordObject string          `json:"record_object,omitempty"` // object name when the record is in the Object Store
	Raw          []byte          `json:"raw,omitempty"`           // absent when in the Object Store (named by HdrSHA256)
}

// NATSMsgID is the Nats-Msg-Id of an email: stable for the same email
// on the same sensor, so a re-publish after a crash is de-duplicated by
// JetStream within the stream's duplicate window.
func NATSMsgID(sensor, id, sha256 string) string {
	return core.GlobalID(sensor, id) + "/" + sha256
}

// natsDelivery publishes a group's emails to NATS JetStream and counts
// one sent on its PubAck (a duplicate's too).
type natsDelivery struct {
	c    *Collector
	cfg  GroupConfig
	sub  SubmissionConfig
	wake func()
	opts []nats.Option

	mu        sync.Mutex
	closed    bool // close was called: a connection made later is closed at once
	nc        *nats.Conn
	js        jetstream.JetStream
	lastErr   string
	lastCheck time.Time
	failures  int

	rec reconciler // reconcile.go
}

func newNATSDelivery(c *Collector, g GroupConfig, sub SubmissionConfig, wake func()) (*natsDelivery, error) {
	d := &natsDelivery{c: c, cfg: g, sub: sub, wake: wake}
	opts, err := d.options()
	if err != nil {
		return nil, fmt.Errorf("group %q: %w", g.Name, err)
	}
	d.opts = opts
	return d, nil
}

// options are the connection options: reconnect forever, TLS,
// credentials file or NKey seed, and the handlers that keep the status.
func (d *natsDelivery) options() ([]nats.Option, error) {
	g := d.cfg
	o := []nats.Option{nats.Name("smtpscope " + d.c.cfg().Sensor), nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1), nats.ReconnectWait(time.Second), nats.Timeout(min(d.sub.Timeout.D(), 10*time.Second)),
		nats.ConnectHandler(d.up), nats.ReconnectHandler(d.up),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) { d.down(err) }),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { d.down(err) })}
	auth, err := NATSAuth{CAFile: firstOf(g.CAFile, d.sub.CAFile), CertFile: g.CertFile, KeyFile: g.KeyFile,
		CredsFile: g.CredsFile, NKeyFile: g.NKeyFile}.Options()
	if err != nil {
		return nil, err
	}
	return append(o, auth...), nil
}

func firstOf(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func (d *natsDelivery) up(nc *nats.Conn) {
	d.mu.Lock()
	d.lastErr, d.lastCheck, d.failures = "", time.Now().UTC(), 0
	d.mu.Unlock()
	d.c.log.Info("nats connected", "group", d.cfg.Name, "server", nc.ConnectedUrlRedacted())
	d.wake()
}

func (d *natsDelivery) down(err error) {
	if err == nil {
		return
	}
	d.mu.Lock()
	first := d.lastErr == ""
	d.lastErr, d.lastCheck = err.Error(), time.Now().UTC()
	d.failures++
	d.mu.Unlock()
	if first {
		d.c.fail("nats group "+d.cfg.Name, err)
	}
}

// monitor connects (the client then reconnects by itself, forever) and
// keeps the connection until ctx ends; close ends it once the runner's
// attempts in flight are done.
func (d *natsDelivery) monitor(ctx context.Context) {
	nc, err := nats.Connect(strings.Join(d.cfg.Nodes, ","), d.opts...)
	if err != nil {
		d.down(err)
		return
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		d.down(err)
		return
	}
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		nc.Close()
		return
	}
	d.nc, d.js = nc, js
	d.mu.Unlock()
	if !nc.IsConnected() {
		d.down(fmt.Errorf("connecting to %s: %w", d.serverNames(), nats.ErrNoServers))
	}
	if d.cfg.Reconciles() {
		go d.reconcileLoop(ctx)
	}
	<-ctx.Done()
}

// close ends the connection once no attempt is in flight.
func (d *natsDelivery) close() {
	d.mu.Lock()
	nc := d.nc
	d.nc, d.js, d.closed = nil, nil, true
	d.mu.Unlock()
	if nc != nil {
		nc.Close()
	}
}

func (d *natsDelivery) conn() (*nats.Conn, jetstream.JetStream) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.nc, d.js
}

func (d *natsDelivery) ready() bool {
	nc, _ := d.conn()
	return nc != nil && nc.IsConnected()
}

// deliver publishes one email; sent only on its PubAck.
func (d *natsDelivery) deliver(id string) (delivery, error) {
	nc, js := d.conn()
	if nc == nil || !nc.IsConnected() {
		return delivery{skipped: true}, nil
	}
	server := nc.ConnectedUrlRedacted()
	msg, err := d.message(nc, js, id)
	if err != nil {
		return delivery{endpoint: server}, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), d.sub.Timeout.D())
	defer cancel()
	ack, err := js.PublishMsg(ctx, msg, jetstream.WithMsgID(msg.Header.Get(jetstream.MsgIDHeader)))
	if err != nil {
		return delivery{endpoint: server}, fmt.Errorf("publish %s: %w", msg.Subject, err)
	}
	receipt := ack.Stream + "/" + strconv.FormatUint(ack.Sequence, 10)
	if ack.Duplicate {
		receipt += " (duplicate)"
	}
	return delivery{receipt: receipt, endpoint: server}, nil
}

// message builds the JetStream message of a stored email: metadata in
// headers, the envelope JSON as body. The raw bytes travel inline when
// the message fits the server's max payload, else in the Object Store
// (named by their sha256); a record too large on its own goes there too
// (named "record/" + the msg id).
func (d *natsDelivery) message(nc *nats.Conn, js jetstream.JetStream, id string) (*nats.Msg, error) {
	if IsQueuedRecord(id) {
		return d.otherMessage(nc, js, id) // natsother.go
	}
	s := d.c.store
	rec, m, err := s.deliverable(id)
	if err != nil {
		return nil, err
	}
	sensor := firstOf(rec.Sensor, d.c.cfg().Sensor)
	msg := nats.NewMsg(NATSSubjectPrefix + sensor)
	h := msg.Header
	msgID := NATSMsgID(sensor, rec.ID, rec.SHA256)
	for k, v := range map[string]string{jetstream.MsgIDHeader: msgID, HdrFormat: NATSFormat, HdrKind: "email", HdrSensor: sensor,
		HdrID: rec.ID, HdrSHA256: rec.SHA256, HdrSize: strconv.FormatInt(m.Size, 10), HdrRaw: RawInline, HdrRecord: RawInline,
		HdrTime: m.Time.UTC().Format(time.RFC3339Nano)} {
		h.Set(k, v)
	}
	env := NATSEnvelope{}
	if env.Record, err = json.Marshal(rec); err != nil {
		return nil, &ace.Error{Message: "encoding record: " + err.Error(), Permanent: true}
	}
	fits := func(n int) bool { return int64(n+natsMargin) <= nc.MaxPayload() }
	if fits(len(env.Record) + base64.StdEncoding.EncodedLen(int(m.Size))) {
		if env.Raw, err = os.ReadFile(s.Path(m.EML)); err != nil {
			return nil, &ace.Error{Message: "reading email: " + err.Error(), Permanent: errors.Is(err, os.ErrNotExist)}
		}
	} else {
		if err := d.putObject(nc, js, rec.SHA256, s.Path(m.EML), nil); err != nil {
			return nil, err
		}
		h.Set(HdrRaw, RawObject)
	}
	if !fits(len(env.Record)) {
		name := "record/" + msgID
		if err := d.putObject(nc, js, name, "", env.Record); err != nil {
			return nil, err
		}
		env.Record, env.RecordObject = nil, name
		h.Set(HdrRecord, RawObject)
	}
	if msg.Data, err = json.Marshal(env); err != nil {
		return nil, &ace.Error{Message: "encoding: " + err.Error(), Permanent: true}
	}
	return msg, nil
}

// putObject stores a file (path) or bytes (data) in NATSRawBucket under
// name, creating the bucket (file storage, StreamReplicas of the cluster
// size: an object of an R1 bucket is gone while its one server is) when
// missing. A raw message (named by its sha256: content-addressed)
// already there whole is not put again; one whose chunks are not all
// there (objectComplete) is put again, which replaces it.
func (d *natsDelivery) putObject(nc *nats.Conn, js jetstream.JetStream, name, path string, data []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), 4*d.sub.Timeout.D())
	defer cancel()
	obs, err := js.ObjectStore(ctx, NATSRawBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		obs, err = js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: NATSRawBucket, Storage: jetstream.FileStorage,
			Replicas: StreamReplicas(clusterSize(nc))})
	}
	if err != nil {
		return fmt.Errorf("object store %s: %w", NATSRawBucket, err)
	}
	r := io.Reader(bytes.NewReader(data))
	if path != "" {
		if info, err := obs.GetInfo(ctx, name); err == nil && !info.Deleted {
			if _, whole, err := objectComplete(ctx, js, info); err == nil && whole {
				return nil // already there (an earlier attempt, another email with the same bytes)
			}
		}
		f, err := os.Open(path)
		if err != nil {
			return &ace.Error{Message: "reading email: " + err.Error(), Permanent: errors.Is(err, os.ErrNotExist)}
		}
		defer f.Close()
		r = f
	}
	// chunks fit the server's max payload (the client's default is 128 KiB)
	chunk := uint32(min(128<<10, max(nc.MaxPayload()-natsMargin, 1024)))
	meta := jetstream.ObjectMeta{Name: name, Opts: &jetstream.ObjectMetaOptions{ChunkSize: chunk}}
	if _, err := obs.Put(ctx, meta, r); err != nil {
		return fmt.Errorf("object store %s: put %s: %w", NATSRawBucket, name, err)
	}
	return nil
}

// objectComplete counts the chunks of an object in the bucket's stream
// against those its meta names. A Put whose acknowledgements failed (a
// server died, a timeout) purges the chunks it wrote, but its meta may
// have been stored already: that object names chunks that are not
// there, and a reader would wait for them until its deadline.
func objectComplete(ctx context.Context, js jetstream.JetStream, info *jetstream.ObjectInfo) (have uint64, whole bool, err error) {
	if info.Chunks == 0 {
		return 0, true, nil
	}
	s, err := js.Stream(ctx, "OBJ_"+NATSRawBucket)
	if err != nil {
		return 0, false, err
	}
	subj := "$O." + NATSRawBucket + ".C." + info.NUID
	si, err := s.Info(ctx, jetstream.WithSubjectFilter(subj))
	if err != nil {
		return 0, false, err
	}
	have = si.State.Subjects[subj]
	return have, have == uint64(info.Chunks), nil
}

func (d *natsDelivery) permanent(err error) bool           { return ace.IsPermanent(err) }
func (d *natsDelivery) retryAfter(err error) time.Duration { return 0 }

// refused: the server answered (no stream for the subject, a JetStream
// API error) rather than the connection failing.
func (d *natsDelivery) refused(err error) bool {
	var apiErr *jetstream.APIError
	return errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrNoStreamResponse) || errors.As(err, &apiErr)
}

func (d *natsDelivery) serverNames() string {
	names := make([]string, len(d.cfg.Nodes))
	for i, u := range d.cfg.Nodes {
		names[i] = ace.RedactURL(u)
	}
	return strings.Join(names, ",")
}

// status is one entry: the connected server (else the configured ones),
// connected or not, the last connection error.
func (d *natsDelivery) status() []NodeStatus {
	nc, _ := d.conn()
	st := NodeStatus{URL: d.serverNames()}
	if nc != nil && nc.IsConnected() {
		st.URL, st.Healthy = nc.ConnectedUrlRedacted(), true
	}
	d.mu.Lock()
	st.LastError, st.LastCheck, st.Failures = d.lastErr, d.lastCheck, d.failures
	d.mu.Unlock()
	if st.Healthy {
		st.LastError = ""
	}
	return []NodeStatus{st}
}
