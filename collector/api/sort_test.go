package api

import (
	"errors"
	"slices"
	"testing"
)

func TestParseSort(t *testing.T) {
	for in, want := range map[string]SortSpec{
		"": {SortTime, true}, "newest": {SortTime, true}, "oldest": {SortTime, false},
		"size": {SortSize, false}, "-size": {SortSize, true}, "+sender": {SortSender, false}, "-status": {SortStatus, true},
	} {
		if got, err := ParseSort(in); err != nil || got != want {
			t.Errorf("ParseSort(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, in := range []string{"bogus", "--time", "-", "+-size", "Size", " size"} {
		if _, err := ParseSort(in); !errors.Is(err, ErrSortUnsupported) {
			t.Errorf("ParseSort(%q): %v, want ErrSortUnsupported", in, err)
		}
	}
	for _, s := range Sorts {
		if _, err := ParseSort(s); err != nil {
			t.Errorf("Sorts has %q: %v", s, err)
		}
	}
}

func FuzzParseSort(f *testing.F) {
	for _, s := range []string{"", "newest", "oldest", "-size", "+sender", "--time", "status", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sp, err := ParseSort(s)
		if err != nil {
			return
		}
		if !slices.Contains(SortFields, sp.Field) {
			t.Fatalf("ParseSort(%q) = %+v", s, sp)
		}
		back, err := ParseSort(sp.String())
		if err != nil || back != sp {
			t.Fatalf("round trip of %q: %+v, %v", s, back, err)
		}
	})
}
