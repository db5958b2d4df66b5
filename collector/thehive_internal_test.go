package collector

import "testing"

// FuzzTheHiveDuplicate: the reading of TheHive's answers never panics;
// only 409, or 400 saying the alert exists, is a duplicate (sent): any
// other status is not, whatever its body says.
func FuzzTheHiveDuplicate(f *testing.F) {
	f.Add(400, []byte(`{"type":"CreateError","message":"Alert smtpscope/smtpscope/mx1/C1.0 already exists"}`))
	f.Add(400, []byte(`{"type":"AttributeCheckingError","message":"severity 5"}`))
	f.Add(409, []byte(``))
	f.Add(500, []byte(`{"message":"already exists"}`))
	f.Add(400, []byte(`{"type":"ConflictError"`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		dup := theHiveDuplicate(status, body)
		if status == 409 && !dup {
			t.Fatal("409 is not a duplicate")
		}
		if status != 409 && status != 400 && dup {
			t.Fatalf("status %d is a duplicate", status)
		}
	})
}

// TestTheHiveDuplicate: TheHive's duplicate answers are duplicates, its
// validation errors are not.
func TestTheHiveDuplicate(t *testing.T) {
	for _, c := range []struct {
		status int
		body   string
		want   bool
	}{
		{400, `{"type":"CreateError","message":"Alert x already exists"}`, true},
		{400, `{"type":"ConflictError","message":"document already exists (current version [2])"}`, true},
		{409, `{}`, true},
		{400, `{"type":"AttributeCheckingError","message":"severity 5 out of range"}`, false},
		{400, `not json`, false},
		{500, `{"message":"already exists"}`, false},
	} {
		if got := theHiveDuplicate(c.status, []byte(c.body)); got != c.want {
			t.Errorf("%d %s: %v, want %v", c.status, c.body, got, c.want)
		}
	}
}
