package api

import (
	"context"
	"errors"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/smtpscope/smtpscope/core"
)

// SocketName is the name of the unix socket the service serves the API
// on, inside RunDir of the data dir.
const SocketName = "smtpscope.sock"

// RunDir is the directory of the data dir that holds the socket (created
// private by the service, see collector/service.Listen).
const RunDir = "run"

// SocketPath is the socket of a data dir: DATA/run/smtpscope.sock.
func SocketPath(dataDir string) string {
	return filepath.Join(dataDir, RunDir, SocketName)
}

// ErrNotFound is returned for unknown ids.
var ErrNotFound = errors.New("not found")

// ErrSortUnsupported is returned for a sort order not in Sorts.
var ErrSortUnsupported = errors.New("sort order not supported by the index")

// ErrorBody is the JSON body of an API error reply: a 4xx/5xx status
// with the message and what kind of error it is.
type ErrorBody struct {
	Error    string `json:"error"`
	Col      int    `json:"col,omitempty"`
	Query    bool   `json:"query,omitempty"`
	NotFound bool   `json:"not_found,omitempty"`
	Sort     bool   `json:"sort,omitempty"`
}

// Row kinds.
const (
	KindEmail   = "email"
	KindSession = "session" // a session that carried no email
	KindReview  = "review"  // a review/ quarantine entry
)

// Row is one line of the list: what a search hit carries, so that drawing a
// page never opens the store. It is the one row type from the index to its
// clients: package index stores it (JSON) with every document and returns
// it in its hits, the service serves it, the UI and the CLI draw it.
type Row struct {
	ID       string            `json:"id,omitempty"` // omitted only where the index stores the row under its document ID
	Kind     string            `json:"kind"`
	Time     time.Time         `json:"time"`
	SourceIP string            `json:"source_ip,omitempty"`
	MailFrom string            `json:"mail_from,omitempty"`
	From     string            `json:"from,omitempty"`
	Rcpt     int               `json:"rcpt,omitempty"`
	Subject  string            `json:"subject,omitempty"`
	Att      int               `json:"attachments,omitempty"`
	IOC      int               `json:"iocs,omitempty"`
	YARA     int               `json:"yara,omitempty"`
	Status   map[string]string `json:"status,omitempty"` // group -> state
	Partial  bool              `json:"partial,omitempty"`
	Size     int64             `json:"size,omitempty"`
	UID      string            `json:"uid,omitempty"`    // session uid (sessions without email)
	Reason   string            `json:"reason,omitempty"` // why no email / why in review
	Name     string            `json:"name,omitempty"`   // review entry file name
	Sensor   string            `json:"sensor,omitempty"` // the collector that stored it
}

// StatusText sums up Status for a list column: the one state when every
// group has the same, else "group:state ..." sorted by group.
func (r Row) StatusText() string {
	if len(r.Status) == 0 {
		return ""
	}
	keys := slices.Sorted(maps.Keys(r.Status))
	first := r.Status[keys[0]]
	same := true
	for _, k := range keys[1:] {
		same = same && r.Status[k] == first
	}
	if same {
		return first
	}
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + ":" + r.Status[k]
	}
	return strings.Join(parts, " ")
}

// Sort orders.
const (
	SortNewest = "newest" // session time, newest first (default)
	SortOldest = "oldest"
)

// Sorts lists the sort orders in the order the UI cycles through them.
var Sorts = []string{SortNewest, SortOldest}

// SearchOptions page and shape a search.
type SearchOptions struct {
	Limit  int      `json:"limit"`            // rows per page (0: 100)
	After  []string `json:"after,omitempty"`  // cursor from the previous page's Next
	Sort   string   `json:"sort,omitempty"`   // one of Sorts; "" is SortNewest
	Facets bool     `json:"facets,omitempty"` // compute facets
	// Kind limits the rows to one kind (KindEmail, KindSession,
	// KindReview); "" means every kind.
	Kind string `json:"kind,omitempty"`
	// IDsOnly asks for rows carrying only ID and Kind (resubmitting a
	// whole result set).
	IDsOnly bool `json:"ids_only,omitempty"`
}

// SearchResult is one page of results.
type SearchResult struct {
	Rows   []Row         `json:"rows"`
	Total  uint64        `json:"total"`
	Next   []string      `json:"next,omitempty"` // nil on the last page
	Facets []Facet       `json:"facets,omitempty"`
	Took   time.Duration `json:"took"`
}

// Facet is a count of results by one property.
type Facet struct {
	Name  string      `json:"name"` // shown as the panel heading
	Terms []FacetTerm `json:"terms"`
}

// FacetTerm is one value of a facet; Filter is the query-language clause
// that narrows the search to it (e.g. `domain:example.com`).
type FacetTerm struct {
	Term   string `json:"term"`
	Count  int    `json:"count"`
	Filter string `json:"filter"`
}

// QuoteTerm writes a facet value as a query-language term: bare when it
// can be, quoted otherwise.
func QuoteTerm(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\"()") {
		return s
	}
	return strconv.Quote(s)
}

// QueryError is a malformed query: Col is the 1-based column of the
// problem. Backends return it (possibly wrapped) for bad queries.
type QueryError struct {
	Col int    `json:"col"`
	Msg string `json:"msg"`
}

func (e *QueryError) Error() string { return "col " + strconv.Itoa(e.Col) + ": " + e.Msg }

// Review is one review/ entry with its bytes.
type Review struct {
	Entry ReviewEntry `json:"entry"`
	Data  []byte      `json:"data"`
}

// Status is the collector's state for the status bar; Mode says how the
// client reaches it ("local" or "remote").
type Status struct {
	CollectorStatus
	Mode string `json:"mode"`
}

// GroupNames returns the names of the enabled, configured node groups.
func (s *Status) GroupNames() []string {
	var out []string
	for _, g := range s.Groups {
		if g.Configured && g.Enabled {
			out = append(out, g.Name)
		}
	}
	return out
}

// Event types.
const (
	EventEmail      = "email"      // a new email (ID)
	EventSession    = "session"    // a session was stored
	EventSubmission = "submission" // a submission changed state (ID, Group, State)
	EventReview     = "review"     // a review entry appeared
	EventRemoved    = "removed"    // retention removed an email (ID)
	EventError      = "error"      // Err
	EventIndexed    = "indexed"    // the index caught up with new documents
)

// Event is one live update.
type Event struct {
	Type  string    `json:"type"`
	Time  time.Time `json:"time"`
	ID    string    `json:"id,omitempty"`
	Group string    `json:"group,omitempty"`
	State string    `json:"state,omitempty"`
	Err   string    `json:"error,omitempty"`
}

// Backend is everything the UI needs from a data dir.
type Backend interface {
	// Search runs a query-language search. A malformed query gives a
	// *QueryError.
	Search(ctx context.Context, query string, opts SearchOptions) (*SearchResult, error)
	// Email returns the record of one email.
	Email(ctx context.Context, id string) (*core.Email, error)
	// Raw returns the exact bytes of an email (.eml).
	Raw(ctx context.Context, id string) ([]byte, error)
	// Session returns the parsed SMTP session an email (by email id) or a
	// session without email (by session uid) came from.
	Session(ctx context.Context, id string) (*core.Session, error)
	// Attachment returns an attachment's bytes by its sha1.
	Attachment(ctx context.Context, emailID, sha1 string) ([]byte, error)
	// Submissions returns the submission state per node group of an email.
	Submissions(ctx context.Context, id string) ([]SubmissionStatus, error)
	// Review returns one review/ entry with its bytes.
	Review(ctx context.Context, name string) (*Review, error)
	// Status returns the collector's state and queue.
	Status(ctx context.Context) (*Status, error)
	// Resubmit queues emails again for group ("" means every enabled
	// group); it returns how many submissions were queued.
	Resubmit(ctx context.Context, ids []string, group string) (int, error)
	// SetPaused pauses or resumes the collector.
	SetPaused(ctx context.Context, paused bool) error
	// Events streams live updates until ctx ends; the channel is closed
	// then. Slow readers lose events, they never block the collector.
	Events(ctx context.Context) (<-chan Event, error)
}
