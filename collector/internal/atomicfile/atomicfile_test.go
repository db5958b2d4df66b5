package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	mt := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, data := range []string{"first", "second"} {
		if err := Write(p, []byte(data), mt, true); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(p)
		if err != nil || string(got) != data {
			t.Fatalf("read %q %v, want %q", got, err, data)
		}
	}
	st, _ := os.Stat(p)
	if !st.ModTime().Equal(mt) {
		t.Errorf("mtime %v", st.ModTime())
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("temporary files left: %v", ents)
	}
	if err := Write(filepath.Join(dir, "no", "such", "dir", "f"), nil, time.Time{}, false); err == nil {
		t.Error("writing into a missing directory succeeded")
	}
}
