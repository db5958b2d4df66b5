package core

import (
	"crypto/rand"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode/utf16"
)

// STIXSCONamespace is the namespace of the UUIDv5 identifiers of STIX 2.1
// Cyber-observable Objects (STIX 2.1 section 2.9): every producer derives
// an SCO's id from its ID contributing properties in this namespace, so
// the same observable gets the same id everywhere.
const STIXSCONamespace = "00abedb4-aa42-466c-9c01-fed23315a9b7"

// STIXSCOID returns the deterministic id "<typ>--<UUIDv5>" of an SCO
// whose ID contributing properties are props (STIX 2.1 section 2.9): the
// UUIDv5 in STIXSCONamespace of props serialized as JSON by RFC 8785
// (JSON Canonicalization Scheme). A "hashes" property contributes one
// hash only, the first of MD5, SHA-1, SHA-256, SHA-512 it holds. props
// holds strings, bools, numbers (int, int64, float64), []any, []string
// and map[string]any; with no property the id is a random UUIDv4, as
// the specification says.
func STIXSCOID(typ string, props map[string]any) string {
	if len(props) == 0 {
		return typ + "--" + uuidV4()
	}
	if h, ok := props["hashes"].(map[string]string); ok {
		props = maps1(props)
		props["hashes"] = oneHash(h)
	}
	var b strings.Builder
	jcsValue(&b, props)
	return typ + "--" + uuidV5(STIXSCONamespace, []byte(b.String()))
}

// maps1 is a shallow copy of m.
func maps1(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// oneHash keeps the preferred hash of h (STIX 2.1 section 2.9).
func oneHash(h map[string]string) map[string]any {
	for _, alg := range []string{"MD5", "SHA-1", "SHA-256", "SHA-512"} {
		if v, ok := h[alg]; ok {
			return map[string]any{alg: v}
		}
	}
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(keys) == 0 {
		return map[string]any{}
	}
	return map[string]any{keys[0]: h[keys[0]]}
}

// uuidV5 is the RFC 4122 name-based (SHA-1) UUID of name in namespace ns.
func uuidV5(ns string, name []byte) string {
	nsb, err := hex.DecodeString(strings.ReplaceAll(ns, "-", ""))
	if err != nil || len(nsb) != 16 {
		panic("core: bad UUID namespace " + ns) // a constant of ours
	}
	h := sha1.New()
	h.Write(nsb)
	h.Write(name)
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = u[6]&0x0f | 0x50
	u[8] = u[8]&0x3f | 0x80
	return formatUUID(u)
}

// uuidV4 is a random RFC 4122 UUID.
func uuidV4() string {
	var u [16]byte
	if _, err := rand.Read(u[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported systems
	}
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return formatUUID(u)
}

func formatUUID(u [16]byte) string {
	s := hex.EncodeToString(u[:])
	return s[0:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:32]
}

// jcsValue writes v as RFC 8785 canonical JSON: object members sorted by
// their names' UTF-16 code units, no white space, strings escaped as
// ECMAScript's JSON.stringify does, numbers as ECMAScript writes them.
func jcsValue(b *strings.Builder, v any) {
	switch v := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		b.WriteString(strconv.FormatBool(v))
	case string:
		jcsString(b, v)
	case int:
		b.WriteString(strconv.Itoa(v))
	case int64:
		jcsNumber(b, float64(v))
	case float64:
		jcsNumber(b, v)
	case []string:
		b.WriteByte('[')
		for i, s := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			jcsString(b, s)
		}
		b.WriteByte(']')
	case []any:
		b.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			jcsValue(b, e)
		}
		b.WriteByte(']')
	case map[string]string:
		m := make(map[string]any, len(v))
		for k, s := range v {
			m[k] = s
		}
		jcsValue(b, m)
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool { return utf16Less(keys[i], keys[j]) })
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			jcsString(b, k)
			b.WriteByte(':')
			jcsValue(b, v[k])
		}
		b.WriteByte('}')
	default:
		panic(fmt.Sprintf("core: jcs: unsupported %T", v)) // only our own values reach here
	}
}

// utf16Less orders strings by their UTF-16 code units (RFC 8785 3.2.3).
func utf16Less(a, b string) bool {
	ua, ub := utf16.Encode([]rune(a)), utf16.Encode([]rune(b))
	for i := 0; i < len(ua) && i < len(ub); i++ {
		if ua[i] != ub[i] {
			return ua[i] < ub[i]
		}
	}
	return len(ua) < len(ub)
}

func jcsString(b *strings.Builder, s string) {
	b.WriteByte('"')
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if r < 0x20 {
				fmt.Fprintf(b, `\u%04x`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
}

// jcsNumber writes f as ECMAScript's Number.prototype.toString does
// (RFC 8785 3.2.2.3) for the finite values STIX properties hold.
func jcsNumber(b *strings.Builder, f float64) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		b.WriteString("null")
		return
	}
	if f == 0 {
		b.WriteByte('0')
		return
	}
	abs := math.Abs(f)
	if abs >= 1e-6 && abs < 1e21 {
		b.WriteString(strconv.FormatFloat(f, 'f', -1, 64))
		return
	}
	s := strconv.FormatFloat(f, 'e', -1, 64) // d.ddde±XX
	mant, exp, _ := strings.Cut(s, "e")
	sign := exp[0]
	exp = strings.TrimLeft(exp[1:], "0")
	b.WriteString(mant + "e" + string(sign) + exp)
}
