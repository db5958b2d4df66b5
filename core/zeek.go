package core

import (
	"bytes"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"hash"
)

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
	if !inMultipart && raw[len(raw)-1] == '\n' {
		raw = raw[:len(raw)-1] // the message's last line break
	}
	out := make([]byte, 0, len(raw)+2)
	for rest := raw; ; {
		l, more, found := bytes.Cut(rest, []byte("\n"))
		l = bytes.TrimSuffix(l, []byte("\r"))
		if enc == "quoted-printable" {
			out = zeekQPLine(out, l)
		} else {
			out = append(out, l...)
			if found || !inMultipart {
				out = append(out, '\r', '\n')
			}
		}
		if !found {
			return out
		}
		rest = more
	}
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

// hashesWith returns the hashes of a part's decoded bytes and Zeek's
// hashes of it when they differ (zeek: zeekContent's bytes, nil when the
// same). Zeek's bytes are most often the decoded bytes plus a final CRLF:
// data is then hashed once and the hash states are cloned for the suffix.
func hashesWith(data, zeek []byte) (md5s, sha1s, sha256s string, z ZeekHashes) {
	if len(zeek) > len(data) && bytes.HasPrefix(zeek, data) {
		return hashesSuffix(data, zeek[len(data):])
	}
	md5s, sha1s, sha256s = hashes(data)
	if zeek != nil && !bytes.Equal(zeek, data) {
		z.ZeekMD5, z.ZeekSHA1, z.ZeekSHA256 = hashes(zeek)
	}
	return md5s, sha1s, sha256s, z
}

// hashesSuffix hashes data and data+suffix, reading data once.
func hashesSuffix(data, suffix []byte) (md5s, sha1s, sha256s string, z ZeekHashes) {
	hs := [3]hash.Hash{md5.New(), sha1.New(), sha256.New()}
	var base, ext [3]string
	for i, h := range hs {
		h.Write(data)
		c, err := h.(hash.Cloner).Clone()
		base[i] = hex.EncodeToString(h.Sum(nil))
		if err != nil { // the standard hashes always clone
			h.Write(suffix)
			ext[i] = hex.EncodeToString(h.Sum(nil))
			continue
		}
		c.Write(suffix)
		ext[i] = hex.EncodeToString(c.Sum(nil))
	}
	z = ZeekHashes{ZeekMD5: ext[0], ZeekSHA1: ext[1], ZeekSHA256: ext[2]}
	return base[0], base[1], base[2], z
}
