package core

// The unzip analyzer: list and extract the members of a zip archive,
// recursively into nested zips, under hard limits per archive and per
// email. Archives are hostile input: sizes in headers are never trusted
// for memory, a member is decompressed only when its declared size fits
// every limit and then never past that size plus one byte (so the work
// stops at the limits, nothing is inflated to be thrown away), zip bombs
// (high ratio, overlapping members, more data than declared) are reported
// and not expanded, limits reached (members, bytes, depth) are reported,
// and encrypted members are listed and flagged, never decrypted.

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"path/filepath"
	"sort"
	"strings"
)

// ZipLimits bound what UnzipMembers expands. A field that is 0 or less
// takes its DefaultZipLimits value. The first four bound one archive (a
// zip attachment with the zips inside it); the MaxEmail ones bound all
// the archives of one email together, however many it carries.
type ZipLimits struct {
	// MaxDepth is how many archive levels are listed: 1 lists only the
	// members of the given archive, 2 also the members of zips inside
	// it, and so on.
	MaxDepth int
	// MaxMembers caps the members listed, all levels together.
	MaxMembers int
	// MaxTotalSize caps the bytes extracted, all levels together. It is
	// also the bound on the memory the extracted data takes.
	MaxTotalSize int64
	// MaxRatio is the largest uncompressed/compressed size ratio a member
	// may have once it is larger than 1 MiB; beyond it the member is a
	// zip bomb and is not expanded. (Ordinary files deflate 2-20x; a
	// bomb's ratio is in the hundreds or thousands.)
	MaxRatio float64
	// MaxEmailMembers caps the members listed per email: all the
	// archives of one email and all their levels together.
	MaxEmailMembers int
	// MaxEmailTotalSize caps the bytes extracted per email, all archives
	// and levels together.
	MaxEmailTotalSize int64
}

// DefaultZipLimits: per archive 4 levels, 1000 members, 256 MiB in
// total, ratio 100; per email 2000 members, 256 MiB.
func DefaultZipLimits() ZipLimits {
	return ZipLimits{MaxDepth: 4, MaxMembers: 1000, MaxTotalSize: 256 << 20, MaxRatio: 100,
		MaxEmailMembers: 2000, MaxEmailTotalSize: 256 << 20}
}

func (l ZipLimits) withDefaults() ZipLimits {
	d := DefaultZipLimits()
	if l.MaxDepth <= 0 {
		l.MaxDepth = d.MaxDepth
	}
	if l.MaxMembers <= 0 {
		l.MaxMembers = d.MaxMembers
	}
	if l.MaxTotalSize <= 0 {
		l.MaxTotalSize = d.MaxTotalSize
	}
	if l.MaxRatio <= 0 || math.IsNaN(l.MaxRatio) {
		l.MaxRatio = d.MaxRatio
	}
	if l.MaxEmailMembers <= 0 {
		l.MaxEmailMembers = d.MaxEmailMembers
	}
	if l.MaxEmailTotalSize <= 0 {
		l.MaxEmailTotalSize = d.MaxEmailTotalSize
	}
	return l
}

// zipRatioFloor: members up to this size are never judged by their ratio
// (a small file of zeros compresses 1000x and is no bomb).
const zipRatioFloor = 1 << 20

// ZipMember is one file inside an archive (directories are not listed).
type ZipMember struct {
	// Name is the member's name as stored in the archive.
	Name string `json:"name"`
	// Size is the number of bytes extracted when Data is set, otherwise
	// the uncompressed size the archive declares (unverified).
	Size int64 `json:"size"`
	// Data is the member's content; nil when it was not extracted
	// (encrypted, bomb, limit reached, unsupported method, error).
	Data []byte `json:"-"`
	// Encrypted is set for members stored with encryption (traditional
	// PKWARE or WinZip AES); they are listed, never extracted.
	Encrypted bool `json:"encrypted,omitempty"`
	// Depth is 1 for members of the given archive, 2 for members of a
	// zip inside it, and so on.
	Depth int `json:"depth"`
	// Path locates the member from the outermost archive: the names of
	// the enclosing archive members and this one, joined with "!"
	// ("docs.zip!invoice.js" is invoice.js inside the member docs.zip).
	Path string `json:"path"`
	// Err says why the member was not (fully) extracted, or what was
	// wrong with it; empty when all is well.
	Err string `json:"error,omitempty"`
}

// ParentPath is the Path of the archive member that holds m, "" for a
// member of the outermost archive. As attachments, a member of the zip
// attachment at MIME part P is best recorded with Part P+"!"+m.Path and
// Parent P (depth 1) or P+"!"+m.ParentPath(): the stoQ results then
// chain each payload to the archive it was extracted from.
func (m ZipMember) ParentPath() string {
	if m.Depth <= 1 {
		return ""
	}
	return strings.TrimSuffix(m.Path, "!"+m.Name)
}

// Warning prefixes of UnzipMembers, stable for callers that flag them.
const (
	ZipWarnBomb     = "zip bomb"
	ZipWarnMembers  = "member limit"
	ZipWarnSize     = "size limit"
	ZipWarnDepth    = "depth limit"
	ZipWarnInsecure = "insecure name"
	ZipWarnInternal = "internal error"
)

// UnzipMembers lists the members of the zip archive in data and extracts
// them, recursing into members that are themselves zip archives (by their
// content, not their name) down to lim.MaxDepth. Members come in archive
// order, each nested archive's members right after it. The archive is
// taken as an email's only one: the per-email limits apply to it too.
//
// The warnings report what an analyst must know about the archive as a
// whole; each starts with one of the ZipWarn* prefixes and a colon: zip
// bombs (members whose ratio is beyond MaxRatio, members sharing their
// compressed data, members holding more data than their header
// declares), limits hit (members not listed, bytes not extracted,
// archives not expanded), names that would escape a directory. Problems
// of one member are in its Err.
//
// The error is non-nil only when data is not a readable zip archive at
// all. UnzipMembers never panics: an internal failure becomes a warning
// and the members found so far are returned.
func UnzipMembers(data []byte, lim ZipLimits) (members []ZipMember, warnings []string, err error) {
	return unzipWithin(data, lim, &zipSpent{})
}

// zipSpent is what the archives of one email have used of the per-email
// limits so far, and whether reaching them was reported.
type zipSpent struct {
	members                   int
	total                     int64
	membersWarned, sizeWarned bool
}

// unzipWithin is UnzipMembers for one of an email's archives: spent is
// shared by all of them, and updated.
func unzipWithin(data []byte, lim ZipLimits, spent *zipSpent) (members []ZipMember, warnings []string, err error) {
	u := &unzipper{lim: lim.withDefaults(), spent: spent, warned: map[string]bool{}}
	defer func() {
		if p := recover(); p != nil {
			u.warn(ZipWarnInternal, fmt.Sprintf("unzip stopped early: %v", p))
			members, warnings, err = u.members, u.warnings, nil
		}
	}()
	zr, err := openZip(data)
	if err != nil {
		return nil, nil, fmt.Errorf("unzip: %w", err)
	}
	u.walk(zr, 1, "")
	return u.members, u.warnings, nil
}

func openZip(data []byte) (*zip.Reader, error) {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if errors.Is(err, zip.ErrInsecurePath) {
		// Only returned with GODEBUG=zipinsecurepath=0; we never write
		// members to disk, and walk reports such names itself.
		err = nil
	}
	if err != nil {
		return nil, err
	}
	return zr, nil
}

// isZipData reports whether b starts like a zip archive (a local file
// header).
func isZipData(b []byte) bool {
	return len(b) >= 4 && b[0] == 'P' && b[1] == 'K' && b[2] == 3 && b[3] == 4
}

type unzipper struct {
	lim      ZipLimits
	spent    *zipSpent // the email's, all its archives
	members  []ZipMember
	warnings []string
	warned   map[string]bool
	listed   int   // members listed, this archive, all levels
	total    int64 // bytes extracted, this archive, all levels

	sizeWarned bool
}

func (u *unzipper) warn(prefix, msg string) {
	w := prefix + ": " + msg
	if !u.warned[w] {
		u.warned[w] = true
		u.warnings = append(u.warnings, w)
	}
}

// emailBinds reports whether the per-email limit is the tighter one,
// given what is left of the archive's and of the email's.
func emailBinds[T int | int64](archiveLeft, emailLeft T) bool {
	return emailLeft <= archiveLeft
}

// memberRoom is how many more members may be listed.
func (u *unzipper) memberRoom() int {
	return max(min(u.lim.MaxMembers-u.listed, u.lim.MaxEmailMembers-u.spent.members), 0)
}

// membersNotListed warns that n members of an archive were not listed,
// naming the limit that stopped them; for the per-email limit only once
// an email.
func (u *unzipper) membersNotListed(where string, n int) {
	if !emailBinds(u.lim.MaxMembers-u.listed, u.lim.MaxEmailMembers-u.spent.members) {
		u.warn(ZipWarnMembers, fmt.Sprintf("%s: %d more members not listed (limit %d members)", where, n, u.lim.MaxMembers))
		return
	}
	if !u.spent.membersWarned {
		u.spent.membersWarned = true
		u.warn(ZipWarnMembers, fmt.Sprintf("%s: %d more members not listed, nor any member of the email's later archives (limit %d members per email)",
			where, n, u.lim.MaxEmailMembers))
	}
}

// sizeRoom is how many more bytes may be extracted.
func (u *unzipper) sizeRoom() int64 {
	return max(min(u.lim.MaxTotalSize-u.total, u.lim.MaxEmailTotalSize-u.spent.total), 0)
}

// sizeLimit warns, once an archive (once an email for the per-email
// limit), that a total size limit stopped extraction at path; it returns
// the member's error.
func (u *unzipper) sizeLimit(path string) string {
	if !emailBinds(u.lim.MaxTotalSize-u.total, u.lim.MaxEmailTotalSize-u.spent.total) {
		if !u.sizeWarned {
			u.sizeWarned = true
			u.warn(ZipWarnSize, fmt.Sprintf("limit of %d bytes reached at member %q (%d bytes extracted); it and members too large for the rest are not extracted",
				u.lim.MaxTotalSize, path, u.total))
		}
		return "not extracted: total size limit reached"
	}
	if !u.spent.sizeWarned {
		u.spent.sizeWarned = true
		u.warn(ZipWarnSize, fmt.Sprintf("limit of %d bytes per email reached at member %q (%d bytes extracted from the email's archives); it and members too large for the rest, in this archive and later ones, are not extracted",
			u.lim.MaxEmailTotalSize, path, u.spent.total))
	}
	return "not extracted: total size limit per email reached"
}

// took counts n bytes extracted.
func (u *unzipper) took(n int) {
	u.total += int64(n)
	u.spent.total += int64(n)
}

func isDirEntry(f *zip.File) bool {
	return strings.HasSuffix(f.Name, "/") && f.UncompressedSize64 == 0 && f.CompressedSize64 <= 2
}

// zipMethodAES is the WinZip AES "compression method" (APPNOTE 4.4.5).
const zipMethodAES = 99

func (u *unzipper) walk(zr *zip.Reader, depth int, prefix string) {
	var files []*zip.File
	for _, f := range zr.File {
		if !isDirEntry(f) {
			files = append(files, f)
		}
	}
	where := "archive"
	if prefix != "" {
		where = fmt.Sprintf("archive %q", prefix)
	}
	// Only the members that can still be listed are looked at further: an
	// archive whose directory claims millions of entries costs no more
	// than MaxMembers of them.
	notListed := 0
	if room := u.memberRoom(); len(files) > room {
		notListed = len(files) - room
		files = files[:room]
	}
	defer func() {
		if notListed > 0 {
			u.membersNotListed(where, notListed)
		}
	}()
	overlapping := zipOverlaps(files)
	if len(overlapping) > 0 {
		u.warn(ZipWarnBomb, fmt.Sprintf("%s: %d members share compressed data (overlapping entries); not extracted", where, len(overlapping)))
	}

	for i, f := range files {
		if u.memberRoom() == 0 {
			// A nested archive used up the room.
			notListed += len(files) - i
			break
		}
		u.listed++
		u.spent.members++
		m := u.member(f, depth, prefix, overlapping[f])
		u.members = append(u.members, m)
		if m.Data == nil || !isZipData(m.Data) {
			continue
		}
		if depth >= u.lim.MaxDepth {
			u.warn(ZipWarnDepth, fmt.Sprintf("nested archive %q not expanded (limit %d levels)", m.Path, u.lim.MaxDepth))
			continue
		}
		nz, err := openZip(m.Data)
		if err != nil {
			u.members[len(u.members)-1].Err = "nested archive unreadable: " + err.Error()
			continue
		}
		u.walk(nz, depth+1, m.Path)
	}
}

// member lists one member and extracts it unless it is encrypted or
// overlaps another.
func (u *unzipper) member(f *zip.File, depth int, prefix string, overlaps bool) ZipMember {
	path := f.Name
	if prefix != "" {
		path = prefix + "!" + f.Name
	}
	m := ZipMember{
		Name:  f.Name,
		Size:  int64(min(f.UncompressedSize64, math.MaxInt64)),
		Depth: depth,
		Path:  path,
	}
	if !filepath.IsLocal(filepath.FromSlash(strings.ReplaceAll(f.Name, `\`, "/"))) {
		u.warn(ZipWarnInsecure, fmt.Sprintf("member %q is absolute or leaves its directory", path))
	}
	switch {
	case f.Flags&0x1 != 0 || f.Method == zipMethodAES:
		m.Encrypted = true
	case overlaps:
		m.Err = "not extracted: shares its compressed data with another member (overlapping zip bomb)"
	default:
		m.Data, m.Err = u.extract(f, path)
		if m.Data != nil {
			m.Size = int64(len(m.Data))
		}
	}
	return m
}

// zipOverlaps returns the members whose compressed data overlaps another
// member's: the construction of non-recursive zip bombs, where thousands
// of directory entries point at one highly compressed kernel.
func zipOverlaps(files []*zip.File) map[*zip.File]bool {
	type span struct {
		f          *zip.File
		start, end int64
	}
	var spans []span
	for _, f := range files {
		if f.CompressedSize64 == 0 {
			continue
		}
		off, err := f.DataOffset()
		if err != nil || off < 0 {
			continue
		}
		spans = append(spans, span{f, off, off + int64(min(f.CompressedSize64, math.MaxInt64/2))})
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].start < spans[j].start })
	var out map[*zip.File]bool
	var maxEnd int64 = -1
	var maxF *zip.File
	for _, s := range spans {
		if s.start < maxEnd {
			if out == nil {
				out = map[*zip.File]bool{}
			}
			out[s.f] = true
			out[maxF] = true
		}
		if s.end > maxEnd {
			maxEnd, maxF = s.end, s.f
		}
	}
	return out
}

// extract decompresses one member under the ratio and total-size limits.
// It returns the data (nil when not extracted) and what went wrong.
func (u *unzipper) extract(f *zip.File, path string) ([]byte, string) {
	if f.Method != zip.Store && f.Method != zip.Deflate {
		return nil, fmt.Sprintf("not extracted: unsupported compression method %d", f.Method)
	}
	declared := f.UncompressedSize64
	comp := f.CompressedSize64
	// The ratio allowance: what this member may expand to.
	allow := max(float64(comp)*u.lim.MaxRatio, zipRatioFloor)
	if float64(declared) > allow {
		u.warn(ZipWarnBomb, fmt.Sprintf("member %q declares %d bytes from %d compressed (ratio above %g); not expanded",
			path, declared, comp, u.lim.MaxRatio))
		return nil, fmt.Sprintf("not extracted: zip bomb (declares %d bytes from %d compressed)", declared, comp)
	}
	if declared > uint64(u.sizeRoom()) {
		return nil, u.sizeLimit(path)
	}
	data, err := inflate(f, int64(declared))
	switch {
	case errors.Is(err, errZipMore):
		u.warn(ZipWarnBomb, fmt.Sprintf("member %q holds more than the %d bytes its header declares; not expanded", path, declared))
		return nil, fmt.Sprintf("not extracted: zip bomb (holds more than the %d bytes it declares)", declared)
	case errors.Is(err, zip.ErrChecksum):
		// All bytes are there; the archive's CRC disagrees. Keep them.
		u.took(len(data))
		return data, "checksum mismatch (data kept)"
	case err != nil:
		return nil, "not extracted: " + err.Error()
	}
	u.took(len(data))
	return data, ""
}

// errZipMore: a member holds more data than its header declares.
var errZipMore = errors.New("more data than declared")

// inflate decompresses f, whose header declares the given size (which
// the caller has checked against every limit), reading at most one byte
// more: however the stream was crafted, the work stops there. It returns
// errZipMore when that byte exists, the data with zip.ErrChecksum when
// the CRC-32 the archive gives (if any) disagrees.
func inflate(f *zip.File, declared int64) ([]byte, error) {
	raw, err := f.OpenRaw()
	if err != nil {
		return nil, err
	}
	r := raw
	if f.Method == zip.Deflate {
		fr := flate.NewReader(raw)
		defer fr.Close()
		r = fr
	}
	// Preallocate from the header only as far as 8 MiB on its word.
	buf := bytes.NewBuffer(make([]byte, 0, min(declared, 8<<20)))
	n, err := io.Copy(buf, io.LimitReader(r, declared+1))
	switch {
	case n > declared:
		return nil, errZipMore
	case err != nil:
		return nil, err
	case n < declared:
		return nil, fmt.Errorf("truncated: %d of the %d bytes it declares", n, declared)
	case f.CRC32 != 0 && crc32.ChecksumIEEE(buf.Bytes()) != f.CRC32:
		return buf.Bytes(), zip.ErrChecksum
	}
	return buf.Bytes(), nil
}
