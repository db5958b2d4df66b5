package core

import (
	"archive/zip"
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// zipsEmail is a multipart email with one base64 attachment per archive.
func zipsEmail(zips [][]byte) []byte {
	var b strings.Builder
	b.WriteString("Subject: archives\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"zz\"\r\n\r\n--zz\r\nContent-Type: text/plain\r\n\r\nsee the archives\r\n")
	for i, z := range zips {
		fmt.Fprintf(&b, "--zz\r\nContent-Type: application/zip; name=\"a%03d.zip\"\r\nContent-Transfer-Encoding: base64\r\n\r\n", i)
		b.WriteString(strings.ReplaceAll(b64lines(z), "\n", "\r\n"))
	}
	b.WriteString("--zz--\r\n")
	return []byte(b.String())
}

// zeroZip is an archive of n members of 1 MiB of zeros each: every member
// is below the ratio floor, so none is a zip bomb on its own, yet the
// archive of a few KB expands to n MiB.
func zeroZip(t testing.TB, tag string, n int) []byte {
	t.Helper()
	stream, crc := zeroDeflate(t, 1)
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for i := 0; i < n; i++ {
		rawMember(t, zw, &zip.FileHeader{Name: fmt.Sprintf("%s-%d.bin", tag, i), Method: zip.Deflate, CRC32: crc,
			CompressedSize64: uint64(len(stream)), UncompressedSize64: 1 << 20}, stream)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// fanZip is the 42.zip shape: an archive of fan copies of an archive of
// fan copies ... levels deep, the innermost level being leaf.
func fanZip(t testing.TB, leaf []byte, fan, levels int) []byte {
	t.Helper()
	z := leaf
	for l := 1; l < levels; l++ {
		var entries []zipEntry
		for i := 0; i < fan; i++ {
			entries = append(entries, zipEntry{name: fmt.Sprintf("l%d-%d.zip", l, i), data: z, method: zip.Store})
		}
		z = buildZip(t, entries)
	}
	return z
}

// zipAccount sums what an analysed email extracted from its archives:
// the bytes of the members it hashed, and those handed to OnAttachment.
type zipAccount struct {
	handed int64
}

func (z *zipAccount) options(lim ZipLimits) Options {
	opts := DefaultOptions()
	opts.ExtractIOCs = false
	opts.ZipLimits = lim
	opts.OnAttachment = func(a *Attachment, data []byte) {
		if a.Disposition == "archive-member" {
			z.handed += int64(len(data))
		}
	}
	return opts
}

func extractedBytes(e *Email) (n int64) {
	for _, a := range e.Attachments {
		if a.Disposition == "archive-member" && a.SHA1 != "" {
			n += a.Size
		}
	}
	return n
}

func emailHasError(e *Email, substr string) bool {
	for _, s := range e.Errors {
		if strings.Contains(s, substr) {
			return true
		}
	}
	return false
}

// TestAnalyzeZipEmailBudget: 100 archives that each stay within every
// per-archive limit (4 MiB of 1 MiB members) expand no further than the
// per-email cap all together; the email is flagged zip_limit, says so in
// its errors, and still lists every archive.
func TestAnalyzeZipEmailBudget(t *testing.T) {
	var zips [][]byte
	for i := 0; i < 100; i++ {
		zips = append(zips, zeroZip(t, fmt.Sprint("z", i), 4))
	}
	const emailCap = 8 << 20
	var acc zipAccount
	e := NewAnalyzer(acc.options(ZipLimits{MaxEmailTotalSize: emailCap})).AnalyzeBytes(zipsEmail(zips))
	got := extractedBytes(e)
	if got > emailCap || acc.handed > emailCap {
		t.Errorf("extracted %d bytes (%d handed over) from 100 archives, per-email cap %d", got, acc.handed, emailCap)
	}
	if got < emailCap/2 {
		t.Errorf("extracted only %d bytes: the first archives should be expanded", got)
	}
	if !hasFlag(e.Flags, "zip_limit") || hasFlag(e.Flags, "zip_bomb") {
		t.Errorf("flags %v, want zip_limit (and no zip_bomb: no archive is one)", e.Flags)
	}
	if !emailHasError(e, "per email") {
		t.Errorf("errors %q do not name the per-email limit", e.Errors)
	}
	top := 0
	for _, a := range e.Attachments {
		if a.Disposition != "archive-member" {
			top++
		}
	}
	if top != 100 {
		t.Errorf("%d archives recorded, want all 100", top)
	}
}

// TestAnalyzeZipEmailMembers: the per-email member cap holds across
// archives.
func TestAnalyzeZipEmailMembers(t *testing.T) {
	var zips [][]byte
	for i := 0; i < 20; i++ {
		var entries []zipEntry
		for j := 0; j < 50; j++ {
			entries = append(entries, zipEntry{name: fmt.Sprintf("m%d-%d.txt", i, j), data: []byte(fmt.Sprint(i, j))})
		}
		zips = append(zips, buildZip(t, entries))
	}
	var acc zipAccount
	e := NewAnalyzer(acc.options(ZipLimits{MaxEmailMembers: 120})).AnalyzeBytes(zipsEmail(zips))
	members := 0
	for _, a := range e.Attachments {
		if a.Disposition == "archive-member" {
			members++
		}
	}
	if members != 120 || !hasFlag(e.Flags, "zip_limit") || !emailHasError(e, "per email") {
		t.Errorf("%d members listed, flags %v, errors %q; want 120, zip_limit, the per-email limit named", members, e.Flags, e.Errors)
	}
}

// TestAnalyzeZipLyingMember: members holding more data than their
// headers declare (deflated, and stored) are zip bombs.
func TestAnalyzeZipLyingMember(t *testing.T) {
	stream, _ := zeroDeflate(t, 64)
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	rawMember(t, zw, &zip.FileHeader{Name: "small.txt", Method: zip.Deflate,
		CompressedSize64: uint64(len(stream)), UncompressedSize64: 100_000}, stream)
	rawMember(t, zw, &zip.FileHeader{Name: "stored.txt", Method: zip.Store,
		CompressedSize64: 1000, UncompressedSize64: 10}, bytes.Repeat([]byte("A"), 1000))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	var acc zipAccount
	e := NewAnalyzer(acc.options(DefaultZipLimits())).AnalyzeBytes(zipsEmail([][]byte{buf.Bytes()}))
	if !hasFlag(e.Flags, "zip_bomb") {
		t.Errorf("flags %v, want zip_bomb", e.Flags)
	}
	for _, name := range []string{"small.txt", "stored.txt"} {
		if !emailHasError(e, fmt.Sprintf("%q holds more than", name)) {
			t.Errorf("errors %q do not report %s", e.Errors, name)
		}
	}
	if acc.handed != 0 {
		t.Errorf("%d bytes of lying members handed over", acc.handed)
	}
}

// TestAnalyzeNestedZipBombs: the 42.zip shape (archives of archives of
// archives of 1 MiB members), twice, stays within the per-email cap; a
// chain deeper than the depth limit and a ratio bomb three levels down
// are flagged.
func TestAnalyzeNestedZipBombs(t *testing.T) {
	fan := fanZip(t, zeroZip(t, "leaf", 2), 3, 4) // 27 leaves of 2 MiB: 54 MiB each
	const emailCap = 8 << 20
	var acc zipAccount
	e := NewAnalyzer(acc.options(ZipLimits{MaxEmailTotalSize: emailCap})).AnalyzeBytes(zipsEmail([][]byte{fan, fan}))
	if got := extractedBytes(e); got > emailCap || acc.handed > emailCap {
		t.Errorf("nested: extracted %d bytes (%d handed over), per-email cap %d", got, acc.handed, emailCap)
	}
	if !hasFlag(e.Flags, "zip_limit") {
		t.Errorf("nested: flags %v, want zip_limit", e.Flags)
	}

	e = NewAnalyzer(acc.options(DefaultZipLimits())).AnalyzeBytes(zipsEmail([][]byte{nestedZip(t, 6)}))
	if !hasFlag(e.Flags, "zip_limit") || !emailHasError(e, "depth limit") {
		t.Errorf("6 levels: flags %v errors %q, want zip_limit and the depth limit named", e.Flags, e.Errors)
	}

	stream, crc := zeroDeflate(t, 64)
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	rawMember(t, zw, &zip.FileHeader{Name: "zeros.bin", Method: zip.Deflate, CRC32: crc,
		CompressedSize64: uint64(len(stream)), UncompressedSize64: 64 << 20}, stream)
	zw.Close()
	deep := fanZip(t, buf.Bytes(), 1, 3)
	e = NewAnalyzer(acc.options(DefaultZipLimits())).AnalyzeBytes(zipsEmail([][]byte{deep}))
	if !hasFlag(e.Flags, "zip_bomb") {
		t.Errorf("ratio bomb at depth 3: flags %v, want zip_bomb", e.Flags)
	}
}

// TestAnalyzeOnAttachmentCap: the bytes handed to OnAttachment per email
// stay within OnAttachmentMaxBytes (a content counted once); attachments
// that do not fit are recorded with an error, the email is flagged
// archive_limit, and the smaller ones after still fit.
func TestAnalyzeOnAttachmentCap(t *testing.T) {
	var entries []zipEntry
	for i := 0; i < 10; i++ {
		entries = append(entries, zipEntry{name: fmt.Sprintf("r%d.bin", i), data: randomBytes(int64(i), 300_000), method: zip.Store})
	}
	entries = append(entries, zipEntry{name: "again.bin", data: randomBytes(0, 300_000), method: zip.Store},
		zipEntry{name: "tiny.txt", data: []byte("tiny"), method: zip.Store})
	opts := DefaultOptions()
	opts.OnAttachmentMaxBytes = 1 << 20
	distinct := map[string]int64{}
	calls := 0
	opts.OnAttachment = func(a *Attachment, data []byte) {
		calls++
		distinct[a.SHA1] = int64(len(data))
	}
	e := NewAnalyzer(opts).AnalyzeBytes(zipsEmail([][]byte{buildZip(t, entries)}))
	var sum int64
	for _, n := range distinct {
		sum += n
	}
	if sum > opts.OnAttachmentMaxBytes {
		t.Errorf("%d distinct bytes handed over, cap %d", sum, opts.OnAttachmentMaxBytes)
	}
	if !hasFlag(e.Flags, "archive_limit") || !emailHasError(e, "archive limit") {
		t.Errorf("flags %v errors %q, want archive_limit", e.Flags, e.Errors)
	}
	byName := map[string]Attachment{}
	for _, a := range e.Attachments {
		byName[a.Filename] = a
	}
	// The 3.6 MB archive does not fit; r0..r2 do, again.bin is r0 again,
	// r3..r9 do not, tiny.txt does.
	for name, want := range map[string]bool{"a000.zip": false, "r0.bin": true, "r2.bin": true, "again.bin": true, "r3.bin": false, "r9.bin": false, "tiny.txt": true} {
		a := byName[name]
		notArchived := strings.Contains(strings.Join(a.Errors, "|"), "not archived")
		if notArchived == want || a.SHA1 == "" {
			t.Errorf("%s: errors %q, sha1 %q (want archived: %v)", name, a.Errors, a.SHA1, want)
		}
	}
	if calls != 5 {
		t.Errorf("OnAttachment called %d times, want 5 (r0, r1, r2, again, tiny)", calls)
	}
}

// BenchmarkZipBombs: the bomb shapes under the default limits, one email
// each. extracted-B/op is what the limits let through (the per-email cap
// bounds it whatever the shape); the time is the cost of refusing the
// rest, which must not grow with what the archives claim.
func BenchmarkZipBombs(b *testing.B) {
	ratio, crc := zeroDeflate(b, 1024)
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	rawMember(b, zw, &zip.FileHeader{Name: "ratio.bin", Method: zip.Deflate, CRC32: crc,
		CompressedSize64: uint64(len(ratio)), UncompressedSize64: 1 << 30}, ratio)
	rawMember(b, zw, &zip.FileHeader{Name: "lying.txt", Method: zip.Deflate,
		CompressedSize64: uint64(len(ratio)), UncompressedSize64: 100_000}, ratio)
	zw.Close()
	kernel, kcrc := zeroDeflate(b, 1)
	var many [][]byte
	for i := 0; i < 100; i++ {
		many = append(many, zeroZip(b, fmt.Sprint("z", i), 16))
	}
	for _, bc := range []struct {
		name string
		zips [][]byte
	}{
		{"ratio+lying-1GiB", [][]byte{buf.Bytes()}},
		{"overlap-1000x1MiB", [][]byte{overlapZip(kernel, kcrc, 1<<20, 1000)}},
		{"nested-42zip-4^4x1MiB", [][]byte{fanZip(b, zeroZip(b, "leaf", 4), 4, 4)}},
		{"100zips-16x1MiB", many},
	} {
		b.Run(bc.name, func(b *testing.B) {
			raw := zipsEmail(bc.zips)
			var acc zipAccount
			an := NewAnalyzer(acc.options(DefaultZipLimits()))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				acc.handed = 0
				an.AnalyzeBytes(raw)
			}
			b.ReportMetric(float64(acc.handed), "extracted-B/op")
		})
	}
}
