package core

// What smtpscope takes from enmime (v2), and where it reads mail
// differently, so that no byte of broken or hostile mail is lost or
// misplaced.
//
// enmime parses header blocks (ReadHeader), media types (mediatype),
// RFC 2047 words in file names (DecodeRFC2047), and gives the part tree
// its type (enmime.Part). The MIME structure itself is read by splitMIME
// (bigmime.go) for every message, not by enmime's part reader
// (ReadParts), which:
//
//   - cost a third of the CPU of `parse` (its boundary reader peeks
//     byte by byte) and held every part's content twice while reading it
//     (peak memory about 4x the message; splitMIME's parts are slices of
//     the message: about 2x);
//   - fails the whole message when a Content-Type does not parse
//     (SkipMalformedParts(false) returns no tree): splitMIME records the
//     error on that part and keeps every other part;
//   - stores nothing of a multipart whose boundary never occurs (the
//     multipart is left childless, its body dropped): splitMIME keeps the
//     body as one leaf (as Python's email does);
//   - in an unclosed multipart whose last line is its own delimiter,
//     leaves that line in the last leaf's content; splitMIME ends the part
//     there and opens an empty one (as Python does);
//   - cuts a part at "--boundary--" in the middle of a line: RFC 2046
//     delimiters start a line, as splitMIME (mime4j, Python) reads them;
//   - splits any non-text part with a boundary parameter as a multipart:
//     splitMIME splits multipart/* only (as Python does) and warns;
//   - costs exponential time in the depth of nested unclosed multiparts
//     (scanMIME closes them for it; splitMIME is linear).
//
// Tests keep enmime's part reader, with the repairs the analyzer used to
// apply to it, as a reference (enmime_ref_test.go): the corpus, the
// crafted messages and FuzzSplitMatchesEnmime require both to give the same
// parts, attachments, bodies and IOCs wherever neither reports a defect.
//
// Still applied to enmime's functions:
//
//   - enmime.DecodeRFC2047 quotes whatever follows an "=" in the decoded
//     text: decodeHeader (analyze.go) tries Go's word decoder first.
//   - RFC 2046 5.1.5 makes a part without Content-Type in a
//     multipart/digest message/rfc822: walker.message sets it.

import (
	"github.com/jhillyerd/enmime/v2"
)

// hasError reports whether the MIME reader recorded an error of that name
// on p.
func hasError(p *enmime.Part, name string) bool {
	for _, e := range p.Errors {
		if e.Name == name {
			return true
		}
	}
	return false
}
