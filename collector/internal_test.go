package collector

import (
	"fmt"
	"testing"
	"time"
)

func TestCoverage(t *testing.T) {
	for _, cov := range []int{1, 10, 50, 90} {
		n := 0
		for i := 0; i < 20000; i++ {
			id := fmt.Sprintf("C%d.0", i)
			in := covers("g", cov, id)
			if in != covers("g", cov, id) {
				t.Fatal("coverage is not deterministic")
			}
			if in {
				n++
			}
		}
		share := float64(n) / 200
		if share < float64(cov)-2 || share > float64(cov)+2 {
			t.Errorf("coverage %d%%: %.1f%% of emails", cov, share)
		}
	}
	if !covers("g", 100, "x") || covers("g", 0, "x") {
		t.Error("bounds")
	}
}

func TestBackoff(t *testing.T) {
	lo, hi := time.Second, 30*time.Second
	for a := 1; a < 40; a++ {
		want := lo << min(a-1, 20)
		want = min(want, hi)
		for i := 0; i < 50; i++ {
			d := backoff(a, lo, hi)
			if d < want/2 || d > want {
				t.Fatalf("attempt %d: %s not in [%s, %s]", a, d, want/2, want)
			}
		}
	}
}

func TestFileName(t *testing.T) {
	if fileName("CAbc.0") != "CAbc.0" {
		t.Error("safe id changed")
	}
	a, b := fileName("a b.0"), fileName("a_b.0")
	if a == b || b != "a_b.0" {
		t.Errorf("ids collide: %q %q", a, b)
	}
	if f := fileName("../../etc/passwd"); f[0] == '.' || len(f) == 0 {
		t.Errorf("unsafe %q", f)
	}
}
