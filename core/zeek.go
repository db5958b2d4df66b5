package core

import "bytes"

// zeekContent returns the bytes Zeek's MIME analyzer hands to file
// analysis for a leaf part whose raw (transfer-encoded) content is raw, or
// nil when they are the bytes smtpscope decodes anyway (base64, and
// 7bit/8bit/binary parts inside a multipart whose lines end in CRLF).
// Zeek reads the content line by line: a quoted-printable line gets CRLF
// unless it ends in a soft break ("="), the last one too; other
// non-base64 lines are passed through, joined by CRLF, and the last one
// gets CRLF only outside a multipart (inside one it belongs to the
// boundary). Zeek ignores white space at the end of quoted-printable lines
// and keeps a malformed "=" escape as written.
func zeekContent(raw []byte, enc string, inMultipart bool) []byte {
	if enc == "base64" || len(raw) == 0 {
		return nil
	}
	if enc != "quoted-printable" && inMultipart && bytes.Count(raw, []byte("\n")) == bytes.Count(raw, []byte("\r\n")) {
		switch enc {
		case "", "7bit", "8bit", "binary":
			return nil // decoded as they are
		}
		return bytes.Clone(raw) // decoded by us, passed through by Zeek
	}
	lines := bytes.Split(raw, []byte("\n"))
	if !inMultipart && len(lines[len(lines)-1]) == 0 {
		lines = lines[:len(lines)-1] // the message's last line break
	}
	out := make([]byte, 0, len(raw)+2)
	for i, l := range lines {
		l = bytes.TrimSuffix(l, []byte("\r"))
		if enc == "quoted-printable" {
			out = zeekQPLine(out, l)
			continue
		}
		out = append(out, l...)
		if i < len(lines)-1 || !inMultipart {
			out = append(out, '\r', '\n')
		}
	}
	return out
}

// zeekQPLine appends one quoted-printable line decoded as Zeek does.
func zeekQPLine(out, l []byte) []byte {
	l = bytes.TrimRight(l, " \t")
	for i := 0; i < len(l); i++ {
		c := l[i]
		if c != '=' {
			out = append(out, c)
			continue
		}
		if i == len(l)-1 {
			return out // soft line break
		}
		if i+2 < len(l) && isHex(l[i+1]) && isHex(l[i+2]) {
			out = append(out, unhex(l[i+1])<<4|unhex(l[i+2]))
			i += 2
			continue
		}
		out = append(out, c)
	}
	return append(out, '\r', '\n')
}

// zeekHashes are Zeek's hashes of a part whose decoded bytes are data,
// when they differ from data's.
func zeekHashes(zeek, data []byte) ZeekHashes {
	if zeek == nil || bytes.Equal(zeek, data) {
		return ZeekHashes{}
	}
	var z ZeekHashes
	z.ZeekMD5, z.ZeekSHA1, z.ZeekSHA256 = hashes(zeek)
	return z
}
