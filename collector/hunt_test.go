package collector_test

import (
	"strings"
	"testing"

	"github.com/smtpscope/smtpscope/collector"
)

// TestHuntConfig: hunt names are index keywords, deliver_to names
// groups that exist, names are unique, queries are not empty.
func TestHuntConfig(t *testing.T) {
	cfg := &collector.Config{Spool: "s", Data: "d", Groups: []collector.GroupConfig{{Name: "g", Nodes: []string{"http://x"}}},
		Hunts: []collector.HuntConfig{{Name: "Bad Name", Query: "a"}, {Name: "ok", Query: "a", DeliverTo: []string{"nope"}},
			{Name: "ok", Query: " "}, {Name: "fine", Query: "from:x", DeliverTo: []string{"g"}}}}
	cfg.ApplyDefaults()
	err := cfg.Validate()
	for _, want := range []string{`hunt 1 ("Bad Name"): name`, `hunt 2 ("ok"): deliver_to: no group named "nope"`,
		`hunt 3 ("ok"): duplicate hunt name`, `hunt 3 ("ok"): query is empty`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v: want %q", err, want)
		}
	}
	if err != nil && strings.Contains(err.Error(), "fine") {
		t.Errorf("a valid hunt refused: %v", err)
	}
}
