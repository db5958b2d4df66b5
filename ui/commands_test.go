package ui

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/charmbracelet/x/ansi"
)

// typeCommand opens the command line and types line (no enter).
func typeCommand(tm interface{ Type(string) }, line string) {
	tm.Type(":" + line)
}

func TestCommandSort(t *testing.T) {
	m, tm := newTestModel(t, fixtureBackend(t), false)
	waitFor(t, m, "Weekly digest", "newest first")
	typeCommand(tm, "sort size")
	press(tm, "enter")
	waitFor(t, m, "by size ▲", "7 results")
	typeCommand(tm, "sort -time")
	press(tm, "enter")
	waitFor(t, m, "newest first")
	typeCommand(tm, "sort -iocs")
	press(tm, "enter")
	waitFor(t, m, "by iocs ▼", "IOC▼")
	waitFirstRow(t, m, "Your account has been")
	fm, _ := frame(t, m, tm)
	if fm.sort != "-iocs" {
		t.Fatalf("sort = %q", fm.sort)
	}
	for i := 1; i < fm.list.Len(); i++ {
		if fm.list.Row(i).IOC > fm.list.Row(i-1).IOC {
			t.Fatalf("row %d has more IOCs than row %d", i, i-1)
		}
	}
}

func TestCommandErrors(t *testing.T) {
	m, tm := newTestModel(t, fixtureBackend(t), false)
	waitFor(t, m, "Weekly digest")
	typeCommand(tm, "frobnicate")
	press(tm, "enter")
	waitFor(t, m, `unknown command "frobnicate"`)
	typeCommand(tm, "sort weight")
	press(tm, "enter")
	waitFor(t, m, `"weight"`, "sort by time, size")
	typeCommand(tm, "resubmit nosuchgroup")
	press(tm, "enter")
	waitFor(t, m, `no enabled node group "nosuchgroup"`)
	fm, _ := frame(t, m, tm)
	if fm.sort != "-time" || fm.dlg != nil {
		t.Fatalf("a failed command changed the screen: sort %q, dialog %v", fm.sort, fm.dlg != nil)
	}
}

func TestCommandCompletion(t *testing.T) {
	m, tm := newTestModel(t, fixtureBackend(t), false)
	waitFor(t, m, "Weekly digest", "queue ")
	typeCommand(tm, "so")
	press(tm, "tab")
	tm.Type("-at")
	press(tm, "tab")
	waitFor(t, m, ":sort -attachments")
	press(tm, "enter")
	waitFor(t, m, "by attachments ▼")
	typeCommand(tm, "resubmit ")
	press(tm, "tab")
	waitFor(t, m, ":resubmit default")
	press(tm, "esc")
	waitFor(t, m, "press / to search")
	tm.Quit()
}

func TestCommandQuit(t *testing.T) {
	for _, q := range []string{"q", "quit"} {
		m, tm := newTestModel(t, fixtureBackend(t), false)
		waitFor(t, m, "Weekly digest")
		typeCommand(tm, q)
		press(tm, "enter")
		tm.WaitFinished(t)
		if m.bg.Err() == nil {
			t.Fatalf(":%s did not stop the model", q)
		}
	}
}

func TestCommandExport(t *testing.T) {
	b := fixtureBackend(t)
	dir := t.TempDir()
	m, tm := newTestModel(t, b, false)
	waitFor(t, m, "Weekly digest")
	press(tm, "/")
	tm.Type("subject:Hostile")
	press(tm, "enter")
	waitFor(t, m, "1 results")
	path := filepath.Join(dir, "case 42", "hostile.eml")
	typeCommand(tm, "export "+path)
	press(tm, "enter")
	waitFor(t, m, "raw message (.eml)")
	press(tm, "1") // raw message
	waitFor(t, m, "path: "+path)
	press(tm, "enter")
	waitFor(t, m, "wrote ")
	raw, err := os.ReadFile(path)
	if err != nil || !strings.Contains(string(raw), "Subject: Hostile") {
		t.Fatalf("exported: %.100q, %v", raw, err)
	}
	tm.Quit()
}

func TestCommandResubmit(t *testing.T) {
	m, tm := newTestModel(t, fixtureBackend(t), false)
	waitFor(t, m, "Weekly digest", "queue ")
	typeCommand(tm, "resubmit default")
	press(tm, "enter")
	waitFor(t, m, "Resubmit")
	press(tm, "1") // this email
	waitFor(t, m, "Resubmit 1 email to node group default?")
	fm, _ := frame(t, m, tm)
	if fm.dlg == nil || fm.dlg.step != stepConfirm || fm.dlg.group != "default" {
		t.Fatalf("dialog %+v", fm.dlg)
	}
}

func TestCommandHelp(t *testing.T) {
	m, tm := newTestModel(t, fixtureBackend(t), false)
	waitFor(t, m, "Weekly digest")
	typeCommand(tm, "help")
	press(tm, "enter")
	waitFor(t, m, "Command line", ":sort [-]FIELD", ":quit|q")
	tm.Quit()
}

// The command line with a completion listed, and an unknown command's
// message, at each golden size, dark and light.
func TestCommandGolden(t *testing.T) {
	for _, sz := range goldenSizes {
		for _, th := range themes {
			t.Run(sizeName(sz.w, sz.h)+th.suffix, func(t *testing.T) {
				m, tm := newSizedModel(t, fixtureBackend(t), sz.w, sz.h, Options{Dark: &th.dark})
				waitFor(t, m, "Weekly digest", "queue ")
				typeCommand(tm, "sort s")
				press(tm, "tab")
				waitFor(t, m, "size  sender  status")
				_, f := frameSized(t, m, tm)
				goldenH(t, "command_complete_"+sizeName(sz.w, sz.h)+th.suffix, f, sz.h)
				if !strings.Contains(ansi.Strip(f), ":sort s") {
					t.Fatal("the command line is not drawn")
				}

				m, tm = newSizedModel(t, fixtureBackend(t), sz.w, sz.h, Options{Dark: &th.dark})
				waitFor(t, m, "Weekly digest", "queue ")
				typeCommand(tm, "bogus")
				press(tm, "enter")
				waitFor(t, m, "unknown command")
				_, f = frameSized(t, m, tm)
				goldenH(t, "command_unknown_"+sizeName(sz.w, sz.h)+th.suffix, f, sz.h)
			})
		}
	}
}
