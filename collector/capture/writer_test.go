package capture

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/smtpscope/smtpscope/core"
)

// TestWriteDirNeverOverwrites: session files already in the spool (an
// unclaimed one with the same uid, a stale .ready, a second run of the same
// capture) are never replaced; each session gets a name of its own, its
// @uid matching the name.
func TestWriteDirNeverOverwrites(t *testing.T) {
	for _, named := range []bool{false, true} {
		t.Run(fmt.Sprintf("named=%v", named), func(t *testing.T) { testNeverOverwrites(t, named) })
	}
}

func testNeverOverwrites(t *testing.T, named bool) {
	var h syncHooks
	h.named = named
	dir := t.TempDir()
	var buf bytes.Buffer
	o := synthOpts{}
	if err := writePcap(&buf, o, synthSession(o, smtpSession(testMsgs[:1])), false); err != nil {
		t.Fatal(err)
	}
	in := filepath.Join(dir, "in.pcap")
	if err := os.WriteFile(in, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "spool")
	if _, err := WriteDir(context.Background(), []string{in}, Options{Sync: SyncNone, hooks: h}, out); err != nil {
		t.Fatal(err)
	}
	names := sessionNames(t, out)
	if len(names) != 1 {
		t.Fatalf("first run: %v", names)
	}
	uid := names[0]
	// Another session that happens to have this uid, not yet claimed, and
	// a .ready left for uid-2 whose session file was taken away.
	other := []byte("10.9.9.9:1/tcp\n1700000000\n> QUIT\n")
	os.WriteFile(filepath.Join(out, uid), other, 0o640)
	os.WriteFile(filepath.Join(out, uid+"-2.ready"), nil, 0o640)
	for run := 0; run < 2; run++ {
		if _, err := WriteDir(context.Background(), []string{in}, Options{Sync: SyncNone, hooks: h}, out); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := os.ReadFile(filepath.Join(out, uid)); !bytes.Equal(got, other) {
		t.Errorf("the unclaimed file %s was overwritten", uid)
	}
	names = sessionNames(t, out)
	want := []string{uid, uid + "-3", uid + "-4"}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Fatalf("session files %v, want %v", names, want)
	}
	for _, n := range want[1:] {
		s, err := core.ParseSessionFile(filepath.Join(out, n))
		if err != nil {
			t.Fatal(err)
		}
		if s.Info.UID != n || len(s.Messages) != 1 || !bytes.Equal(s.Messages[0].Data, testMsgs[0]) {
			t.Errorf("%s: uid %q, %d messages", n, s.Info.UID, len(s.Messages))
		}
		if _, err := os.Stat(filepath.Join(out, n+".ready")); err != nil {
			t.Errorf("%s has no .ready", n)
		}
	}
}

// sessionNames lists the session files (not .ready, not temporary) of dir.
func sessionNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		n := e.Name()
		if strings.HasPrefix(n, ".") {
			t.Errorf("temporary file left: %s", n)
		} else if !strings.HasSuffix(n, ".ready") {
			out = append(out, n)
		}
	}
	return out
}

// smallCapture writes a many-session capture of about mb MiB into dir.
func smallCapture(t *testing.T, dir string, mb float64) string {
	t.Helper()
	p := filepath.Join(dir, "many.pcap")
	manySessionsCapture(t, p, int64(mb*(1<<20)))
	return p
}

// dirState lists the session files of dir (name → content) and the names
// that have a .ready marker.
func dirState(t *testing.T, dir string) (files map[string][]byte, ready []string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	files = map[string][]byte{}
	for _, e := range ents {
		n := e.Name()
		switch {
		case strings.HasPrefix(n, "."):
		case strings.HasSuffix(n, ".ready"):
			ready = append(ready, strings.TrimSuffix(n, ".ready"))
		default:
			b, err := os.ReadFile(filepath.Join(dir, n))
			if err != nil {
				t.Fatal(err)
			}
			files[n] = b
		}
	}
	return files, ready
}

// TestBatchSyncBeforeReady: with SyncBatch, a .ready marker appears only
// after a sync of the file system that came after its session file was
// complete; the files are synced in several batches, not one each.
func TestBatchSyncBeforeReady(t *testing.T) {
	dir := t.TempDir()
	in := smallCapture(t, dir, 3)
	out := filepath.Join(dir, "spool")
	var mu sync.Mutex
	synced := map[string][]byte{} // session files as they were at a sync
	syncs, readies := 0, 0
	var h syncHooks
	h.batch.files = 3
	h.batch.delay = time.Hour
	h.syncFS = func(d *os.File, batch []string) error {
		mu.Lock()
		defer mu.Unlock()
		syncs++
		files, ready := dirState(t, out)
		for _, r := range ready {
			if _, ok := synced[r]; !ok {
				t.Errorf("sync %d: %s.ready exists, but no sync came after its file was written", syncs, r)
			}
		}
		for _, p := range batch {
			if _, ok := files[p]; !ok {
				t.Errorf("sync %d: %s is in the batch but not in the directory", syncs, p)
			}
		}
		for n, b := range files {
			if _, ok := synced[n]; !ok {
				synced[n] = b
			}
		}
		return syncFS(d, batch)
	}
	h.ready = func(dir string, dirfd int, marker string) error {
		mu.Lock()
		defer mu.Unlock()
		readies++
		name := strings.TrimSuffix(marker, ".ready")
		p := filepath.Join(dir, marker)
		want, ok := synced[name]
		if !ok {
			t.Errorf("%s.ready created before a sync of its file", name)
		}
		if got, _ := os.ReadFile(strings.TrimSuffix(p, ".ready")); !bytes.Equal(got, want) {
			t.Errorf("%s changed after it was synced", name)
		}
		return createReady(dirfd, dir, marker)
	}
	n, err := WriteDir(context.Background(), []string{in}, Options{Sync: SyncBatch, hooks: h}, out)
	if err != nil {
		t.Fatal(err)
	}
	if n < 12 {
		t.Fatalf("only %d sessions: the test needs several batches", n)
	}
	if readies != n {
		t.Errorf("%d .ready markers through the hook for %d sessions", readies, n)
	}
	// A batch is cut at 3 files, and up to 3 more are written while it
	// is synced: 3 to 6 files a sync.
	if syncs < (n+5)/6 || syncs > (n+2)/3 {
		t.Errorf("%d syncs for %d sessions in batches of 3 to 6", syncs, n)
	}
	files, ready := dirState(t, out)
	if len(files) != n || len(ready) != n {
		t.Errorf("%d files, %d .ready, want %d each", len(files), len(ready), n)
	}
	for _, r := range ready {
		if !bytes.Equal(files[r], synced[r]) {
			t.Errorf("%s: not as synced", r)
		}
	}
}

// TestBatchSyncDelay: a batch that does not fill up is synced and its
// .ready markers created within the batch delay, without waiting for the
// run to end.
func TestBatchSyncDelay(t *testing.T) {
	out := t.TempDir()
	var h syncHooks
	h.batch.delay = 50 * time.Millisecond
	w, err := newDirWriter(out, SyncBatch, h)
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()
	start := time.Now()
	sf := &SessionFile{UID: "Sdelay", Data: []byte("10.0.0.1:1/tcp\n1700000000\n> QUIT\n")}
	if err := w.write(sf); err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(out, "Sdelay.ready")); err == nil {
			break
		}
		if time.Since(start) > 30*time.Second {
			t.Fatal("no .ready 30 s after the file was written (batch delay 50 ms)")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := os.Stat(filepath.Join(out, "Sdelay")); err != nil {
		t.Fatal(err)
	}
}

// TestSyncEachFsyncsEveryFile: with SyncEach every session file is
// fsynced before its .ready marker exists, and no file-system sync is used.
func TestSyncEachFsyncsEveryFile(t *testing.T) {
	dir := t.TempDir()
	in := smallCapture(t, dir, 1)
	out := filepath.Join(dir, "spool")
	var mu sync.Mutex
	fsynced := map[uint64]bool{} // inodes
	fsyncs, fsSyncs := 0, 0
	var h syncHooks
	h.syncFile = func(fd int, tmp string) error {
		mu.Lock()
		defer mu.Unlock()
		fsyncs++
		var st syscall.Stat_t
		if err := syscall.Fstat(fd, &st); err != nil {
			return err
		}
		fsynced[st.Ino] = true
		return syscall.Fsync(fd)
	}
	h.syncFS = func(*os.File, []string) error { fsSyncs++; return nil }
	h.ready = func(dir string, dirfd int, marker string) error {
		mu.Lock()
		defer mu.Unlock()
		fi, err := os.Stat(filepath.Join(dir, strings.TrimSuffix(marker, ".ready")))
		if err != nil {
			return err
		}
		if !fsynced[fi.Sys().(*syscall.Stat_t).Ino] {
			t.Errorf("%s created before its file was fsynced", marker)
		}
		return createReady(dirfd, dir, marker)
	}
	n, err := WriteDir(context.Background(), []string{in}, Options{Sync: SyncEach, hooks: h}, out)
	if err != nil {
		t.Fatal(err)
	}
	if n < 3 || fsyncs != n {
		t.Errorf("%d fsyncs for %d sessions", fsyncs, n)
	}
	if fsSyncs != 0 {
		t.Errorf("%d file-system syncs in SyncEach mode", fsSyncs)
	}
	if _, ready := dirState(t, out); len(ready) != n {
		t.Errorf("%d .ready for %d sessions", len(ready), n)
	}
}

// TestKilledRunLeavesNoReadyWithoutFile kills a writing process (kill -9)
// at several points of its run: every .ready it left has its session file, complete
// (equal to a full run's).
func TestKilledRunLeavesNoReadyWithoutFile(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: kills child processes")
	}
	dir := t.TempDir()
	in := smallCapture(t, dir, 12)
	ref := filepath.Join(dir, "ref")
	total, err := WriteDir(context.Background(), []string{in}, Options{Sync: SyncNone}, ref)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := dirState(t, ref)
	partial := 0
	// Kill it once k markers exist (it goes on writing meanwhile).
	for i, k := range []int{1, 10, total / 3, total * 2 / 3, total - 5} {
		out := filepath.Join(dir, fmt.Sprintf("run%d", i))
		cmd := exec.Command(os.Args[0], "-test.run=^TestWriterChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), "SMTPSCOPE_WRITER_CHILD="+in, "SMTPSCOPE_WRITER_CHILD_OUT="+out)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		for start := time.Now(); time.Since(start) < 60*time.Second; time.Sleep(time.Millisecond) {
			if m, _ := filepath.Glob(filepath.Join(out, "*.ready")); len(m) >= k {
				break
			}
		}
		cmd.Process.Kill()
		cmd.Wait()
		files, ready := dirState(t, out)
		for _, r := range ready {
			got, ok := files[r]
			if !ok {
				t.Errorf("kill at %d .ready: %s.ready without its session file", k, r)
			} else if !bytes.Equal(got, want[r]) {
				t.Errorf("kill at %d .ready: %s.ready, but its session file is not complete (%d of %d bytes)", k, r, len(got), len(want[r]))
			}
		}
		if len(ready) > 0 && len(ready) < total {
			partial++
		}
		t.Logf("killed at %d .ready: %d session files, %d .ready of %d", k, len(files), len(ready), total)
	}
	if partial == 0 {
		t.Errorf("no run was killed midway (none had some but not all .ready): the test proved nothing")
	}
}

// TestWriterChild is the process TestKilledRunLeavesNoReadyWithoutFile
// kills: WriteDir with SyncBatch, each sync slowed down so that the run
// lasts long enough to be killed midway.
func TestWriterChild(t *testing.T) {
	arg := os.Getenv("SMTPSCOPE_WRITER_CHILD")
	if arg == "" {
		t.Skip("only run as a child of TestKilledRunLeavesNoReadyWithoutFile")
	}
	in, out := arg, os.Getenv("SMTPSCOPE_WRITER_CHILD_OUT")
	var h syncHooks
	h.batch.files = 4
	h.syncFS = func(d *os.File, batch []string) error {
		time.Sleep(10 * time.Millisecond)
		return syncFS(d, batch)
	}
	if _, err := WriteDir(context.Background(), []string{in}, Options{Sync: SyncBatch, hooks: h}, out); err != nil {
		t.Fatal(err)
	}
}

// TestSessionFileAttributes: a session file has the session's start as
// its mtime (to the nanosecond) and its exact bytes; its .ready marker is
// an empty regular file; no temporary file is left.
func TestSessionFileAttributes(t *testing.T) {
	for _, mode := range []SyncMode{SyncBatch, SyncEach, SyncNone, SyncNone + 100} {
		var h syncHooks
		if mode > SyncNone {
			mode, h.named = mode-100, true // the .tmp-* path
		}
		out := t.TempDir()
		w, err := newDirWriter(out, mode, h)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Unix(1700000000, 123456789)
		data := []byte("10.0.0.1:1/tcp\n1700000000\n@uid Sattr\n> QUIT\n")
		if err := w.write(&SessionFile{UID: "Sattr", Start: start, Data: data}); err != nil {
			t.Fatal(err)
		}
		if err := w.close(); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(filepath.Join(out, "Sattr"))
		if err != nil {
			t.Fatal(err)
		}
		if !fi.ModTime().Equal(start) {
			t.Errorf("%v: mtime %v, want %v", mode, fi.ModTime(), start)
		}
		if got, _ := os.ReadFile(filepath.Join(out, "Sattr")); !bytes.Equal(got, data) {
			t.Errorf("%v: content %q", mode, got)
		}
		ri, err := os.Lstat(filepath.Join(out, "Sattr.ready"))
		if err != nil || !ri.Mode().IsRegular() || ri.Size() != 0 {
			t.Errorf("%v: .ready %v %v", mode, ri, err)
		}
		if names := sessionNames(t, out); len(names) != 1 {
			t.Errorf("%v: files %v", mode, names)
		}
	}
}

// TestParseSyncMode: the --sync names map to the modes and back; an
// unknown name is an error that names it.
func TestParseSyncMode(t *testing.T) {
	for _, m := range []SyncMode{SyncBatch, SyncEach, SyncNone} {
		got, err := ParseSyncMode(m.String())
		if err != nil || got != m {
			t.Errorf("%v: %v %v", m, got, err)
		}
	}
	if m, err := ParseSyncMode(""); err != nil || m != SyncBatch {
		t.Errorf("empty: %v %v, want the default batch", m, err)
	}
	if _, err := ParseSyncMode("always"); err == nil || !strings.Contains(err.Error(), `"always"`) {
		t.Errorf("unknown mode: %v", err)
	}
}

// TestUnnamedTempFile: where the file system has O_TMPFILE (Linux's ext4
// and tmpfs do), a session file being written has no directory entry at
// all until it is linked under its name, complete, with its mtime; a
// temporary file that is never linked leaves nothing.
func TestUnnamedTempFile(t *testing.T) {
	out, dirfd := anonTempDir(t)
	entries := func() []string {
		ents, err := os.ReadDir(out)
		if err != nil {
			t.Fatal(err)
		}
		var n []string
		for _, e := range ents {
			n = append(n, e.Name())
		}
		return n
	}
	start := time.Unix(1700000000, 987654321)
	data := []byte("10.0.0.1:1/tcp\n1700000000\n> QUIT\n")
	tf := tempFile{dirfd: dirfd, dir: out, anon: true, fd: -1}
	if err := tf.write("Sanon", data, start, false, nil); err != nil {
		t.Fatal(err)
	}
	if n := entries(); len(n) != 0 {
		t.Errorf("written, not linked: the directory holds %v", n)
	}
	if err := tf.link("Sanon"); err != nil {
		t.Fatal(err)
	}
	if err := tf.link("Sanon"); !errors.Is(err, fs.ErrExist) {
		t.Errorf("linking over an existing name: %v, want EEXIST", err)
	}
	tf.remove()
	fi, err := os.Stat(filepath.Join(out, "Sanon"))
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(out, "Sanon")); !bytes.Equal(got, data) || !fi.ModTime().Equal(start) {
		t.Errorf("linked file: %q, mtime %v; want %q, %v", got, fi.ModTime(), data, start)
	}
	other := tempFile{dirfd: dirfd, dir: out, anon: true, fd: -1}
	if err := other.write("Sgone", data, start, false, nil); err != nil {
		t.Fatal(err)
	}
	other.remove()
	if n := entries(); len(n) != 1 || n[0] != "Sanon" {
		t.Errorf("after an unlinked temporary file: %v", n)
	}
}

// TestWriteDirErrorKeepsWritten: the conversion workers write session
// files concurrently; when writing one fails (its fsync, here), the run
// stops with that error, and every session file the workers completed,
// before or beside the failure, has its .ready and is counted: none is
// left behind unaccounted, no .ready lacks its file.
func TestWriteDirErrorKeepsWritten(t *testing.T) {
	dir := t.TempDir()
	in := smallCapture(t, dir, 2)
	ref := filepath.Join(dir, "ref")
	total, err := WriteDir(context.Background(), []string{in}, Options{Sync: SyncNone}, ref)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := dirState(t, ref)
	out := filepath.Join(dir, "spool")
	var calls atomic.Int32
	var h syncHooks
	h.syncFile = func(fd int, tmp string) error {
		if calls.Add(1) == 5 {
			return errors.New("injected fsync failure")
		}
		return unix.Fsync(fd)
	}
	n, err := WriteDir(context.Background(), []string{in}, Options{Sync: SyncEach, hooks: h}, out)
	if err == nil || !strings.Contains(err.Error(), "injected fsync failure") {
		t.Fatalf("error %v, want the injected one", err)
	}
	files, ready := dirState(t, out)
	if len(files) != n || len(ready) != n || n >= total {
		t.Errorf("%d session files, %d .ready, %d counted (of %d sessions)", len(files), len(ready), n, total)
	}
	for _, r := range ready {
		if got, ok := files[r]; !ok || !bytes.Equal(got, want[r]) {
			t.Errorf("%s.ready: its file is missing or differs from a full run's", r)
		}
	}
}

// TestReadyMarkersShareAnInode: where unnamed files work, the .ready
// markers are hard links of one empty file (no inode allocated per
// marker), at most markerLinks to a file; a marker never replaces an
// existing name, and its mtime is at most markerAge older than itself.
func TestReadyMarkersShareAnInode(t *testing.T) {
	out := t.TempDir()
	w, err := newDirWriter(out, SyncNone, syncHooks{})
	if err != nil {
		t.Fatal(err)
	}
	if !w.anon {
		w.close()
		if runtime.GOOS == "linux" {
			t.Fatalf("%s: no O_TMPFILE on Linux's temporary directory", out)
		}
		t.Skipf("%s: no unnamed files here", runtime.GOOS)
	}
	taken := filepath.Join(out, "taken.ready")
	if err := os.WriteFile(taken, []byte("keep"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := w.mark("taken.ready"); !errors.Is(err, fs.ErrExist) {
		t.Errorf("a marker over an existing name: %v, want EEXIST", err)
	}
	if got, _ := os.ReadFile(taken); string(got) != "keep" {
		t.Errorf("the existing file became %q", got)
	}
	n := markerLinks + 10
	before := time.Now()
	for i := 0; i < n; i++ {
		if err := w.mark(fmt.Sprintf("s%04d.ready", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.close(); err != nil {
		t.Fatal(err)
	}
	inodes := map[uint64]int{}
	for i := 0; i < n; i++ {
		var st unix.Stat_t
		if err := unix.Lstat(filepath.Join(out, fmt.Sprintf("s%04d.ready", i)), &st); err != nil {
			t.Fatal(err)
		}
		if st.Mode&unix.S_IFMT != unix.S_IFREG || st.Size != 0 {
			t.Fatalf("marker %d: mode %o, %d bytes; want an empty regular file", i, st.Mode, st.Size)
		}
		if mt := time.Unix(st.Mtim.Unix()); mt.Before(before.Add(-time.Second)) {
			t.Errorf("marker %d: mtime %v, before the run (%v)", i, mt, before)
		}
		inodes[st.Ino]++
	}
	if len(inodes) < 2 || len(inodes) > n/2 {
		t.Errorf("%d markers on %d inodes: want them shared, at most %d a file", n, len(inodes), markerLinks)
	}
	for ino, k := range inodes {
		if k > markerLinks {
			t.Errorf("inode %d has %d markers, more than %d", ino, k, markerLinks)
		}
	}
}

// anonTempDir returns a new temporary directory and a descriptor of it
// (closed at the end of the test) where unnamed temporary files can be
// made; a test needing them fails on Linux without them and is skipped
// elsewhere.
func anonTempDir(t *testing.T) (string, int) {
	t.Helper()
	out := t.TempDir()
	d, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	dirfd := int(d.Fd())
	if !anonSupported(dirfd) {
		if runtime.GOOS == "linux" {
			t.Fatalf("%s: no O_TMPFILE on Linux's temporary directory", out)
		}
		t.Skipf("%s: no unnamed temporary files here", runtime.GOOS)
	}
	return out, dirfd
}
