package ui

import (
	"context"
	"testing"

	"github.com/smtpscope/smtpscope/collector/api"
)

// TestHunts: an email a hunt matched says so in the list ([hunt:NAME]
// before its subject) and in its Summary (Hunts); H lists the
// collector's hunts with their match counts, groups and queries, and
// hunt:NAME finds the tagged email.
func TestHunts(t *testing.T) {
	mem := memoryFixture(t)
	res, err := mem.Search(context.Background(), "subject:INV-2025-1187", api.SearchOptions{Limit: 1})
	if err != nil || len(res.Rows) != 1 {
		t.Fatalf("fixture invoice: %v %+v", err, res)
	}
	mem.SetHunts(api.HuntStatus{Name: "invoices", Query: "subject:invoice", DeliverTo: []string{"default"}},
		api.HuntStatus{Name: "idle", Query: "subject:zzz"})
	mem.TagHunt(res.Rows[0].ID, "invoices")
	m, tm := newTestModel(t, mem, false)
	waitFor(t, m, "[hunt:invoices] Invoi", "Weekly digest")
	press(tm, "H")
	waitFor(t, m, "hunts (search hunt:NAME", "hunt:invoices  1 matched · to default · subject:invoice", "hunt:idle      0 matched · to - · subject:zzz")
	press(tm, "esc")
	waitFor(t, m, "Weekly digest")
	openOne(t, m, tm, "hunt:invoices", "Hunts           invoices")
	tm.Quit()
}
