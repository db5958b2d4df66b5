package core

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

type zipEntry struct {
	name   string
	data   []byte
	method uint16 // zip.Deflate when 0
}

// buildZip writes an archive with archive/zip.
func buildZip(t testing.TB, entries []zipEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		m := e.method
		if m == 0 {
			m = zip.Deflate
		}
		w, err := zw.CreateHeader(&zip.FileHeader{Name: e.name, Method: m})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(e.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func randomBytes(seed int64, n int) []byte {
	b := make([]byte, n)
	rand.New(rand.NewSource(seed)).Read(b)
	return b
}

func memberPaths(ms []ZipMember) []string {
	var out []string
	for _, m := range ms {
		out = append(out, fmt.Sprintf("%d:%s", m.Depth, m.Path))
	}
	return out
}

func hasWarning(ws []string, prefix, substr string) bool {
	for _, w := range ws {
		if strings.HasPrefix(w, prefix+": ") && strings.Contains(w, substr) {
			return true
		}
	}
	return false
}

func TestUnzipBasic(t *testing.T) {
	text := []byte(strings.Repeat("quarterly report line\n", 500))
	bin := randomBytes(1, 5000)
	data := buildZip(t, []zipEntry{{"docs/report.txt", text, 0}, {"tool.bin", bin, zip.Store}, {"empty.txt", nil, 0}})
	ms, warns, err := UnzipMembers(data, DefaultZipLimits())
	if err != nil || len(warns) != 0 {
		t.Fatalf("err %v warnings %v", err, warns)
	}
	want := []ZipMember{
		{Name: "docs/report.txt", Size: int64(len(text)), Data: text, Depth: 1, Path: "docs/report.txt"},
		{Name: "tool.bin", Size: int64(len(bin)), Data: bin, Depth: 1, Path: "tool.bin"},
		{Name: "empty.txt", Size: 0, Data: []byte{}, Depth: 1, Path: "empty.txt"},
	}
	if !reflect.DeepEqual(ms, want) {
		t.Errorf("members = %+v", memberPaths(ms))
		for i := range ms {
			if i < len(want) && !reflect.DeepEqual(ms[i], want[i]) {
				t.Errorf("member %d: got %q size %d err %q", i, ms[i].Name, ms[i].Size, ms[i].Err)
			}
		}
	}
}

func TestUnzipDirectoryEntriesSkipped(t *testing.T) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	if _, err := zw.Create("folder/"); err != nil {
		t.Fatal(err)
	}
	w, _ := zw.Create("folder/a.txt")
	w.Write([]byte("a"))
	zw.Close()
	ms, _, err := UnzipMembers(buf.Bytes(), DefaultZipLimits())
	if err != nil || !reflect.DeepEqual(memberPaths(ms), []string{"1:folder/a.txt"}) {
		t.Errorf("members %v err %v", memberPaths(ms), err)
	}
}

// nestedZip builds level1.zip ⊃ l2.zip ⊃ l3.zip ⊃ ... each with one text
// file, levels deep.
func nestedZip(t testing.TB, levels int) []byte {
	var inner []byte
	for lvl := levels; lvl >= 1; lvl-- {
		entries := []zipEntry{{name: fmt.Sprintf("file%d.txt", lvl), data: []byte(fmt.Sprintf("level %d", lvl))}}
		if inner != nil {
			entries = append(entries, zipEntry{name: fmt.Sprintf("l%d.zip", lvl+1), data: inner})
		}
		inner = buildZip(t, entries)
	}
	return inner
}

func TestUnzipNestedDepth(t *testing.T) {
	data := nestedZip(t, 5)
	lim := DefaultZipLimits()
	lim.MaxDepth = 3
	ms, warns, err := UnzipMembers(data, lim)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"1:file1.txt", "1:l2.zip",
		"2:l2.zip!file2.txt", "2:l2.zip!l3.zip",
		"3:l2.zip!l3.zip!file3.txt", "3:l2.zip!l3.zip!l4.zip",
	}
	if got := memberPaths(ms); !reflect.DeepEqual(got, want) {
		t.Errorf("members = %v, want %v", got, want)
	}
	for i, wantParent := range []string{"", "", "l2.zip", "l2.zip", "l2.zip!l3.zip", "l2.zip!l3.zip"} {
		if got := ms[i].ParentPath(); got != wantParent {
			t.Errorf("%s: ParentPath %q, want %q", ms[i].Path, got, wantParent)
		}
	}
	if string(ms[4].Data) != "level 3" {
		t.Errorf("file3 data = %q", ms[4].Data)
	}
	if ms[5].Data == nil || !isZipData(ms[5].Data) {
		t.Error("the archive at the depth limit is listed and extracted (not expanded)")
	}
	if !hasWarning(warns, ZipWarnDepth, `"l2.zip!l3.zip!l4.zip" not expanded (limit 3 levels)`) || len(warns) != 1 {
		t.Errorf("warnings = %q", warns)
	}
	// Enough depth: everything, no warning.
	lim.MaxDepth = 5
	ms, warns, _ = UnzipMembers(data, lim)
	if len(ms) != 9 || len(warns) != 0 || ms[8].Path != "l2.zip!l3.zip!l4.zip!l5.zip!file5.txt" || ms[8].Depth != 5 {
		t.Errorf("full depth: %v %q", memberPaths(ms), warns)
	}
}

// zeroDeflate returns a raw deflate stream of n MiB of zero bytes and its
// CRC-32. It is what compress/flate writes for that stream, built from
// one flushed 1 MiB block sequence repeated (each repetition only refers
// back to bytes of its own, all zero) and a final empty block, so that a
// 1 GiB member costs milliseconds to make instead of seconds.
func zeroDeflate(t testing.TB, mib int) ([]byte, uint32) {
	t.Helper()
	zeros := make([]byte, 1<<20)
	var blk bytes.Buffer
	fw, err := flate.NewWriter(&blk, flate.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(zeros)
	fw.Flush()
	var fin bytes.Buffer
	fw2, _ := flate.NewWriter(&fin, flate.BestCompression)
	fw2.Close()
	var out bytes.Buffer
	crc := uint32(0)
	for i := 0; i < mib; i++ {
		out.Write(blk.Bytes())
		crc = crc32.Update(crc, crc32.IEEETable, zeros)
	}
	out.Write(fin.Bytes())
	return out.Bytes(), crc
}

// rawMember writes a member from an already compressed stream with the
// sizes and flags given (they may lie).
func rawMember(t testing.TB, zw *zip.Writer, fh *zip.FileHeader, raw []byte) {
	t.Helper()
	w, err := zw.CreateRaw(fh)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(raw); err != nil {
		t.Fatal(err)
	}
}

func TestUnzipBombHighRatio(t *testing.T) {
	stream, crc := zeroDeflate(t, 1024) // 1 GiB of zeros
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	rawMember(t, zw, &zip.FileHeader{Name: "zeros.bin", Method: zip.Deflate, CRC32: crc,
		CompressedSize64: uint64(len(stream)), UncompressedSize64: 1 << 30}, stream)
	w, _ := zw.Create("note.txt")
	w.Write([]byte("still listed and extracted"))
	zw.Close()
	data := buf.Bytes()
	if len(data) > 2<<20 {
		t.Fatalf("bomb archive is %d bytes; expected about 1 MB", len(data))
	}
	// The stream really is 1 GiB of zeros: check its first 8 MiB.
	zr, _ := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	rc, _ := zr.File[0].Open()
	head, err := io.ReadAll(io.LimitReader(rc, 8<<20))
	rc.Close()
	if err != nil || len(head) != 8<<20 || bytes.ContainsFunc(head, func(r rune) bool { return r != 0 }) {
		t.Fatalf("bomb stream not valid zeros: %d bytes, %v", len(head), err)
	}

	ms, warns, err := UnzipMembers(data, DefaultZipLimits())
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 {
		t.Fatalf("members = %v", memberPaths(ms))
	}
	bomb := ms[0]
	if bomb.Data != nil || bomb.Size != 1<<30 || !strings.Contains(bomb.Err, "zip bomb") {
		t.Errorf("bomb member: data %d bytes, size %d, err %q", len(bomb.Data), bomb.Size, bomb.Err)
	}
	if !hasWarning(warns, ZipWarnBomb, `"zeros.bin" declares 1073741824 bytes`) {
		t.Errorf("warnings = %q", warns)
	}
	if string(ms[1].Data) != "still listed and extracted" {
		t.Errorf("note.txt = %q %q", ms[1].Data, ms[1].Err)
	}
}

// TestUnzipBombLyingHeader: a member holding more than its header
// declares is a zip bomb: decompression stops one byte past the declared
// size and the member is not extracted. One holding less is truncated,
// not a bomb.
func TestUnzipBombLyingHeader(t *testing.T) {
	stream, _ := zeroDeflate(t, 1024)
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	rawMember(t, zw, &zip.FileHeader{Name: "small.txt", Method: zip.Deflate, CRC32: 0,
		CompressedSize64: uint64(len(stream)), UncompressedSize64: 100_000}, stream)
	rawMember(t, zw, &zip.FileHeader{Name: "short.txt", Method: zip.Store,
		CompressedSize64: 100, UncompressedSize64: 5000}, make([]byte, 100))
	zw.Close()
	ms, warns, err := UnzipMembers(buf.Bytes(), DefaultZipLimits())
	if err != nil || len(ms) != 2 {
		t.Fatalf("%v %v", memberPaths(ms), err)
	}
	if ms[0].Data != nil || !strings.Contains(ms[0].Err, "zip bomb (holds more than the 100000 bytes it declares)") {
		t.Errorf("lying member: %d bytes, err %q", len(ms[0].Data), ms[0].Err)
	}
	if !hasWarning(warns, ZipWarnBomb, `"small.txt" holds more than the 100000 bytes its header declares`) || len(warns) != 1 {
		t.Errorf("warnings = %q", warns)
	}
	if ms[1].Data != nil || !strings.Contains(ms[1].Err, "truncated: 100 of the 5000 bytes") {
		t.Errorf("short member: %d bytes, err %q", len(ms[1].Data), ms[1].Err)
	}
}

func TestUnzipManyMembers(t *testing.T) {
	var entries []zipEntry
	for i := 0; i < 1500; i++ {
		entries = append(entries, zipEntry{name: fmt.Sprintf("m%04d.txt", i), data: []byte("x")})
	}
	ms, warns, err := UnzipMembers(buildZip(t, entries), DefaultZipLimits())
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 1000 || ms[999].Name != "m0999.txt" {
		t.Errorf("listed %d members", len(ms))
	}
	if !hasWarning(warns, ZipWarnMembers, "archive: 500 more members not listed (limit 1000 members)") {
		t.Errorf("warnings = %q", warns)
	}
}

func TestUnzipMemberLimitAcrossLevels(t *testing.T) {
	inner := buildZip(t, []zipEntry{{name: "i1", data: []byte("1")}, {name: "i2", data: []byte("2")}, {name: "i3", data: []byte("3")}})
	outer := buildZip(t, []zipEntry{{name: "a", data: []byte("a")}, {name: "in.zip", data: inner}, {name: "z", data: []byte("z")}})
	ms, warns, _ := UnzipMembers(outer, ZipLimits{MaxMembers: 4})
	if got := memberPaths(ms); !reflect.DeepEqual(got, []string{"1:a", "1:in.zip", "2:in.zip!i1", "2:in.zip!i2"}) {
		t.Errorf("members = %v", got)
	}
	if !hasWarning(warns, ZipWarnMembers, `archive "in.zip": 1 more members not listed`) || !hasWarning(warns, ZipWarnMembers, "archive: 1 more members not listed") || len(warns) != 2 {
		t.Errorf("warnings = %q", warns)
	}
}

func TestUnzipTotalSizeLimit(t *testing.T) {
	var entries []zipEntry
	for i := 0; i < 10; i++ {
		entries = append(entries, zipEntry{name: fmt.Sprintf("r%d.bin", i), data: randomBytes(int64(i), 200_000), method: zip.Store})
	}
	ms, warns, err := UnzipMembers(buildZip(t, entries), ZipLimits{MaxTotalSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	var extracted int64
	for i, m := range ms {
		if i < 5 {
			if m.Data == nil || m.Err != "" {
				t.Errorf("member %d not extracted: %q", i, m.Err)
			}
		} else if m.Data != nil || !strings.Contains(m.Err, "total size limit") || m.Size != 200_000 {
			t.Errorf("member %d: %d bytes, err %q", i, len(m.Data), m.Err)
		}
		extracted += int64(len(m.Data))
	}
	if extracted > 1<<20 {
		t.Errorf("extracted %d bytes beyond the 1 MiB limit", extracted)
	}
	if !hasWarning(warns, ZipWarnSize, `limit of 1048576 bytes reached at member "r5.bin" (1000000 bytes extracted)`) || len(warns) != 1 {
		t.Errorf("warnings = %q", warns)
	}
}

func TestUnzipEncrypted(t *testing.T) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	cipher := randomBytes(7, 12+300) // 12-byte PKWARE header + data
	rawMember(t, zw, &zip.FileHeader{Name: "secret/invoice.exe", Method: zip.Deflate, Flags: 0x1,
		CRC32: 0xdeadbeef, CompressedSize64: uint64(len(cipher)), UncompressedSize64: 4096}, cipher)
	aes := randomBytes(8, 200)
	rawMember(t, zw, &zip.FileHeader{Name: "aes.docm", Method: zipMethodAES, Flags: 0x1,
		CompressedSize64: uint64(len(aes)), UncompressedSize64: 9000}, aes)
	w, _ := zw.Create("password.txt")
	w.Write([]byte("the password is infected"))
	zw.Close()

	ms, warns, err := UnzipMembers(buf.Bytes(), DefaultZipLimits())
	if err != nil || len(warns) != 0 {
		t.Fatalf("err %v warnings %q", err, warns)
	}
	want := []ZipMember{
		{Name: "secret/invoice.exe", Size: 4096, Encrypted: true, Depth: 1, Path: "secret/invoice.exe"},
		{Name: "aes.docm", Size: 9000, Encrypted: true, Depth: 1, Path: "aes.docm"},
		{Name: "password.txt", Size: 24, Data: []byte("the password is infected"), Depth: 1, Path: "password.txt"},
	}
	if !reflect.DeepEqual(ms, want) {
		t.Errorf("members = %+v", ms)
	}
}

// overlapZip writes, by hand, the non-recursive zip bomb construction:
// one local file (a deflated kernel) and n central-directory entries that
// all point at it.
func overlapZip(kernel []byte, crc uint32, usize uint32, n int) []byte {
	var b bytes.Buffer
	le := func(v any) { binary.Write(&b, binary.LittleEndian, v) }
	name0 := "k0.bin"
	le(uint32(0x04034b50))
	le(uint16(20))
	le(uint16(0))
	le(uint16(8))
	le(uint32(0)) // time, date
	le(crc)
	le(uint32(len(kernel)))
	le(usize)
	le(uint16(len(name0)))
	le(uint16(0))
	b.WriteString(name0)
	b.Write(kernel)
	cdStart := b.Len()
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("k%d.bin", i)
		le(uint32(0x02014b50))
		le(uint16(20))
		le(uint16(20))
		le(uint16(0))
		le(uint16(8))
		le(uint32(0))
		le(crc)
		le(uint32(len(kernel)))
		le(usize)
		le(uint16(len(name)))
		le(uint16(0))
		le(uint16(0))
		le(uint16(0))
		le(uint16(0))
		le(uint32(0))
		le(uint32(0)) // local header offset: all the same
		b.WriteString(name)
	}
	cdLen := b.Len() - cdStart
	le(uint32(0x06054b50))
	le(uint16(0))
	le(uint16(0))
	le(uint16(n))
	le(uint16(n))
	le(uint32(cdLen))
	le(uint32(cdStart))
	le(uint16(0))
	return b.Bytes()
}

func TestUnzipOverlappingBomb(t *testing.T) {
	// A 1 MiB kernel: below the ratio floor, so each member alone looks
	// harmless; 200 entries would expand to 200 MiB.
	kernel, crc := zeroDeflate(t, 1)
	data := overlapZip(kernel, crc, 1<<20, 200)
	// archive/zip itself reads every entry as 1 MiB of zeros.
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil || len(zr.File) != 200 {
		t.Fatalf("hand-built archive: %v", err)
	}
	rc, _ := zr.File[199].Open()
	n, err := io.Copy(io.Discard, rc)
	if err != nil || n != 1<<20 {
		t.Fatalf("entry 199 reads %d bytes, %v", n, err)
	}

	ms, warns, err := UnzipMembers(data, DefaultZipLimits())
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 200 {
		t.Fatalf("listed %d", len(ms))
	}
	for _, m := range ms {
		if m.Data != nil || !strings.Contains(m.Err, "overlapping zip bomb") {
			t.Fatalf("member %s: %d bytes, err %q", m.Name, len(m.Data), m.Err)
		}
	}
	if !hasWarning(warns, ZipWarnBomb, "200 members share compressed data") {
		t.Errorf("warnings = %q", warns)
	}
}

func TestUnzipHostile(t *testing.T) {
	if _, _, err := UnzipMembers([]byte("this is not a zip"), DefaultZipLimits()); err == nil || !strings.HasPrefix(err.Error(), "unzip: ") {
		t.Errorf("not a zip: %v", err)
	}
	if _, _, err := UnzipMembers(nil, DefaultZipLimits()); err == nil {
		t.Error("nil data: no error")
	}
	// An empty archive is fine.
	ms, warns, err := UnzipMembers(buildZip(t, nil), DefaultZipLimits())
	if err != nil || len(ms) != 0 || len(warns) != 0 {
		t.Errorf("empty archive: %v %v %v", ms, warns, err)
	}

	// A corrupted member: an error on it, the others intact.
	good := []byte(strings.Repeat("intact ", 200))
	data := buildZip(t, []zipEntry{{name: "bad.txt", data: []byte(strings.Repeat("to be corrupted ", 300))}, {name: "good.txt", data: good}})
	zr, _ := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	off, _ := zr.File[0].DataOffset()
	data[off+5] ^= 0xff
	data[off+6] ^= 0x55
	ms, _, err = UnzipMembers(data, DefaultZipLimits())
	if err != nil || len(ms) != 2 {
		t.Fatalf("corrupt: %v %v", memberPaths(ms), err)
	}
	if ms[0].Err == "" {
		t.Errorf("corrupted member reports no error (data %d bytes)", len(ms[0].Data))
	}
	if !bytes.Equal(ms[1].Data, good) || ms[1].Err != "" {
		t.Errorf("good member: %q", ms[1].Err)
	}

	// A member that looks like a zip but is not: kept, flagged.
	fake := append([]byte("PK\x03\x04"), randomBytes(3, 100)...)
	ms, _, _ = UnzipMembers(buildZip(t, []zipEntry{{name: "fake.zip", data: fake}}), DefaultZipLimits())
	if len(ms) != 1 || !bytes.Equal(ms[0].Data, fake) || !strings.HasPrefix(ms[0].Err, "nested archive unreadable") {
		t.Errorf("fake nested zip: %+v", ms)
	}

	// Names that escape a directory are reported.
	ms, warns, _ = UnzipMembers(buildZip(t, []zipEntry{{name: "../../etc/cron.d/x", data: []byte("*")}, {name: "/abs", data: []byte("a")}}), DefaultZipLimits())
	if len(ms) != 2 || !hasWarning(warns, ZipWarnInsecure, `"../../etc/cron.d/x"`) || !hasWarning(warns, ZipWarnInsecure, `"/abs"`) {
		t.Errorf("insecure names: %v %q", memberPaths(ms), warns)
	}

	// Unsupported method.
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	rawMember(t, zw, &zip.FileHeader{Name: "x.bz2", Method: 12, CompressedSize64: 10, UncompressedSize64: 20}, make([]byte, 10))
	zw.Close()
	ms, _, _ = UnzipMembers(buf.Bytes(), DefaultZipLimits())
	if len(ms) != 1 || ms[0].Data != nil || !strings.Contains(ms[0].Err, "unsupported compression method 12") {
		t.Errorf("bzip2 member: %+v", ms)
	}
}

// TestUnzipTestdata runs the archives in testdata/zip, written by this
// file's zipFixtures (rewrite them with SMTPSCOPE_WRITE_ZIP_FIXTURES=1).
func TestUnzipTestdata(t *testing.T) {
	if os.Getenv("SMTPSCOPE_WRITE_ZIP_FIXTURES") == "1" {
		if err := os.MkdirAll(filepath.Join("testdata", "zip"), 0o755); err != nil {
			t.Fatal(err)
		}
		for name, data := range zipFixtures(t) {
			if err := os.WriteFile(filepath.Join("testdata", "zip", name), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	// name -> "depth:path[flags]" of each member, then the warning prefixes.
	want := map[string][]string{
		"plain.zip":     {"1:a.txt", "1:b.bin"},
		"nested.zip":    {"1:file1.txt", "1:l2.zip", "2:l2.zip!file2.txt", "2:l2.zip!l3.zip", "3:l2.zip!l3.zip!file3.txt"},
		"encrypted.zip": {"1:locked.exe[encrypted]"},
		"overlap.zip":   {"1:k0.bin[not extracted]", "1:k1.bin[not extracted]", "1:k2.bin[not extracted]", ZipWarnBomb},
		"ratio.zip":     {"1:zeros.bin[not extracted]", ZipWarnBomb},
	}
	for name, w := range want {
		data, err := os.ReadFile(filepath.Join("testdata", "zip", name))
		if err != nil {
			t.Fatalf("%v (run with SMTPSCOPE_WRITE_ZIP_FIXTURES=1 to write the fixtures)", err)
		}
		ms, warns, err := UnzipMembers(data, DefaultZipLimits())
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		var got []string
		for _, m := range ms {
			s := fmt.Sprintf("%d:%s", m.Depth, m.Path)
			switch {
			case m.Encrypted:
				s += "[encrypted]"
			case m.Data == nil:
				s += "[not extracted]"
			}
			got = append(got, s)
		}
		for _, wr := range warns {
			got = append(got, wr[:strings.Index(wr, ":")])
		}
		if !reflect.DeepEqual(got, w) {
			t.Errorf("%s: got %q, want %q", name, got, w)
		}
	}
}

// zipFixtures are small, deterministic archives: seeds for the fuzzer and
// samples for other tests (nested, encrypted, overlapping, high ratio).
func zipFixtures(t testing.TB) map[string][]byte {
	out := map[string][]byte{}
	out["plain.zip"] = buildZip(t, []zipEntry{{name: "a.txt", data: []byte("hello from a zip\n")}, {name: "b.bin", data: randomBytes(2, 64), method: zip.Store}})
	out["nested.zip"] = nestedZip(t, 3)
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	c := randomBytes(9, 40)
	rawMember(t, zw, &zip.FileHeader{Name: "locked.exe", Method: zip.Deflate, Flags: 0x1, CRC32: 1, CompressedSize64: uint64(len(c)), UncompressedSize64: 100}, c)
	zw.Close()
	out["encrypted.zip"] = buf.Bytes()
	kernel, crc := zeroDeflate(t, 1)
	out["overlap.zip"] = overlapZip(kernel, crc, 1<<20, 3)
	buf = bytes.Buffer{}
	zw = zip.NewWriter(&buf)
	stream, crc2 := zeroDeflate(t, 4)
	rawMember(t, zw, &zip.FileHeader{Name: "zeros.bin", Method: zip.Deflate, CRC32: crc2, CompressedSize64: uint64(len(stream)), UncompressedSize64: 4 << 20}, stream)
	zw.Close()
	out["ratio.zip"] = buf.Bytes()
	return out
}

// FuzzUnzip: no panic, and the limits hold whatever the input, for an
// archive alone and for one of an email's archives that finds part of the
// per-email limits used already.
func FuzzUnzip(f *testing.F) {
	for _, data := range zipFixtures(f) {
		f.Add(data, uint16(0), uint32(0))
		f.Add(data, uint16(3), uint32(1<<20))
	}
	f.Add([]byte("PK\x05\x06"+strings.Repeat("\x00", 18)), uint16(0), uint32(0))
	lim := ZipLimits{MaxDepth: 3, MaxMembers: 50, MaxTotalSize: 2 << 20, MaxRatio: 50, MaxEmailMembers: 60, MaxEmailTotalSize: 3 << 20}
	f.Fuzz(func(t *testing.T, data []byte, usedMembers uint16, usedBytes uint32) {
		before := zipSpent{members: int(usedMembers), total: int64(usedBytes)}
		spent := before
		ms, _, err := unzipWithin(data, lim, &spent)
		if err != nil && len(ms) != 0 {
			t.Fatalf("error %v with %d members", err, len(ms))
		}
		if len(ms) > max(min(lim.MaxMembers, lim.MaxEmailMembers-before.members), 0) {
			t.Fatalf("%d members listed, limit %d, %d per email of which %d used", len(ms), lim.MaxMembers, lim.MaxEmailMembers, before.members)
		}
		var total int64
		for _, m := range ms {
			total += int64(len(m.Data))
			checkMember(t, m, lim)
		}
		if total > lim.MaxTotalSize || before.total+total > max(lim.MaxEmailTotalSize, before.total) {
			t.Fatalf("extracted %d bytes, limit %d, %d per email of which %d used", total, lim.MaxTotalSize, lim.MaxEmailTotalSize, before.total)
		}
		if spent.members != before.members+len(ms) || spent.total != before.total+total {
			t.Fatalf("spent %+v after %+v, %d members, %d bytes", spent, before, len(ms), total)
		}
	})
}

// checkMember checks the invariants of one listed member.
func checkMember(t *testing.T, m ZipMember, lim ZipLimits) {
	t.Helper()
	if m.Depth < 1 || m.Depth > lim.MaxDepth {
		t.Fatalf("member %q at depth %d", m.Path, m.Depth)
	}
	if m.Encrypted && m.Data != nil {
		t.Fatalf("encrypted member %q extracted", m.Path)
	}
	if m.Data != nil && int64(len(m.Data)) != m.Size {
		t.Fatalf("member %q: size %d, data %d", m.Path, m.Size, len(m.Data))
	}
}

// BenchmarkUnzip: extraction throughput over an archive of mixed members
// (compressible text and incompressible binary), MB/s of output.
func BenchmarkUnzip(b *testing.B) {
	var entries []zipEntry
	var total int64
	rng := rand.New(rand.NewSource(5))
	words := []string{"invoice", "payment", "attached", "please", "review", "the", "report", "\n"}
	for i := 0; i < 16; i++ {
		var d []byte
		if i%4 == 3 {
			d = randomBytes(int64(i), 256<<10)
		} else {
			var sb strings.Builder
			for sb.Len() < 512<<10 {
				sb.WriteString(words[rng.Intn(len(words))])
				sb.WriteByte(' ')
			}
			d = []byte(sb.String())
		}
		total += int64(len(d))
		entries = append(entries, zipEntry{name: fmt.Sprintf("m%02d", i), data: d})
	}
	data := buildZip(b, entries)
	b.SetBytes(total)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ms, _, err := UnzipMembers(data, DefaultZipLimits())
		if err != nil || len(ms) != 16 {
			b.Fatal(err)
		}
	}
}
