package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/smtpscope/smtpscope/collector"
	"github.com/smtpscope/smtpscope/core"
)

// TestExportSTIXMISP: export --format stix2 and misp write one bundle and
// one event of the emails the query finds, with an indicator and a file
// object per stored attachment (the formats themselves are checked
// against their rules in core's tests).
func TestExportSTIXMISP(t *testing.T) {
	data := storedDataDir(t)
	st, err := collector.OpenStore(data, collector.StoreOptions{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var atts []core.Attachment
	for _, id := range []string{"demo-hostile.0", "demo-invoice.0"} {
		rec, err := st.Record(id)
		if err != nil {
			t.Fatal(err)
		}
		atts = append(atts, rec.Attachments...)
	}
	st.Close()
	if len(atts) == 0 {
		t.Fatal("the stored emails have no attachment")
	}

	out, errs, err := export(t, false, "--data", data, "--format", "stix2", "has:attachment")
	if err != nil || !strings.Contains(errs, "exported 2 emails (stix2) to standard output") {
		t.Fatalf("stix2: %v\n%s", err, errs)
	}
	var bundle struct {
		Type    string           `json:"type"`
		Objects []map[string]any `json:"objects"`
	}
	if err := json.Unmarshal([]byte(out), &bundle); err != nil || bundle.Type != "bundle" {
		t.Fatalf("stix2 output: %v\n%.300s", err, out)
	}
	var observed int
	var patterns []string
	for _, o := range bundle.Objects {
		switch o["type"] {
		case "observed-data":
			observed++
		case "indicator":
			patterns = append(patterns, o["pattern"].(string))
		}
	}
	if observed != 2 {
		t.Errorf("%d observed-data, want one per email found", observed)
	}
	for _, a := range atts {
		if want := "[file:hashes.'SHA-256' = '" + a.SHA256 + "']"; !slices.Contains(patterns, want) {
			t.Errorf("no indicator %s", want)
		}
	}

	path := filepath.Join(t.TempDir(), "event.json")
	_, errs, err = export(t, false, "--data", data, "--format", "misp", "--info", "invoice wave", "-o", path, "has:attachment")
	if err != nil || !strings.Contains(errs, "exported 2 emails (misp) to "+path) {
		t.Fatalf("misp: %v\n%s", err, errs)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var ev struct {
		Event struct {
			Info   string `json:"info"`
			Object []struct {
				Name      string `json:"name"`
				Attribute []struct {
					Relation string `json:"object_relation"`
					Value    string `json:"value"`
				} `json:"Attribute"`
			} `json:"Object"`
		} `json:"Event"`
	}
	if err := json.Unmarshal(b, &ev); err != nil || ev.Event.Info != "invoice wave" {
		t.Fatalf("misp output: %v, info %q", err, ev.Event.Info)
	}
	var emails int
	var sha256s []string
	for _, o := range ev.Event.Object {
		if o.Name == "email" {
			emails++
		}
		for _, a := range o.Attribute {
			if o.Name == "file" && a.Relation == "sha256" {
				sha256s = append(sha256s, a.Value)
			}
		}
	}
	if emails != 2 || len(sha256s) != len(atts) {
		t.Errorf("%d email objects, %d file objects; want 2 and %d", emails, len(sha256s), len(atts))
	}
	for _, a := range atts {
		if !slices.Contains(sha256s, a.SHA256) {
			t.Errorf("no file object of %s", a.SHA256)
		}
	}

	_, _, err = export(t, false, "--data", data, "--format", "stix2", "--info", "x")
	wantErr(t, "--info without misp", err, exitUsage, "only with --format misp")
	_, _, err = export(t, false, "--data", data, "--format", "misp", "-o", path)
	wantErr(t, "misp over a file", err, 1, "exists; choose another -o FILE or add --force")
}
