package main

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// unitFile is a systemd unit: section -> key -> values (in order).
type unitFile map[string]map[string][]string

func parseUnit(t *testing.T, path string) unitFile {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	u := unitFile{}
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
			if u[section] == nil {
				u[section] = map[string][]string{}
			}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s:%d: not a key=value line in a section: %q", path, n, line)
			}
			u[section][strings.TrimSpace(k)] = append(u[section][strings.TrimSpace(k)], strings.TrimSpace(v))
		}
	}
	return u
}

// hardening is what every unit of ours sets (README "Sensor install").
var hardening = map[string]string{
	"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes", "PrivateDevices": "yes",
	"ProtectKernelTunables": "yes", "ProtectKernelModules": "yes", "ProtectControlGroups": "yes",
	"RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX", "RestrictNamespaces": "yes", "LockPersonality": "yes",
	"MemoryDenyWriteExecute": "yes", "SystemCallArchitectures": "native", "UMask": "0027", "User": "smtpscope",
	"KillSignal": "SIGTERM",
}

// TestSystemdUnits: each unit under collector/systemd runs a real verb
// with flags (and SMTPSCOPE_* environment) the binary accepts, has our
// hardening, may write only its data dir (and the collector its spool),
// asks for a reload (SIGHUP) only of a verb that reloads (collect: the
// hub would die of it), and, where systemd-analyze exists, verifies
// without a warning.
func TestSystemdUnits(t *testing.T) {
	units, err := filepath.Glob(filepath.Join("..", "..", "collector", "systemd", "*.service"))
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, len(units))
	for i, p := range units {
		names[i] = filepath.Base(p)
	}
	for _, want := range []string{"smtpscope-collect.service", "smtpscope-hub.service"} {
		if !slices.Contains(names, want) {
			t.Errorf("collector/systemd lacks %s (has %v)", want, names)
		}
	}
	for _, path := range units {
		t.Run(filepath.Base(path), func(t *testing.T) {
			u := parseUnit(t, path)
			svc := u["Service"]
			for k, v := range hardening {
				if got := svc[k]; len(got) != 1 || got[0] != v {
					t.Errorf("%s=%q, want %q", k, got, v)
				}
			}
			if len(u["Install"]["WantedBy"]) == 0 {
				t.Error("no WantedBy in [Install]")
			}
			exec := svc["ExecStart"]
			if len(exec) != 1 {
				t.Fatalf("ExecStart %q: want one", exec)
			}
			args := strings.Fields(exec[0])
			if len(args) < 2 || args[0] != "/usr/local/bin/smtpscope" {
				t.Fatalf("ExecStart %q: want /usr/local/bin/smtpscope VERB ...", exec[0])
			}
			for _, env := range svc["Environment"] {
				k, v, ok := strings.Cut(env, "=")
				if !ok || !strings.HasPrefix(k, "SMTPSCOPE_") {
					t.Errorf("Environment=%s: want SMTPSCOPE_NAME=value", env)
					continue
				}
				t.Setenv(k, v)
			}
			var cli CLI
			var stderr bytes.Buffer
			ctx, code := parseArgs(&cli, args[1:], &stderr)
			if ctx == nil || code != 0 {
				t.Fatalf("smtpscope %s: exit %d: %s", strings.Join(args[1:], " "), code, stderr.String())
			}
			verb := ctx.Selected().Name
			if verb != args[1] {
				t.Errorf("ExecStart runs verb %q, parsed as %q", args[1], verb)
			}
			rw := strings.Fields(strings.Join(svc["ReadWritePaths"], " "))
			switch verb {
			case "collect":
				if !slices.Contains(svc["ExecReload"], "/bin/kill -HUP $MAINPID") {
					t.Errorf("collect reloads its config on SIGHUP: ExecReload %q", svc["ExecReload"])
				}
			case "hub":
				if len(svc["ExecReload"]) > 0 {
					t.Errorf("ExecReload %q: the hub does not reload on SIGHUP (it would stop)", svc["ExecReload"])
				}
				if !slices.Contains(rw, cli.Hub.Data) {
					t.Errorf("hub data dir %s not in ReadWritePaths %q", cli.Hub.Data, rw)
				}
				if len(cli.Hub.NATS) == 0 {
					t.Error("the hub unit names no NATS server")
				}
			default:
				t.Errorf("a unit for verb %q: only collect and hub run as services", verb)
			}
			for _, p := range rw {
				if !strings.HasPrefix(p, "/var/lib/smtpscope") && !strings.HasPrefix(p, "/var/spool/smtpscope") {
					t.Errorf("ReadWritePaths %s: a unit writes only its data dir (and spool)", p)
				}
			}
			verifyUnit(t, path)
		})
	}
}

// verifyUnit runs systemd-analyze verify on a copy of the unit whose
// ExecStart names an existing file (this test binary), when the tool
// exists; any warning about the unit fails.
func verifyUnit(t *testing.T, path string) {
	t.Helper()
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Log("systemd-analyze not found: unit checked by parsing only")
		return
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	copyPath := filepath.Join(t.TempDir(), filepath.Base(path))
	if err := os.WriteFile(copyPath, bytes.ReplaceAll(b, []byte("/usr/local/bin/smtpscope"), []byte(self)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(sa, "verify", copyPath).CombinedOutput()
	if err != nil {
		t.Errorf("systemd-analyze verify %s: %v\n%s", filepath.Base(path), err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, filepath.Base(path)) {
			t.Errorf("systemd-analyze verify: %s", line)
		}
	}
}
