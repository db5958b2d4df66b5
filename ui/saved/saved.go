// Package saved keeps the UI's search history and named saved searches
// across restarts in one small JSON file (File, under the data dir, or
// the user's config dir when the data dir is not the UI user's to write:
// see Path). The file is bounded (MaxFile bytes, MaxHistory queries,
// MaxSaved searches, MaxQuery characters a query, MaxName a name), read
// with those bounds enforced whatever it holds, and written atomically
// (a temporary file in the same directory, synced, renamed over it).
// Names are cleaned (CleanName) before they are stored: no control,
// format or other invisible characters reach the file or the screen.
package saved

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// Bounds.
const (
	MaxFile    = 256 << 10 // bytes of the file
	MaxHistory = 100       // queries in the history
	MaxSaved   = 100       // saved searches
	MaxQuery   = 4096      // characters of a query
	MaxName    = 48        // characters of a name
)

// File is the name of the file in the data dir.
const File = "ui-searches.json"

// Search is one saved search: a query and the sort it was saved with.
type Search struct {
	Name  string `json:"name"`
	Query string `json:"query"`
	Sort  string `json:"sort,omitempty"`
}

// State is what the file holds.
type State struct {
	History []string `json:"history"` // oldest first
	Saved   []Search `json:"saved"`   // by name
}

// Path is where the searches of data dir dataDir are kept: DATA/File when
// the UI may write there (always when it runs the collector itself, local;
// attached to a daemon, when the data dir is writable by the UI's user),
// else File under the user's config dir (os.UserConfigDir()/smtpscope),
// named after the data dir's absolute path so that each data dir has its
// own.
func Path(dataDir string, local bool) (string, error) {
	if local || writable(dataDir) {
		return filepath.Join(dataDir, File), nil
	}
	cfg, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("saved searches: no writable place (data dir %s is read-only to you, and %w)", dataDir, err)
	}
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		abs = dataDir
	}
	sum := sha256.Sum256([]byte(abs))
	return filepath.Join(cfg, "smtpscope", "searches-"+hex.EncodeToString(sum[:6])+".json"), nil
}

// writable reports whether a file can be created in dir.
func writable(dir string) bool {
	f, err := os.CreateTemp(dir, ".ui-searches-probe-*")
	if err != nil {
		return false
	}
	name := f.Name()
	f.Close()
	os.Remove(name)
	return true
}

// CleanName makes a name fit to store and draw: letters, digits, marks,
// punctuation, symbols and spaces only (runs of spaces as one), trimmed,
// at most MaxName characters. A name with nothing left is an error.
func CleanName(name string) (string, error) {
	var b strings.Builder
	space := false
	n := 0
	for _, r := range strings.ToValidUTF8(name, "") {
		switch {
		case unicode.IsSpace(r):
			space = b.Len() > 0
			continue
		case !unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S) || unicode.In(r, unicode.Cf):
			continue
		case unicode.Is(unicode.Variation_Selector, r) || r == '\u034f' || r == '\u115f' || r == '\u1160' || r == '\u3164' || r == '\uffa0':
			continue // draws nothing
		}
		if space && n+2 > MaxName || n+1 > MaxName {
			break
		}
		if space {
			b.WriteByte(' ')
			n++
			space = false
		}
		b.WriteRune(r)
		n++
	}
	out := b.String()
	if out == "" {
		return "", errors.New("a saved search needs a name (letters, digits, punctuation)")
	}
	return out, nil
}

// clean bounds a state read from a file or about to be written: every
// list cut to its bound, names cleaned (an entry whose name is empty
// dropped, later duplicates dropped), queries cut to MaxQuery characters.
func clean(st State) State {
	var out State
	for _, q := range st.History {
		if q = cutQuery(q); q != "" {
			out.History = append(out.History, q)
		}
	}
	if len(out.History) > MaxHistory {
		out.History = out.History[len(out.History)-MaxHistory:]
	}
	for _, s := range st.Saved {
		name, err := CleanName(s.Name)
		if err != nil || slices.ContainsFunc(out.Saved, func(x Search) bool { return x.Name == name }) {
			continue
		}
		if len(out.Saved) == MaxSaved {
			break
		}
		out.Saved = append(out.Saved, Search{Name: name, Query: cutQuery(s.Query), Sort: cutQuery(s.Sort)})
	}
	return out
}

// cutQuery makes q valid UTF-8, one line, at most MaxQuery characters.
func cutQuery(q string) string {
	q = strings.TrimSpace(strings.ToValidUTF8(q, "\uFFFD"))
	q = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == '\t' {
			return ' '
		}
		return r
	}, q)
	if utf8.RuneCountInString(q) > MaxQuery {
		q = string([]rune(q)[:MaxQuery])
	}
	return q
}

// Load reads the file at path; a file that does not exist is an empty
// state. A file too big, or not a searches file, is an error naming it.
func Load(path string) (State, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return State{}, nil
	}
	if err != nil {
		return State{}, fmt.Errorf("saved searches %s: %w", path, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFile+1))
	if err != nil {
		return State{}, fmt.Errorf("saved searches %s: %w", path, err)
	}
	if len(data) > MaxFile {
		return State{}, fmt.Errorf("saved searches larger than %d KiB, not read: %s", MaxFile>>10, path)
	}
	var st State
	if err := json.Unmarshal(data, &st); err != nil {
		return State{}, fmt.Errorf("not a searches file, not read: %s: %w", path, err)
	}
	return clean(st), nil
}

// Store is the state of one UI and where it is written; safe for
// concurrent use (saves run in tea.Cmds).
type Store struct {
	mu    sync.Mutex
	path  string
	st    State
	gen   int // changes made
	saved int // gen last written
}

// Open loads the store at path (see Load). On error the Store is still
// usable, empty, and never writes (the file is left as it is).
func Open(path string) (*Store, error) {
	st, err := Load(path)
	if err != nil {
		return &Store{}, err
	}
	return &Store{path: path, st: st}, nil
}

// State returns a copy of the state.
func (s *Store) State() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	return State{History: slices.Clone(s.st.History), Saved: slices.Clone(s.st.Saved)}
}

// SetHistory replaces the history (the search bar's, oldest first).
func (s *Store) SetHistory(h []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.History = clean(State{History: h}).History
	s.gen++
}

// Put saves a search under name (cleaned; replacing one of that name)
// and returns the name stored.
func (s *Store) Put(name, query, sort string) (string, error) {
	name, err := CleanName(name)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	srch := Search{Name: name, Query: cutQuery(query), Sort: cutQuery(sort)}
	if i := slices.IndexFunc(s.st.Saved, func(x Search) bool { return x.Name == name }); i >= 0 {
		s.st.Saved[i] = srch
	} else {
		if len(s.st.Saved) >= MaxSaved {
			return "", fmt.Errorf("already %d saved searches: forget one first", MaxSaved)
		}
		s.st.Saved = append(s.st.Saved, srch)
		slices.SortFunc(s.st.Saved, func(a, b Search) int { return strings.Compare(a.Name, b.Name) })
	}
	s.gen++
	return name, nil
}

// Get returns the saved search called name (cleaned first).
func (s *Store) Get(name string) (Search, bool) {
	name, err := CleanName(name)
	if err != nil {
		return Search{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.IndexFunc(s.st.Saved, func(x Search) bool { return x.Name == name })
	if i < 0 {
		return Search{}, false
	}
	return s.st.Saved[i], true
}

// Delete forgets the saved search called name and reports whether there
// was one.
func (s *Store) Delete(name string) bool {
	name, err := CleanName(name)
	if err != nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.st.Saved)
	s.st.Saved = slices.DeleteFunc(s.st.Saved, func(x Search) bool { return x.Name == name })
	if len(s.st.Saved) == n {
		return false
	}
	s.gen++
	return true
}

// Names lists the saved searches' names, sorted.
func (s *Store) Names() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, len(s.st.Saved))
	for i, x := range s.st.Saved {
		out[i] = x.Name
	}
	return out
}

// Path is the file written ("" when the store does not write).
func (s *Store) Path() string { return s.path }

// Save writes the state when it changed since the last write: to a
// temporary file in the same directory (created 0700 when missing),
// synced, then renamed over the file (mode 0600).
func (s *Store) Save() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.path == "" || s.gen == s.saved {
		return nil
	}
	data, err := json.MarshalIndent(clean(s.st), "", "  ")
	if err != nil {
		return err
	}
	if len(data) > MaxFile {
		return fmt.Errorf("saved searches %s: would exceed %d KiB, not written", s.path, MaxFile>>10)
	}
	dir := filepath.Dir(s.path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("saved searches %s: %w", s.path, err)
	}
	f, err := os.CreateTemp(dir, ".ui-searches-*.tmp")
	if err != nil {
		return fmt.Errorf("saved searches %s: %w", s.path, err)
	}
	tmp := f.Name()
	_, err = f.Write(append(data, '\n'))
	if err == nil {
		err = f.Chmod(0o600)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, s.path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("saved searches %s: %w", s.path, err)
	}
	s.saved = s.gen
	return nil
}
