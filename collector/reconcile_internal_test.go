package collector

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestHubCountsPassed: an email counts as due at the hub when its
// receipt is on the hub's stream at or below the ack floor, or it was
// sent before the stream was created; anything else does not.
func TestHubCountsPassed(t *testing.T) {
	created := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	hc := HubCounts{Stream: "SMTPSCOPE", Created: created, AckFloor: 10}
	after := created.Add(time.Minute)
	for _, c := range []struct {
		st   SubmissionStatus
		want bool
	}{
		{SubmissionStatus{UUID: "SMTPSCOPE/10", Sent: after}, true},
		{SubmissionStatus{UUID: "SMTPSCOPE/3 (duplicate)", Sent: after}, true},
		{SubmissionStatus{UUID: "SMTPSCOPE/11", Sent: after}, false},
		{SubmissionStatus{UUID: "OTHER/1", Sent: after}, false},
		{SubmissionStatus{UUID: "SMTPSCOPE/x", Sent: after}, false},
		{SubmissionStatus{UUID: "", Sent: after}, false},
		{SubmissionStatus{UUID: "SMTPSCOPE/99", Sent: created.Add(-time.Second)}, true}, // the stream was made anew since
		{SubmissionStatus{UUID: "OTHER/99", Sent: created.Add(-time.Second)}, true},
	} {
		if got := hc.passed(c.st); got != c.want {
			t.Errorf("passed(%q sent %v) = %v, want %v", c.st.UUID, c.st.Sent, got, c.want)
		}
	}
}

// FuzzHubCountsPassed: receipts are our own strings, but a store may be
// damaged: any receipt is judged without panic, and only a receipt of
// the form <stream>/<sequence up to the floor> passes (sent after the
// stream's creation).
func FuzzHubCountsPassed(f *testing.F) {
	for _, s := range []string{"SMTPSCOPE/1", "SMTPSCOPE/10 (duplicate)", "SMTPSCOPE/", "/5", "SMTPSCOPE/-1", "SMTPSCOPE/18446744073709551616", "a/b/c"} {
		f.Add(s, uint64(10))
	}
	created := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, receipt string, floor uint64) {
		hc := HubCounts{Stream: "SMTPSCOPE", Created: created, AckFloor: floor}
		got := hc.passed(SubmissionStatus{UUID: receipt, Sent: created.Add(time.Hour)})
		r, _, _ := strings.Cut(receipt, " ")
		seq, ok := strings.CutPrefix(r, "SMTPSCOPE/")
		n, err := strconv.ParseUint(seq, 10, 64)
		if want := ok && err == nil && n <= floor; got != want {
			t.Errorf("passed(%q, floor %d) = %v, want %v", receipt, floor, got, want)
		}
	})
}
