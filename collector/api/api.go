package api

import (
	"context"
	"errors"
	"fmt"
	"io"
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

// ErrUnavailable is returned (wrapped in a sentence saying why) by Remote
// when the collector serving the socket does not answer: it quit, or is
// restarting. Attached reconnects or takes the data dir over on it.
var ErrUnavailable = errors.New("the collector of this data dir is not answering")

// ErrSortUnsupported is returned for a sort order ParseSort rejects.
var ErrSortUnsupported = errors.New("sort order not supported by the index")

// ErrNoEvidence is returned (wrapped in a sentence naming the email) by
// Pcap for an email whose session names no evidence pcap: it was not
// captured live with --pcap-dir, or was read from a file.
var ErrNoEvidence = errors.New("no evidence pcap")

// ErrEvidenceGone is returned (wrapped in a sentence naming the files) by
// Pcap when the evidence pcaps an email's session names are gone, or no
// longer hold a packet of its connection (removed by --pcap-keep or a
// retention of the operator's, replaced).
var ErrEvidenceGone = errors.New("evidence pcap gone")

// KindError is an error whose text is Msg and which errors.Is Kind (one
// of the sentinel errors above): the sentence stays as written.
type KindError struct {
	Kind error
	Msg  string
}

func (e *KindError) Error() string { return e.Msg }
func (e *KindError) Unwrap() error { return e.Kind }

// ErrorBody is the JSON body of an API error reply: a 4xx/5xx status
// with the message and what kind of error it is.
type ErrorBody struct {
	Error    string `json:"error"`
	Col      int    `json:"col,omitempty"`
	Query    bool   `json:"query,omitempty"`
	NotFound bool   `json:"not_found,omitempty"`
	Sort     bool   `json:"sort,omitempty"`
	// NoEvidence and EvidenceGone mark the errors of GET /v1/pcap/{id}
	// (ErrNoEvidence, 404; ErrEvidenceGone, 410).
	NoEvidence   bool `json:"no_evidence,omitempty"`
	EvidenceGone bool `json:"evidence_gone,omitempty"`
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
	Risk     int               `json:"risk,omitempty"`   // number of risk reasons (core.Email.Risks)
	Status   map[string]string `json:"status,omitempty"` // group -> state
	Partial  bool              `json:"partial,omitempty"`
	Size     int64             `json:"size,omitempty"`
	UID      string            `json:"uid,omitempty"`    // session uid (sessions without email)
	Reason   string            `json:"reason,omitempty"` // why no email / why in review
	Name     string            `json:"name,omitempty"`   // review entry file name
	// NoSession marks an email read from a file (.eml, Maildir), not
	// carried in an SMTP session; Source is that file.
	NoSession bool   `json:"no_session,omitempty"`
	Source    string `json:"source,omitempty"`
	Sensor    string `json:"sensor,omitempty"` // the collector that stored it
	// Hunts are the collector's hunts the email matched (`hunt:NAME`).
	Hunts []string `json:"hunts,omitempty"`
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

// Sort orders. A sort is a list column, ascending, or descending with a
// leading '-' ("size", "-size"); "newest" and "oldest" are "-time" and
// "time".
const (
	SortNewest = "newest" // session time, newest first (default)
	SortOldest = "oldest"
)

// Sort fields: the list columns a search sorts by.
const (
	SortTime        = "time"
	SortSize        = "size"
	SortSender      = "sender"      // envelope MAIL FROM, case folded
	SortAttachments = "attachments" // attachment count
	SortIOCs        = "iocs"        // IOC count
	SortStatus      = "status"      // worst submission state: sent < queued < retrying < failed
)

// SortFields lists the sort fields in the order of the list's columns.
var SortFields = []string{SortTime, SortSize, SortSender, SortAttachments, SortIOCs, SortStatus}

// Sorts lists the sort orders in the order the UI cycles through them.
var Sorts = []string{"-" + SortTime, SortTime, "-" + SortSize, SortSize, SortSender, "-" + SortAttachments, "-" + SortIOCs, "-" + SortStatus}

// SortSpec is a parsed sort order.
type SortSpec struct {
	Field string // one of SortFields
	Desc  bool
}

// String is the canonical form: "-time", "size".
func (s SortSpec) String() string {
	if s.Desc {
		return "-" + s.Field
	}
	return s.Field
}

// ParseSort reads a sort order: "" and "newest" (-time), "oldest" (time),
// or a field of SortFields, '-' first for descending ('+' is allowed for
// ascending). Any other is an error wrapping ErrSortUnsupported.
func ParseSort(s string) (SortSpec, error) {
	switch s {
	case "", SortNewest:
		return SortSpec{Field: SortTime, Desc: true}, nil
	case SortOldest:
		return SortSpec{Field: SortTime}, nil
	}
	sp := SortSpec{Field: s}
	if rest, ok := strings.CutPrefix(s, "-"); ok {
		sp = SortSpec{Field: rest, Desc: true}
	} else if rest, ok := strings.CutPrefix(s, "+"); ok {
		sp.Field = rest
	}
	if !slices.Contains(SortFields, sp.Field) {
		return SortSpec{}, fmt.Errorf("%w: %q (sort by %s; '-' first for descending)", ErrSortUnsupported, s, strings.Join(SortFields, ", "))
	}
	return sp, nil
}

// SearchOptions page and shape a search.
type SearchOptions struct {
	Limit  int      `json:"limit"`            // rows per page (0: 100)
	After  []string `json:"after,omitempty"`  // cursor from the previous page's Next
	Sort   string   `json:"sort,omitempty"`   // see ParseSort; "" is SortNewest
	Facets bool     `json:"facets,omitempty"` // compute facets
	// Kind limits the rows to one kind (KindEmail, KindSession,
	// KindReview); "" means every kind.
	Kind string `json:"kind,omitempty"`
	// IDsOnly asks for rows carrying only ID and Kind (resubmitting a
	// whole result set).
	IDsOnly bool `json:"ids_only,omitempty"`
	// AsYouType searches a query still being typed: the last word, when
	// nothing follows it, also matches as a prefix ("invoi" finds
	// "Invoice"). The search bar sets it while the analyst types; Enter
	// runs the exact query.
	AsYouType bool `json:"as_you_type,omitempty"`
	// Histogram asks for the matches per hour or per day
	// (SearchResult.Histogram).
	Histogram bool `json:"histogram,omitempty"`
}

// SearchResult is one page of results.
type SearchResult struct {
	Rows   []Row         `json:"rows"`
	Total  uint64        `json:"total"`
	Next   []string      `json:"next,omitempty"` // nil on the last page
	Facets []Facet       `json:"facets,omitempty"`
	Took   time.Duration `json:"took"`
	// Histogram is every match counted per hour or per day (UTC); nil
	// unless asked for.
	Histogram *Histogram `json:"histogram,omitempty"`
}

// Histogram units.
const (
	UnitHour = "hour"
	UnitDay  = "day"
)

// Histogram counts the matches of a search per hour or per day (UTC),
// from the first bucket with a match to the last, empty ones included:
// per hour when the matches span up to 10 days (240 hours with a match),
// else per day. Missing counts matches without a known time.
type Histogram struct {
	Unit    string   `json:"unit"`
	Buckets []Bucket `json:"buckets"`
	Missing int      `json:"missing,omitempty"`
}

// Bucket is one hour or day of a Histogram.
type Bucket struct {
	Start time.Time `json:"start"`
	Count int       `json:"count"`
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
	// EventBackend: a client lost the process that owned the data dir
	// and reaches the data dir another way now (State says how, as a
	// sentence); see collector/service.Attached.
	EventBackend = "backend"
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
	// Pcap writes to w, as one pcap, the packets of an email's TCP
	// connection cut from the evidence pcaps its session names
	// (core.SessionInfo.Pcap), and returns how many it wrote. The errors
	// wrap ErrNotFound (unknown email), ErrNoEvidence (no evidence pcap
	// named) or ErrEvidenceGone (the files are gone or no longer hold
	// the connection); after any error, what w received is no pcap.
	Pcap(ctx context.Context, id string, w io.Writer) (int, error)
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
