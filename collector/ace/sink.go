package ace

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/smtpscope/smtpscope/core"
)

// SinkOptions configure a Sink.
type SinkOptions struct {
	APIKey       string // when set, requests must carry it in APIKeyHeader
	APIKeyHeader string // default "x-ace-auth"
	// Fault injection, applied to /api/analysis/submit only: answer the
	// next FailNext submissions with HTTP 500, close the connection of the
	// next DropNext ones without an answer, sleep Delay before answering.
	FailNext int
	DropNext int
	Delay    time.Duration
	MaxBody  int64 // default 512 MiB
	Logger   *slog.Logger
}

// Sink is a small ACE-API-compatible receiver: POST /api/analysis/submit,
// GET /api/common/ping, GET /api/analysis/status/<uuid>. Each accepted
// submission is stored under Dir as <uuid>/analysis.json, <uuid>/meta.json
// and <uuid>/files/<name>.
type Sink struct {
	dir      string
	opts     SinkOptions
	failNext atomic.Int64
	dropNext atomic.Int64
	delay    atomic.Int64
	accepted atomic.Int64
	rejected atomic.Int64
	log      *slog.Logger
}

// SinkRecord is the meta.json stored with each accepted submission.
type SinkRecord struct {
	UUID     string    `json:"uuid"`
	Received time.Time `json:"received"`
	Remote   string    `json:"remote"`
	// Parts lists the multipart form names in the order received.
	Parts []string   `json:"parts"`
	Files []SinkFile `json:"files"`
}

// SinkFile describes one stored file part.
type SinkFile struct {
	Filename string `json:"filename"` // as sent
	Stored   string `json:"stored"`   // name under files/
	Size     int64  `json:"size"`
	SHA256   string `json:"sha256"`
}

// NewSink makes a sink storing into dir (created if missing).
func NewSink(dir string, o SinkOptions) (*Sink, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("ace-sink: %w", err)
	}
	if o.APIKeyHeader == "" {
		o.APIKeyHeader = DefaultAPIKeyHeader
	}
	if o.MaxBody <= 0 {
		o.MaxBody = 512 << 20
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Sink{dir: dir, opts: o, log: o.Logger}
	s.failNext.Store(int64(o.FailNext))
	s.dropNext.Store(int64(o.DropNext))
	s.delay.Store(int64(o.Delay))
	return s, nil
}

// Dir is where submissions are stored.
func (s *Sink) Dir() string { return s.dir }

// FailNext makes the next n submissions fail with HTTP 500.
func (s *Sink) FailNext(n int) { s.failNext.Store(int64(n)) }

// DropNext makes the next n submissions have their connection closed.
func (s *Sink) DropNext(n int) { s.dropNext.Store(int64(n)) }

// SetDelay sets the delay before each submission is answered.
func (s *Sink) SetDelay(d time.Duration) { s.delay.Store(int64(d)) }

// Accepted and Rejected count submissions answered 200 and 4xx.
func (s *Sink) Accepted() int64 { return s.accepted.Load() }

// Rejected counts submissions answered with HTTP 400/401.
func (s *Sink) Rejected() int64 { return s.rejected.Load() }

func (s *Sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.opts.APIKey != "" {
		got := r.Header.Get(s.opts.APIKeyHeader)
		if subtle.ConstantTimeCompare([]byte(got), []byte(s.opts.APIKey)) != 1 {
			s.rejected.Add(1)
			http.Error(w, "invalid or missing api key", http.StatusUnauthorized)
			return
		}
	}
	switch {
	case r.URL.Path == "/api/common/ping":
		writeJSON(w, map[string]any{"result": "pong"})
	case r.URL.Path == "/api/analysis/submit":
		if r.Method != http.MethodPost {
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		s.submit(w, r)
	case strings.HasPrefix(r.URL.Path, "/api/analysis/status/"):
		s.status(w, strings.TrimPrefix(r.URL.Path, "/api/analysis/status/"))
	default:
		http.NotFound(w, r)
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func decrement(c *atomic.Int64) bool {
	for {
		v := c.Load()
		if v <= 0 {
			return false
		}
		if c.CompareAndSwap(v, v-1) {
			return true
		}
	}
}

// uuidRE and eventTimeREs are compiled on first use (a sink's), not by
// every process at start.
var uuidRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
})

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// Event time formats ACE's parse_event_time accepts.
var eventTimeREs = sync.OnceValue(func() []*regexp.Regexp {
	return []*regexp.Regexp{
		regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2} [+-][0-9]{4}$`),
		regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}$`),
		regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3,6}[+-][0-9]{4}$`),
		regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3,6}[+-][0-9]{2}:[0-9]{2}$`),
		regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3,6}$`),
	}
})

var eventTimeLayouts = []string{
	"2006-01-02 15:04:05 -0700",
	"2006-01-02 15:04:05",
	"2006-01-02T15:04:05.999999-0700",
	"2006-01-02T15:04:05.999999-07:00",
	"2006-01-02T15:04:05.999999",
}

// ParseEventTime parses an event time the way ACE's parse_event_time
// does (the regular expressions first, then the layout).
func ParseEventTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for i, re := range eventTimeREs() {
		if re.MatchString(s) {
			if t, err := time.Parse(eventTimeLayouts[i], s); err == nil {
				return t, nil
			}
			break
		}
	}
	return time.Time{}, fmt.Errorf("invalid date format %s", s)
}

// ValidDirectives lists the observable directives the sink accepts (ACE
// rejects unknown ones).
var ValidDirectives = map[string]bool{
	"archive": true, "crawl": true, "delay": true, "exclude_all": true, "extract_urls": true,
	"force_download": true, "no_scan": true, "original_email": true, "original_smtp": true,
	"preview": true, "remediate": true, "rename_analysis": true, "resolve_asset": true,
	"sandbox": true, "tracked": true, "whitelisted": true, "view_in_browser": true,
}

// validate checks the analysis JSON as ACE's submit handler does and
// returns the message of a 400 answer, or "".
func validate(raw string) string {
	var r map[string]any
	if err := json.Unmarshal([]byte(raw), &r); err != nil {
		return "invalid analysis JSON: " + err.Error()
	}
	if _, ok := r["description"]; !ok {
		return "missing description field in submission"
	}
	if et, ok := r["event_time"]; ok {
		s, _ := et.(string)
		if _, err := ParseEventTime(s); err != nil {
			return fmt.Sprintf("invalid event time format for %v (use %%Y-%%m-%%dT%%H:%%M:%%S.%%f%%z format)", et)
		}
	}
	if obs, ok := r["observables"]; ok {
		list, ok := obs.([]any)
		if !ok {
			return "observables must be a list"
		}
		for _, o := range list {
			m, ok := o.(map[string]any)
			if !ok {
				return "an observable is not an object"
			}
			for _, f := range []string{"type", "value"} {
				if _, ok := m[f]; !ok {
					return "an observable is missing the " + f + " field"
				}
			}
			if t, ok := m["time"]; ok {
				s, _ := t.(string)
				if _, err := ParseEventTime(s); err != nil {
					return fmt.Sprintf("an observable has an invalid time format %v", t)
				}
			}
			if d, ok := m["directives"]; ok {
				dl, _ := d.([]any)
				for _, x := range dl {
					xs, _ := x.(string)
					if !ValidDirectives[xs] {
						return fmt.Sprintf("observable %v:%v has invalid directive %v", m["type"], m["value"], x)
					}
				}
			}
		}
	}
	if tags, ok := r["tags"]; ok {
		if _, ok := tags.([]any); !ok {
			return "tags must be a list"
		}
	}
	return ""
}

func (s *Sink) bad(w http.ResponseWriter, msg string) {
	s.rejected.Add(1)
	s.log.Info("ace-sink: rejected submission", "reason", msg)
	http.Error(w, msg, http.StatusBadRequest)
}

func (s *Sink) submit(w http.ResponseWriter, r *http.Request) {
	if decrement(&s.dropNext) {
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				_ = c.Close()
				s.log.Info("ace-sink: dropped connection (fault injection)")
				return
			}
		}
		panic(http.ErrAbortHandler)
	}
	if d := time.Duration(s.delay.Load()); d > 0 {
		select {
		case <-time.After(d):
		case <-r.Context().Done():
			return
		}
	}
	if decrement(&s.failNext) {
		s.log.Info("ace-sink: failing submission with 500 (fault injection)")
		http.Error(w, "injected failure", http.StatusInternalServerError)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, s.opts.MaxBody)
	mr, err := r.MultipartReader()
	if err != nil {
		// ACE reads request.values, which also holds url-encoded forms.
		if err := r.ParseForm(); err != nil || r.PostForm.Get("analysis") == "" {
			s.bad(w, "missing analysis field (see documentation)")
			return
		}
		s.store(w, r, r.PostForm.Get("analysis"), nil, []string{"analysis"})
		return
	}
	var analysis string
	haveAnalysis := false
	var files []upload
	var parts []string
	tmp, err := os.MkdirTemp(s.dir, ".incoming-")
	if err != nil {
		http.Error(w, "storage: "+err.Error(), http.StatusInternalServerError)
		return
	}
	defer os.RemoveAll(tmp)
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			s.bad(w, "malformed multipart body: "+err.Error())
			return
		}
		parts = append(parts, p.FormName())
		switch p.FormName() {
		case "analysis":
			b, err := io.ReadAll(io.LimitReader(p, 64<<20))
			if err != nil {
				s.bad(w, "reading analysis field: "+err.Error())
				return
			}
			analysis, haveAnalysis = string(b), true
		case "file":
			u, err := saveUpload(tmp, len(files), p)
			if err != nil {
				s.bad(w, "reading file part: "+err.Error())
				return
			}
			files = append(files, u)
		}
		_ = p.Close()
	}
	if !haveAnalysis {
		s.bad(w, "missing analysis field (see documentation)")
		return
	}
	s.store(w, r, analysis, files, parts)
}

type upload struct {
	filename string
	tmp      string
	size     int64
	sha256   string
}

func saveUpload(dir string, n int, p *multipart.Part) (upload, error) {
	u := upload{filename: p.FileName(), tmp: filepath.Join(dir, fmt.Sprintf("part-%d", n))}
	f, err := os.Create(u.tmp)
	if err != nil {
		return u, err
	}
	h := sha256.New()
	u.size, err = io.Copy(io.MultiWriter(f, h), p)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	u.sha256 = hex.EncodeToString(h.Sum(nil))
	return u, err
}

func (s *Sink) store(w http.ResponseWriter, r *http.Request, analysis string, files []upload, parts []string) {
	if msg := validate(analysis); msg != "" {
		s.bad(w, msg)
		return
	}
	id := newUUID()
	stage := filepath.Join(s.dir, ".stage-"+id)
	if err := s.writeSubmission(stage, id, r.RemoteAddr, analysis, files, parts); err != nil {
		_ = os.RemoveAll(stage)
		s.log.Error("ace-sink: storing submission", "err", err)
		http.Error(w, "an error occured trying to save the alert: "+err.Error(), http.StatusInternalServerError)
		return
	}
	if err := os.Rename(stage, filepath.Join(s.dir, id)); err != nil {
		_ = os.RemoveAll(stage)
		http.Error(w, "storage: "+err.Error(), http.StatusInternalServerError)
		return
	}
	s.accepted.Add(1)
	s.log.Info("ace-sink: accepted submission", "uuid", id, "files", len(files))
	writeJSON(w, map[string]any{"result": map[string]any{"uuid": id}})
}

func (s *Sink) writeSubmission(stage, id, remote, analysis string, files []upload, parts []string) error {
	if err := os.MkdirAll(filepath.Join(stage, "files"), 0o750); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(stage, "analysis.json"), []byte(analysis), 0o640); err != nil {
		return err
	}
	rec := SinkRecord{UUID: id, Received: time.Now().UTC(), Remote: remote, Parts: parts, Files: []SinkFile{}}
	used := map[string]int{}
	for _, u := range files {
		name := SafeName(filepath.Base(u.filename))
		if n := used[name]; n > 0 {
			name = fmt.Sprintf("%s.%d", name, n)
		}
		used[name]++
		if err := os.Rename(u.tmp, filepath.Join(stage, "files", name)); err != nil {
			return err
		}
		rec.Files = append(rec.Files, SinkFile{Filename: u.filename, Stored: name, Size: u.size, SHA256: u.sha256})
	}
	return writeMeta(filepath.Join(stage, "meta.json"), rec)
}

// writeMeta streams a submission's record to path as terminal-safe
// compact JSON (file names come from the wire).
func writeMeta(path string, rec SinkRecord) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o640)
	if err != nil {
		return err
	}
	err = core.NewJSONEncoder(f).Encode(rec)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func (s *Sink) status(w http.ResponseWriter, id string) {
	if !uuidRE().MatchString(id) {
		http.Error(w, "invalid uuid "+id, http.StatusBadRequest)
		return
	}
	mb, err := os.ReadFile(filepath.Join(s.dir, id, "meta.json"))
	if err != nil {
		http.Error(w, "invalid uuid "+id, http.StatusBadRequest)
		return
	}
	var rec SinkRecord
	_ = json.Unmarshal(mb, &rec)
	writeJSON(w, map[string]any{"result": map[string]any{
		"workload":         map[string]any{"uuid": id, "analysis_mode": "email", "insert_date": rec.Received.Format(time.RFC3339)},
		"delayed_analysis": []any{},
		"locks":            nil,
		"alert":            nil,
	}})
}

// StoredSubmission is one submission read back from a sink directory.
type StoredSubmission struct {
	UUID     string
	Analysis Analysis
	Raw      map[string]any // the analysis JSON as received
	Meta     SinkRecord
	Dir      string
}

// ReadSubmissions reads every stored submission under dir.
func ReadSubmissions(dir string) ([]StoredSubmission, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []StoredSubmission
	for _, e := range ents {
		if !e.IsDir() || !uuidRE().MatchString(e.Name()) {
			continue
		}
		d := filepath.Join(dir, e.Name())
		ab, err := os.ReadFile(filepath.Join(d, "analysis.json"))
		if err != nil {
			return nil, err
		}
		mb, err := os.ReadFile(filepath.Join(d, "meta.json"))
		if err != nil {
			return nil, err
		}
		st := StoredSubmission{UUID: e.Name(), Dir: d}
		if err := json.Unmarshal(ab, &st.Analysis); err != nil {
			return nil, fmt.Errorf("%s: %w", d, err)
		}
		_ = json.Unmarshal(ab, &st.Raw)
		if err := json.Unmarshal(mb, &st.Meta); err != nil {
			return nil, fmt.Errorf("%s: %w", d, err)
		}
		out = append(out, st)
	}
	return out, nil
}
