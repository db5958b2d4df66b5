package core

import (
	"strings"
	"testing"
)

func TestValidSensor(t *testing.T) {
	for _, ok := range []string{"s1", "dmz-edge_02", strings.Repeat("a", MaxSensorLen)} {
		if err := ValidSensor(ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "session", "review", "a.b", "a/b", "a b", "a*", "a>", "é", strings.Repeat("a", MaxSensorLen+1)} {
		if ValidSensor(bad) == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestSensorFromHost(t *testing.T) {
	for in, want := range map[string]string{
		"sensor1.corp.example": "sensor1",
		"dmz edge":             "dmz_edge",
		"":                     "sensor",
		".corp":                "sensor",
		"höst":                 "h__st",
		"review.corp":          "review_",
		"session":              "session_",
	} {
		if got := SensorFromHost(in); got != want {
			t.Errorf("SensorFromHost(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestGlobalID(t *testing.T) {
	if g := GlobalID("s1", "CAbc.0"); g != "s1/CAbc.0" {
		t.Fatalf("GlobalID = %q", g)
	}
	if GlobalID("s1", "eml-ab") == GlobalID("s2", "eml-ab") {
		t.Fatal("one id on two sensors gave one global id")
	}
	if g := GlobalID("", "x"); g != "x" {
		t.Fatalf("GlobalID without sensor = %q", g)
	}
	if s, id := SplitGlobalID("s1/C%2Fx.0"); s != "s1" || id != "C%2Fx.0" {
		t.Fatalf("SplitGlobalID = %q %q", s, id)
	}
}

// FuzzSensor: SensorFromHost always gives a valid name, and GlobalID of
// a valid sensor and an escaped id splits back into both.
func FuzzSensor(f *testing.F) {
	for _, s := range []string{"host.example", "", "a/b", "\xff"} {
		f.Add(s, "C1.0")
	}
	f.Fuzz(func(t *testing.T, host, id string) {
		s := SensorFromHost(host)
		if err := ValidSensor(s); err != nil {
			t.Fatalf("SensorFromHost(%q) = %q: %v", host, s, err)
		}
		id = EscapeID(id)
		if gs, gid := SplitGlobalID(GlobalID(s, id)); gs != s || gid != id {
			t.Fatalf("split(%q, %q) = %q, %q", s, id, gs, gid)
		}
	})
}
