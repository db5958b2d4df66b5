package facets

import (
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"

	"github.com/smtpscope/smtpscope/collector/api"
	"github.com/smtpscope/smtpscope/ui/common"
	"github.com/smtpscope/smtpscope/ui/keys"
	"github.com/smtpscope/smtpscope/ui/styles"
)

// TestCountsNeverCut: a big count is shown whole (14k), beside a value
// that gives way instead.
func TestCountsNeverCut(t *testing.T) {
	ctx := &common.Context{Styles: styles.NewPlain(), Keys: keys.Default(), Loc: time.UTC, Now: time.Now}
	m := New(ctx)
	m.SetSize(Width, 10)
	m.SetFacets([]api.Facet{{Name: "sender domain", Terms: []api.FacetTerm{
		{Term: "a-very-long-sender-domain.example.org", Count: 14523, Filter: "sender:x"},
		{Term: "b.example", Count: 1234567, Filter: "sender:b"},
	}}}, nil)
	v := ansi.Strip(m.View())
	for _, want := range []string{"a-very-long-sen…", " 14k", " 1.2M"} {
		if !strings.Contains(v, want) {
			t.Errorf("panel lacks %q:\n%s", want, v)
		}
	}
}
