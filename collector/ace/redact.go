package ace

import (
	"net/url"
	"strings"
)

// redacted replaces the user information of a URL.
const redacted = "xxxxx"

// userinfo splits s around the user information of its authority (what
// precedes the last '@' before the path, query or fragment): it returns
// what comes before it, the user information and the rest ("@host...").
// ok is false when s has none. It works on any string, URL or not.
func userinfo(s string) (before, info, rest string, ok bool) {
	start := 0
	if i := strings.Index(s, "//"); i >= 0 {
		start = i + 2
	}
	end := len(s)
	if i := strings.IndexAny(s[start:], "/?#"); i >= 0 {
		end = start + i
	}
	at := strings.LastIndexByte(s[start:end], '@')
	if at < 0 {
		return "", "", "", false
	}
	return s[:start], s[start : start+at], s[start+at:], true
}

// RedactURL returns s with the user information of its authority
// (user name, password, or a token as user name) replaced by "xxxxx":
// "https://user:pass@host/x" becomes "https://xxxxx@host/x". Strings
// that are not URLs are redacted the same way; other strings are
// returned unchanged.
func RedactURL(s string) string {
	before, _, rest, ok := userinfo(s)
	if !ok {
		return s
	}
	return before + redacted + rest
}

// scrub removes node's user information from msg, raw and decoded (a
// server or net/http may quote it either way).
func scrub(msg, node string) string {
	_, info, _, ok := userinfo(node)
	if !ok || info == "" {
		return msg
	}
	secrets := []string{info}
	if dec, err := url.PathUnescape(info); err == nil {
		secrets = append(secrets, dec)
		if _, pass, found := strings.Cut(dec, ":"); found && pass != "" {
			secrets = append(secrets, pass)
		}
	}
	for _, sec := range secrets {
		msg = strings.ReplaceAll(msg, sec, redacted)
	}
	return msg
}
