package thehivesink

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// DataTypes are TheHive 5's default observable types.
var DataTypes = []string{"autonomous-system", "domain", "file", "filename", "fqdn", "hash", "hostname", "ip", "mail",
	"mail-subject", "other", "regexp", "registry", "uri_path", "url", "user-agent"}

// Observable is an accepted observable; File* describe a file's bytes.
type Observable struct {
	DataType   string
	Data       string
	Message    string
	Tags       []string
	IOC        bool
	FileName   string
	FileSHA256 string
	FileSize   int64
}

// Alert is an accepted alert.
type Alert struct {
	ID           string
	Organisation string
	Fields       map[string]any // the alert JSON as received
	Type         string
	Source       string
	SourceRef    string
	Title        string
	Description  string
	Severity     int
	Tags         []string
	Observables  []Observable
}

// Server is the stand-in. Set Key (and Organisation to require one)
// before serving.
type Server struct {
	Key          string
	Organisation string
	// DuplicateStatus answers a duplicate alert (default 400, as TheHive
	// does; 409 tests the other answer clients must accept).
	DuplicateStatus int

	mu       sync.Mutex
	alerts   []*Alert
	byRef    map[string]*Alert
	failNext atomic.Int64
	dropNext atomic.Int64
	delay    atomic.Int64
	requests atomic.Int64
	refused  []string // why requests were refused (400, 401, 403)
}

// New makes a server requiring key.
func New(key string) *Server { return &Server{Key: key, byRef: map[string]*Alert{}} }

// FailNext makes the next n requests answer 500.
func (s *Server) FailNext(n int) { s.failNext.Store(int64(n)) }

// DropNext makes the next n alert creations happen but their answers
// never arrive (the connection is closed): what a client sees when it
// or the network dies between TheHive's commit and its answer.
func (s *Server) DropNext(n int) { s.dropNext.Store(int64(n)) }

// SetDelay delays every answer by d.
func (s *Server) SetDelay(d time.Duration) { s.delay.Store(int64(d)) }

// Requests counts the requests served.
func (s *Server) Requests() int64 { return s.requests.Load() }

// Alerts returns the accepted alerts, in order.
func (s *Server) Alerts() []Alert {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Alert, len(s.alerts))
	for i, a := range s.alerts {
		out[i] = *a
		out[i].Observables = slices.Clone(a.Observables)
	}
	return out
}

// Refused returns why requests were refused, in order.
func (s *Server) Refused() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.refused)
}

func (s *Server) fail(w http.ResponseWriter, status int, typ, msg string) {
	s.mu.Lock()
	s.refused = append(s.refused, fmt.Sprintf("%d %s: %s", status, typ, msg))
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"type": typ, "message": msg})
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	if d := time.Duration(s.delay.Load()); d > 0 {
		select {
		case <-time.After(d):
		case <-r.Context().Done():
			return
		}
	}
	if s.failNext.Load() > 0 && s.failNext.Add(-1) >= 0 {
		http.Error(w, `{"type":"InternalError","message":"injected failure"}`, http.StatusInternalServerError)
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+s.Key || s.Key == "" {
		s.fail(w, http.StatusUnauthorized, "AuthenticationError", "Authentication failure")
		return
	}
	if s.Organisation != "" && r.Header.Get("X-Organisation") != s.Organisation {
		s.fail(w, http.StatusForbidden, "AuthorizationError", "no access to organisation "+r.Header.Get("X-Organisation"))
		return
	}
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/api/v1/alert":
		s.createAlert(w, r)
	case r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/api/v1/alert/") && strings.HasSuffix(r.URL.Path, "/observable"):
		s.addObservable(w, r, strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/api/v1/alert/"), "/observable"))
	default:
		s.fail(w, http.StatusNotFound, "NotFoundError", r.Method+" "+r.URL.Path+" not found")
	}
}

// file is an uploaded part.
type file struct {
	name   string
	sha256 string
	size   int64
}

// readRequest reads the JSON of a request, directly or as the "_json"
// field of a multipart form, and the files of the form by field name.
func readRequest(r *http.Request) (map[string]any, map[string]file, error) {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return nil, nil, fmt.Errorf("content type: %v", err)
	}
	files := map[string]file{}
	var raw []byte
	switch mt {
	case "application/json":
		if raw, err = io.ReadAll(io.LimitReader(r.Body, 16<<20)); err != nil {
			return nil, nil, err
		}
	case "multipart/form-data":
		mr := multipart.NewReader(r.Body, params["boundary"])
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, nil, fmt.Errorf("multipart: %v", err)
			}
			name := p.FormName()
			if p.FileName() == "" {
				if name != "_json" {
					return nil, nil, fmt.Errorf("multipart: unexpected field %q", name)
				}
				if raw, err = io.ReadAll(io.LimitReader(p, 16<<20)); err != nil {
					return nil, nil, err
				}
				continue
			}
			h := sha256.New()
			n, err := io.Copy(h, p)
			if err != nil {
				return nil, nil, fmt.Errorf("multipart: file %q: %v", name, err)
			}
			if _, dup := files[name]; dup {
				return nil, nil, fmt.Errorf("multipart: file field %q twice", name)
			}
			files[name] = file{name: p.FileName(), sha256: hex.EncodeToString(h.Sum(nil)), size: n}
		}
		if raw == nil {
			return nil, nil, fmt.Errorf("multipart: no _json field")
		}
	default:
		return nil, nil, fmt.Errorf("content type %q: want application/json or multipart/form-data", mt)
	}
	var v map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, nil, fmt.Errorf("invalid json: %v", err)
	}
	return v, files, nil
}

var alertFields = map[string]string{"type": "string", "source": "string", "sourceRef": "string", "title": "string",
	"description": "string", "date": "int", "severity": "int", "tlp": "int", "pap": "int", "tags": "[]string",
	"observables": "[]object", "externalLink": "string", "status": "string", "summary": "string", "flag": "bool",
	"caseTemplate": "string", "customFields": "object"}

var observableFields = map[string]string{"dataType": "string", "data": "string", "attachment": "string", "message": "string",
	"tlp": "int", "pap": "int", "tags": "[]string", "ioc": "bool", "sighted": "bool", "ignoreSimilarity": "bool"}

// check validates v's fields against schema: known names, types, and
// the int ranges given.
func check(what string, v map[string]any, schema map[string]string, ranges map[string][2]int64) error {
	for k, val := range v {
		typ, ok := schema[k]
		if !ok {
			return fmt.Errorf("%s: unknown field %q", what, k)
		}
		bad := false
		switch typ {
		case "string":
			_, ok := val.(string)
			bad = !ok
		case "bool":
			_, ok := val.(bool)
			bad = !ok
		case "int":
			n, ok := val.(json.Number)
			i, err := n.Int64()
			bad = !ok || err != nil
			if rg, has := ranges[k]; !bad && has && (i < rg[0] || i > rg[1]) {
				return fmt.Errorf("%s: %s %d: out of range %d-%d", what, k, i, rg[0], rg[1])
			}
		case "[]string":
			arr, ok := val.([]any)
			bad = !ok
			for _, e := range arr {
				if s, ok := e.(string); !ok || s == "" {
					bad = true
				}
			}
		case "[]object":
			arr, ok := val.([]any)
			bad = !ok
			for _, e := range arr {
				if _, ok := e.(map[string]any); !ok {
					bad = true
				}
			}
		case "object":
			_, ok := val.(map[string]any)
			bad = !ok
		}
		if bad {
			return fmt.Errorf("%s: field %q: want %s", what, k, typ)
		}
	}
	return nil
}

func str(v map[string]any, k string) string { s, _ := v[k].(string); return s }

// observables validates and converts the observables of an alert.
func observables(list []any, files map[string]file, used map[string]bool) ([]Observable, error) {
	var out []Observable
	for i, e := range list {
		o := e.(map[string]any)
		what := fmt.Sprintf("observables[%d]", i)
		if err := check(what, o, observableFields, map[string][2]int64{"tlp": {0, 4}, "pap": {0, 3}}); err != nil {
			return nil, err
		}
		dt := str(o, "dataType")
		if !slices.Contains(DataTypes, dt) {
			return nil, fmt.Errorf("%s: dataType %q is not an observable type", what, dt)
		}
		ob := Observable{DataType: dt, Data: str(o, "data"), Message: str(o, "message")}
		if b, ok := o["ioc"].(bool); ok {
			ob.IOC = b
		}
		if tags, ok := o["tags"].([]any); ok {
			for _, t := range tags {
				ob.Tags = append(ob.Tags, t.(string))
			}
		}
		if dt == "file" {
			key := str(o, "attachment")
			f, ok := files[key]
			if key == "" || !ok {
				return nil, fmt.Errorf("%s: file observable: attachment %q is not a part of the request", what, key)
			}
			if _, has := o["data"]; has {
				return nil, fmt.Errorf("%s: file observable with data", what)
			}
			used[key] = true
			ob.FileName, ob.FileSHA256, ob.FileSize = f.name, f.sha256, f.size
		} else {
			if ob.Data == "" {
				return nil, fmt.Errorf("%s: %s observable without data", what, dt)
			}
			if _, has := o["attachment"]; has {
				return nil, fmt.Errorf("%s: attachment on a %s observable", what, dt)
			}
		}
		out = append(out, ob)
	}
	return out, nil
}

func (s *Server) createAlert(w http.ResponseWriter, r *http.Request) {
	v, files, err := readRequest(r)
	if err != nil {
		s.fail(w, http.StatusBadRequest, "BadRequest", err.Error())
		return
	}
	if err := check("alert", v, alertFields, map[string][2]int64{"severity": {1, 4}, "tlp": {0, 4}, "pap": {0, 3}}); err != nil {
		s.fail(w, http.StatusBadRequest, "AttributeCheckingError", err.Error())
		return
	}
	for _, k := range []string{"type", "source", "sourceRef", "title", "description"} {
		if str(v, k) == "" {
			s.fail(w, http.StatusBadRequest, "AttributeCheckingError", "alert: "+k+" is missing or empty")
			return
		}
	}
	used := map[string]bool{}
	list, _ := v["observables"].([]any)
	obs, err := observables(list, files, used)
	if err != nil {
		s.fail(w, http.StatusBadRequest, "AttributeCheckingError", err.Error())
		return
	}
	for k := range files {
		if !used[k] {
			s.fail(w, http.StatusBadRequest, "BadRequest", "file part "+k+" is not referenced by an observable")
			return
		}
	}
	a := &Alert{Organisation: r.Header.Get("X-Organisation"), Fields: v, Type: str(v, "type"), Source: str(v, "source"),
		SourceRef: str(v, "sourceRef"), Title: str(v, "title"), Description: str(v, "description"), Severity: 2, Observables: obs}
	if n, ok := v["severity"].(json.Number); ok {
		i, _ := n.Int64()
		a.Severity = int(i)
	}
	if tags, ok := v["tags"].([]any); ok {
		for _, t := range tags {
			a.Tags = append(a.Tags, t.(string))
		}
	}
	key := a.Type + "\x00" + a.Source + "\x00" + a.SourceRef
	s.mu.Lock()
	if s.byRef == nil {
		s.byRef = map[string]*Alert{}
	}
	if _, dup := s.byRef[key]; dup {
		s.mu.Unlock()
		status := s.DuplicateStatus
		if status == 0 {
			status = http.StatusBadRequest
		}
		s.fail(w, status, "CreateError", fmt.Sprintf("Alert %s/%s/%s already exists", a.Type, a.Source, a.SourceRef))
		return
	}
	a.ID = fmt.Sprintf("~%d", 4096+len(s.alerts))
	s.alerts = append(s.alerts, a)
	s.byRef[key] = a
	s.mu.Unlock()
	if s.dropNext.Load() > 0 && s.dropNext.Add(-1) >= 0 {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(map[string]any{"_id": a.ID, "_type": "Alert", "type": a.Type, "source": a.Source,
		"sourceRef": a.SourceRef, "title": a.Title, "severity": a.Severity})
}

func (s *Server) addObservable(w http.ResponseWriter, r *http.Request, id string) {
	v, files, err := readRequest(r)
	if err != nil {
		s.fail(w, http.StatusBadRequest, "BadRequest", err.Error())
		return
	}
	if len(files) > 0 {
		// TheHive's form: the file in the part named "attachment"
		f, ok := files["attachment"]
		if !ok || len(files) != 1 {
			s.fail(w, http.StatusBadRequest, "BadRequest", "observable upload: want one file part named attachment")
			return
		}
		if _, has := v["attachment"]; !has {
			v["attachment"] = "attachment"
		}
		files = map[string]file{str(v, "attachment"): f}
	}
	obs, err := observables([]any{v}, files, map[string]bool{})
	if err != nil {
		s.fail(w, http.StatusBadRequest, "AttributeCheckingError", err.Error())
		return
	}
	s.mu.Lock()
	var a *Alert
	for _, x := range s.alerts {
		if x.ID == id {
			a = x
		}
	}
	if a != nil {
		a.Observables = append(a.Observables, obs...)
	}
	s.mu.Unlock()
	if a == nil {
		s.fail(w, http.StatusNotFound, "NotFoundError", "alert "+id+" not found")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode([]map[string]any{{"_id": fmt.Sprintf("~obs%d", len(a.Observables)), "dataType": obs[0].DataType}})
}
