package core

// The uuencode decoder: files carried as "begin <mode> <name>" ... "end"
// blocks, either as the whole content of a part declared
// Content-Transfer-Encoding x-uuencode (uuencode, x-uue, uue), or embedded
// in a plain-text body (Outlook Express style, several per body, mixed
// with text). Decoding is lenient like Python's binascii.a2b_uu with the
// uu module's workaround: a short line is padded with zero bytes (trailing
// spaces are often stripped in transit), characters after the line's
// declared length are ignored, characters outside the alphabet are read
// modulo 64; each of these is reported, never a failure. Output is
// bounded: all blocks of one input together decode to at most len(input)
// bytes (beyond that the block is cut and says so), and at most
// maxUUBlocks blocks are decoded.

import (
	"bytes"
	"fmt"
	"strings"
)

// maxUUBlocks caps the blocks decoded from one input.
const maxUUBlocks = 100

// UUFile is one decoded uuencoded block.
type UUFile struct {
	// Name and Mode are as written on the begin line.
	Name string
	Mode string
	Data []byte
	// DataStart is the offset just after the begin line, End the offset
	// just after the block (its end line, or where it stopped).
	DataStart, End int
	// Warnings say what was lenient about the block; Anomalies say it
	// as anomaly entries (anomaly.go).
	Warnings  []string
	Anomalies []string
}

// isUUEncoding reports whether a Content-Transfer-Encoding names uuencode.
func isUUEncoding(enc string) bool {
	switch enc {
	case "x-uuencode", "uuencode", "x-uue", "uue":
		return true
	}
	return false
}

// FindUU returns the uuencoded blocks of b in order. With text set (a
// plain-text body, where "begin 644 x" may be prose) a block counts only
// when the line after its begin line is a well-formed data line, and it
// ends at the first line that is not one; otherwise (a part declared
// uuencode) every line up to "end" or the end of b is decoded. The second
// result is a warning when blocks were left undecoded because of the cap.
func FindUU(b []byte, text bool) ([]UUFile, string) {
	var out []UUFile
	budget := len(b)
	for pos := 0; pos < len(b); {
		line, next := uuLine(b, pos)
		mode, name, ok := parseUUBegin(line)
		if !ok || text && !uuBlockStarts(b, next) {
			pos = next
			continue
		}
		if len(out) == maxUUBlocks {
			return out, fmt.Sprintf("more than %d uuencoded blocks: the rest are not decoded", maxUUBlocks)
		}
		f := decodeUUBlock(b, next, text, budget)
		f.Name, f.Mode = name, mode
		budget -= len(f.Data)
		out = append(out, f)
		pos = f.End
	}
	return out, ""
}

// uuLine returns the line at pos without its line end, and where the next
// line starts.
func uuLine(b []byte, pos int) ([]byte, int) {
	end := bytes.IndexByte(b[pos:], '\n')
	if end < 0 {
		return bytes.TrimSuffix(b[pos:], []byte{'\r'}), len(b)
	}
	return bytes.TrimSuffix(b[pos:pos+end], []byte{'\r'}), pos + end + 1
}

// parseUUBegin parses "begin <octal mode> <name>"; the name may be
// missing (the block is decoded all the same).
func parseUUBegin(line []byte) (mode, name string, ok bool) {
	rest, found := bytes.CutPrefix(line, []byte("begin "))
	if !found {
		return "", "", false
	}
	m, n, _ := bytes.Cut(rest, []byte{' '})
	if len(m) == 0 || len(m) > 6 || strings.Trim(string(m), "01234567") != "" {
		return "", "", false
	}
	return string(m), strings.TrimSpace(string(n)), true
}

// uuBlockStarts reports whether the line at pos is a well-formed data
// line, or the empty file's zero-length line.
func uuBlockStarts(b []byte, pos int) bool {
	if pos >= len(b) {
		return false
	}
	line, _ := uuLine(b, pos)
	return uuWellFormed(line)
}

// uuWellFormed reports whether line is a data line as an encoder writes
// it: a length character, then exactly the characters that length needs
// (padded to a group of four, perhaps one checksum character), all in the
// alphabet.
func uuWellFormed(line []byte) bool {
	if len(line) == 0 {
		return false
	}
	for _, c := range line {
		if c < ' ' || c > '`' {
			return false
		}
	}
	n := int(line[0]-' ') & 63
	need := (n*4 + 2) / 3
	return len(line)-1 >= need && len(line)-1 <= (n+2)/3*4+1
}

// uuState collects one block's bytes and what was lenient about it.
type uuState struct {
	out                     []byte
	budget                  int
	short, garbage, badChar int
	cut                     bool
}

// decodeUUBlock decodes the data lines starting at pos, up to the end
// line (text mode: also up to the first line that is not a data line).
func decodeUUBlock(b []byte, pos int, text bool, budget int) UUFile {
	f := UUFile{DataStart: pos}
	s := &uuState{budget: budget}
	ended, stop := false, ""
	for pos < len(b) && !ended && !s.cut && stop == "" {
		line, next := uuLine(b, pos)
		switch {
		case strings.TrimSpace(string(line)) == "end":
			ended = true
		case len(line) == 0:
			// Blank lines carry nothing (a2b_uu would fail on them).
		case line[0] == ' ' || line[0] == '`':
			// The zero-length line: only "end" may follow.
			if end, after := uuEndFollows(b, next); end {
				ended, next = true, after
			} else {
				stop = "a zero-length line not followed by end"
			}
		case text && !uuWellFormed(line):
			stop = "a line that is not uuencoded"
			next = pos
		default:
			s.line(line)
		}
		pos = next
	}
	f.End, f.Data, f.Warnings, f.Anomalies = pos, s.out, s.warnings(), s.anomalies()
	switch {
	case s.cut:
		f.Warnings = append(f.Warnings, fmt.Sprintf("decoded size capped at %d bytes (the input's size): block cut", budget))
	case stop != "":
		f.Warnings = append(f.Warnings, "no end line: block ends at "+stop)
		f.Anomalies = append(f.Anomalies, anomalyEntry(AnomalyUUNoEnd, "block ends at %s", stop))
	case !ended:
		f.Warnings = append(f.Warnings, "no end line: decoded to the end of the data")
		f.Anomalies = append(f.Anomalies, anomalyEntry(AnomalyUUNoEnd, "decoded to the end of the data"))
	}
	if f.Data == nil {
		f.Data = []byte{}
	}
	return f
}

// uuEndFollows reports whether the next non-blank line at pos is "end",
// and where the line after it starts.
func uuEndFollows(b []byte, pos int) (bool, int) {
	for pos < len(b) {
		line, next := uuLine(b, pos)
		if t := strings.TrimSpace(string(line)); t != "" {
			return t == "end", next
		}
		pos = next
	}
	return false, pos
}

// line decodes one data line as a2b_uu does, leniently.
func (s *uuState) line(line []byte) {
	n := int(line[0]-' ') & 63
	chars := line[1:]
	if n > s.budget-len(s.out) {
		n, s.cut = s.budget-len(s.out), true
	}
	if len(chars) < (n*4+2)/3 {
		s.short++
	}
	used := min(len(chars), (n+2)/3*4)
	for _, c := range chars[:used] {
		if c < ' ' || c > '`' {
			s.badChar++
		}
	}
	if len(bytes.Trim(chars[used:], " `")) > 0 {
		s.garbage++
	}
	val := func(i int) byte {
		if i < len(chars) {
			return (chars[i] - ' ') & 63
		}
		return 0
	}
	for i := 0; i < n; i += 3 {
		q := i / 3 * 4
		c0, c1, c2, c3 := val(q), val(q+1), val(q+2), val(q+3)
		tri := [3]byte{c0<<2 | c1>>4, c1<<4 | c2>>2, c2<<6 | c3}
		s.out = append(s.out, tri[:min(3, n-i)]...)
	}
}

func (s *uuState) warnings() []string {
	var w []string
	if s.short > 0 {
		w = append(w, fmt.Sprintf("%d short lines padded with zero bytes", s.short))
	}
	if s.garbage > 0 {
		w = append(w, fmt.Sprintf("%d lines with characters after their declared length (ignored)", s.garbage))
	}
	if s.badChar > 0 {
		w = append(w, fmt.Sprintf("%d characters outside the uuencode alphabet (read modulo 64)", s.badChar))
	}
	return w
}

func (s *uuState) anomalies() []string {
	var a []string
	for _, c := range []struct {
		n    int
		code string
	}{{s.short, AnomalyUUShortLines}, {s.garbage, AnomalyUUExtraChars}, {s.badChar, AnomalyUUBadChars}} {
		if c.n > 0 {
			a = append(a, anomalyEntry(c.code, "%d", c.n))
		}
	}
	return a
}

// UUDecodePart decodes the content of a part declared uuencode: its first
// block is the part's data; further blocks are returned as extra files.
func UUDecodePart(content []byte) (first UUFile, extra []UUFile, warn string, err error) {
	files, warn := FindUU(content, false)
	if len(files) == 0 {
		return UUFile{}, nil, warn, fmt.Errorf("uuencode: no begin line: content kept as written")
	}
	return files[0], files[1:], warn, nil
}

// StripUU returns text without the encoded lines of blocks (their begin
// lines stay, so the body shows where each file was).
func StripUU(text []byte, blocks []UUFile) []byte {
	out := make([]byte, 0, len(text))
	pos := 0
	for _, f := range blocks {
		out = append(out, text[pos:f.DataStart]...)
		pos = f.End
	}
	return append(out, text[pos:]...)
}

// uuPart decodes a part declared uuencode: its first block is the part's
// data (and names it when the header does not); further blocks become
// attachments of their own, as in a body.
// Its anomalies go on the part (w.e.Parts[idx]).
func (w *walker) uuPart(info *Part, idx int, content []byte) []byte {
	first, extra, warn, err := UUDecodePart(content)
	if err != nil {
		w.errorf("part %s: %v", info.Part, err)
		w.defect(idx, AnomalyUUNoBegin, "")
		return content
	}
	if info.Filename == "" {
		info.Filename = first.Name
	}
	w.uuWarnings(info.Part, first.Warnings, warn)
	w.uuAnomalies(idx, first)
	w.uuFiles(*info, idx, extra)
	return first.Data
}

// uuBody records the uuencoded blocks of a plain-text body part as
// attachments and returns the text without their encoded lines.
func (w *walker) uuBody(info Part, idx int, data []byte) []byte {
	if !bytes.Contains(data, []byte("begin ")) {
		return data
	}
	blocks, warn := FindUU(data, true)
	w.uuWarnings(info.Part, nil, warn)
	if len(blocks) == 0 {
		return data
	}
	w.uuFiles(info, idx, blocks)
	return StripUU(data, blocks)
}

// uuFiles records blocks found in part info as attachments "P!name"
// ("P!uuencoded-N" for the Nth block when it has no name) with parent P,
// through the same path as any attachment (hashes, type, zip members,
// YARA, archiving). Their anomalies go on part info (w.e.Parts[idx]).
func (w *walker) uuFiles(info Part, idx int, files []UUFile) {
	for i, f := range files {
		seg := f.Name
		if seg == "" {
			seg = fmt.Sprintf("uuencoded-%d", i+1)
		}
		at := Part{
			Part: info.Part + "!" + seg, ContentType: "application/octet-stream",
			Encoding: "x-uuencode", Disposition: "uuencoded", Filename: f.Name,
			Size: int64(len(f.Data)), Depth: info.Depth, Parent: info.Part,
		}
		w.uuWarnings(at.Part, f.Warnings, "")
		w.uuAnomalies(idx, f)
		w.attachment(at, f.Data, nil) // Zeek hashes the part, not the decoded block
	}
}

// uuAnomalies records a block's anomalies, naming the block.
func (w *walker) uuAnomalies(idx int, f UUFile) {
	for _, a := range f.Anomalies {
		w.note(idx, fmt.Sprintf("%s (block %q)", a, clipString(f.Name, 60)))
	}
}

func (w *walker) uuWarnings(part string, warnings []string, extra string) {
	if extra != "" {
		warnings = append(warnings, extra)
	}
	for _, wn := range warnings {
		w.errorf("part %s: uuencode: %s", part, wn)
	}
}
