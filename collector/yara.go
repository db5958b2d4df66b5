package collector

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/smtpscope/smtpscope/core"
)

// yaraSet is the collector's YARA rule set: compiled once at start,
// replaced on reload. It implements core.Scanner (and core.VarScanner:
// YARA's external variables per object) so that analyzers built
// before a reload use the new rules too.
//
// A reload compiles the new rules first (a syntax error keeps the old
// ones), swaps the pointer, then closes the old set; Close waits for the
// scans running on it. A scan that loaded the old set just before the
// swap and reaches it after Close gets core.ErrYaraClosed and runs again
// on the current set.
type yaraSet struct {
	cur   atomic.Pointer[core.YaraRules]
	mu    sync.Mutex // serializes reloads
	paths []string   // the paths the current rules were compiled from
}

// Scan runs the current rules over data; with no rules it matches nothing.
func (y *yaraSet) Scan(data []byte, timeout time.Duration) ([]core.YaraMatch, error) {
	return y.scan(func(r *core.YaraRules) ([]core.YaraMatch, error) { return r.Scan(data, timeout) })
}

// ScanVars is Scan with the scanned object's external variables
// (core.VarScanner).
func (y *yaraSet) ScanVars(data []byte, v core.YaraVars, timeout time.Duration) ([]core.YaraMatch, error) {
	return y.scan(func(r *core.YaraRules) ([]core.YaraMatch, error) { return r.ScanVars(data, v, timeout) })
}

func (y *yaraSet) scan(run func(*core.YaraRules) ([]core.YaraMatch, error)) ([]core.YaraMatch, error) {
	for range 8 {
		r := y.cur.Load()
		if r == nil {
			return nil, nil
		}
		m, err := run(r)
		if errors.Is(err, core.ErrYaraClosed) && y.cur.Load() != r {
			continue // swapped and closed under us: use the new set
		}
		return m, err
	}
	return nil, errors.New("yara: rules replaced repeatedly during one scan")
}

// load compiles paths and makes them the current rules (nil or empty
// paths: no rules). On error the current rules stay.
func (y *yaraSet) load(paths []string) error {
	y.mu.Lock()
	defer y.mu.Unlock()
	var nr *core.YaraRules
	if len(paths) > 0 {
		var err error
		if nr, err = core.CompileYara(paths); err != nil {
			return fmt.Errorf("analysis.yara_rules: %w", err)
		}
	}
	old := y.cur.Swap(nr)
	y.paths = slices.Clone(paths)
	old.Close() // waits for the scans running on it; nil-safe
	return nil
}

// rules returns the current rule set (nil when none).
func (y *yaraSet) rules() *core.YaraRules { return y.cur.Load() }

// close drops the rules.
func (y *yaraSet) close() {
	y.mu.Lock()
	defer y.mu.Unlock()
	y.cur.Swap(nil).Close()
}
