package ui

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smtpscope/smtpscope/collector/api"
)

// TestExportIntel: `e` on an email offers its STIX 2.1 bundle and MISP
// event, and those of every email of the search; each is written to the
// path typed, as `smtpscope export --format stix2|misp` writes it.
func TestExportIntel(t *testing.T) {
	b := fixtureBackend(t)
	res, err := b.Search(t.Context(), "", api.SearchOptions{Kind: api.KindEmail, Limit: 1000, IDsOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	emails := len(res.Rows)
	if emails < 2 {
		t.Fatalf("the fixture has %d emails", emails)
	}
	dir := t.TempDir()
	m, tm := newTestModelIn(t, b, false, dir)
	waitFor(t, m, "Weekly digest")

	export := func(choice, label, name string) []byte {
		t.Helper()
		press(tm, "e")
		waitFor(t, m, label)
		press(tm, choice)
		path := filepath.Join(dir, name)
		waitFor(t, m, "path: "+path)
		press(tm, "enter")
		// The file is whole when it parses (a bundle or an event closes
		// at its end); a bound on liveness, not a speed check.
		var data []byte
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if data, _ = os.ReadFile(path); json.Valid(data) {
				return data
			}
		}
		t.Fatalf("%s never written whole: %.200s", path, data)
		return nil
	}
	row := m.list.Selected()
	if row == nil || row.Kind != api.KindEmail {
		t.Fatalf("selected %+v", row)
	}

	count := func(data []byte) (observed int) {
		t.Helper()
		var bundle struct {
			Type    string `json:"type"`
			Objects []struct {
				Type string `json:"type"`
			} `json:"objects"`
		}
		if err := json.Unmarshal(data, &bundle); err != nil || bundle.Type != "bundle" {
			t.Fatalf("not a bundle: %v\n%.200s", err, data)
		}
		for _, o := range bundle.Objects {
			if o.Type == "observed-data" {
				observed++
			}
		}
		return observed
	}
	emailObjects := func(data []byte) (n int, info string) {
		t.Helper()
		var ev struct {
			Event struct {
				Info   string
				Object []struct {
					Name string `json:"name"`
				}
			}
		}
		if err := json.Unmarshal(data, &ev); err != nil {
			t.Fatalf("not a MISP event: %v\n%.200s", err, data)
		}
		for _, o := range ev.Event.Object {
			if o.Name == "email" {
				n++
			}
		}
		return n, ev.Event.Info
	}

	one := export("4", "STIX 2.1 bundle", row.ID+".stix.json")
	if n := count(one); n != 1 {
		t.Errorf("this email's bundle: %d observed-data", n)
	}
	if n, info := emailObjects(export("5", "MISP event", row.ID+".misp.json")); n != 1 || !strings.Contains(info, row.ID) {
		t.Errorf("this email's event: %d email objects, info %q", n, info)
	}
	if n := count(export("6", "results: STIX 2.1 bundle", "search.stix.json")); n != emails {
		t.Errorf("the search's bundle: %d observed-data, want %d", n, emails)
	}
	if n, _ := emailObjects(export("7", "results: MISP event", "search.misp.json")); n != emails {
		t.Errorf("the search's event: %d email objects, want %d", n, emails)
	}
	tm.Quit()
}
