package capture

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/smtpscope/smtpscope/core"
)

const pcapCorpus = "../../../shared/corpus/pcap"

// TestCommunityIDMatchesArkime: Arkime's expected output for the corpus
// captures carries each session's network.community_id; the session files
// smtpscope makes of the same captures give the same IDs.
func TestCommunityIDMatchesArkime(t *testing.T) {
	if _, err := os.Stat(pcapCorpus); err != nil {
		t.Skipf("shared pcap corpus absent (%s): %v", pcapCorpus, err)
	}
	cidRe := regexp.MustCompile(`"community_id" : "([^"]+)"`)
	tests, _ := filepath.Glob(filepath.Join(pcapCorpus, "expected/arkime/*.test"))
	checked := 0
	for _, tf := range tests {
		name := strings.TrimSuffix(filepath.Base(tf), ".test")
		if strings.HasPrefix(name, "socks5") {
			continue // SMTP inside a SOCKS tunnel: Arkime hashes the tunnel's connection
		}
		pcap := filepath.Join(pcapCorpus, "arkime__"+name+".pcap")
		if _, err := os.Stat(pcap); err != nil {
			pcap = filepath.Join(pcapCorpus, "extra", "arkime__"+name+".pcap")
		}
		b, err := os.ReadFile(tf)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]bool{}
		for _, m := range cidRe.FindAllStringSubmatch(string(b), -1) {
			want[m[1]] = true
		}
		if len(want) == 0 {
			continue
		}
		got := map[string]bool{}
		err = Process(context.Background(), []string{pcap}, Options{}, func(sf *SessionFile) error {
			s, err := core.ParseSession(bytes.NewReader(sf.Data), sf.UID, time.Time{})
			if err != nil {
				return err
			}
			if s.Info.CommunityID == "" {
				t.Errorf("%s: session %s has no community id", name, sf.UID)
			}
			got[s.Info.CommunityID] = true
			return nil
		})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(got) == 0 {
			t.Logf("%s: no SMTP session in the capture (%d community ids in Arkime's output)", name, len(want))
			continue
		}
		for id := range want {
			if !got[id] {
				t.Errorf("%s: Arkime's community id %s is not among ours %v", name, id, got)
			}
			checked++
		}
	}
	if checked < 10 {
		t.Fatalf("only %d community ids checked against Arkime", checked)
	}
}
