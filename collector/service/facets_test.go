package service

import (
	"testing"

	"github.com/smtpscope/smtpscope/index"
)

// Every facet of the index narrows the search with the index's exact
// filter for that field.
func TestIndexFacetsNarrow(t *testing.T) {
	fs := indexFacets(map[string][]index.FacetCount{
		index.FacetSenderDomain: {{Term: "evil.example", Count: 2}},
		index.FacetAttachType:   {{Term: "application/zip", Count: 1}},
		index.FacetIOCType:      {{Term: "url", Count: 3}},
		index.FacetStatus:       {{Term: "sent", Count: 4}},
		index.FacetSensor:       {{Term: "dmz-1", Count: 3}, {Term: "dmz-2", Count: 1}},
	})
	want := []string{"sender:evil.example", "type:application/zip", "ioctype:url", "status:sent", "sensor:dmz-1"}
	if len(fs) != len(want) {
		t.Fatalf("%d facets", len(fs))
	}
	for i, f := range fs {
		if len(f.Terms) < 1 || f.Terms[0].Filter != want[i] {
			t.Errorf("facet %s: %+v, want filter %q", f.Name, f.Terms, want[i])
		}
	}
	if f := fs[4]; f.Name != "sensor" || len(f.Terms) != 2 || f.Terms[1].Filter != "sensor:dmz-2" {
		t.Errorf("sensor facet %+v", f)
	}
	// one sensor: no sensor section
	fs = indexFacets(map[string][]index.FacetCount{index.FacetSensor: {{Term: "dmz-1", Count: 3}}})
	for _, f := range fs {
		if f.Name == "sensor" {
			t.Errorf("sensor facet with one sensor: %+v", f)
		}
	}
}
