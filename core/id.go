package core

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// EscapeID makes a name from the wire (a session file name, an @uid value)
// usable as a uid or email id: every byte of an invalid UTF-8 sequence,
// every ASCII control character (NUL included), '/', '\\' and the escape
// character '%' itself become "%XX" (two upper-case hex digits); all else
// is kept. The result is valid UTF-8 without path separators or NUL, so it
// survives a JSON round trip unchanged and is safe in database keys; two
// different names never give the same id (UnescapeID reverses it).
func EscapeID(s string) string {
	if !needsEscape(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && n == 1) || escapedRune(r) {
			for _, c := range []byte(s[i : i+n]) {
				fmt.Fprintf(&b, "%%%02X", c)
			}
		} else {
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

func escapedRune(r rune) bool {
	return r < 0x20 || r == 0x7f || r == '%' || r == '/' || r == '\\'
}

func needsEscape(s string) bool {
	if !utf8.ValidString(s) {
		return true
	}
	return strings.ContainsFunc(s, escapedRune)
}

// UnescapeID reverses EscapeID.
func UnescapeID(s string) (string, error) {
	if !strings.Contains(s, "%") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) || !isUpperHex(s[i+1]) || !isUpperHex(s[i+2]) {
			return "", errors.New("bad escape in id " + fmt.Sprintf("%q", s))
		}
		b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
		i += 2
	}
	return b.String(), nil
}

func isUpperHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'A' && c <= 'F' }

// MaxSensorLen bounds a sensor name.
const MaxSensorLen = 64

// ValidSensor reports why name cannot name a sensor, or nil: 1 to
// MaxSensorLen bytes of ASCII letters, digits, '-' and '_'. The name is
// one token of a NATS subject (smtpscope.email.<sensor>) and the first
// half of a GlobalID, so it holds no '.', '/', wildcard or space; and
// it is not "session" or "review" (ReservedSensor), so a global id is
// never read as a session/<uid> or review/<name> document name.
func ValidSensor(name string) error {
	if name == "" || len(name) > MaxSensorLen {
		return fmt.Errorf("sensor name %q: want 1 to %d characters", name, MaxSensorLen)
	}
	if ReservedSensor(name) {
		return fmt.Errorf("sensor name %q is reserved (session/<uid> and review/<name> name other documents)", name)
	}
	for i := 0; i < len(name); i++ {
		if !sensorByte(name[i]) {
			return fmt.Errorf("sensor name %q: only letters, digits, '-' and '_' are allowed", name)
		}
	}
	return nil
}

func sensorByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

// ReservedSensor reports whether name is one of the words that prefix
// document names other than emails ("session", "review").
func ReservedSensor(name string) bool { return name == "session" || name == "review" }

// SensorFromHost makes a sensor name of a host name: its first label
// (up to the first '.'), every other character that a sensor name may
// not hold replaced by '_', cut to MaxSensorLen; "sensor" when nothing
// is left; a reserved word gets '_' appended.
func SensorFromHost(host string) string {
	host, _, _ = strings.Cut(host, ".")
	b := []byte(host)
	for i, c := range b {
		if !sensorByte(c) {
			b[i] = '_'
		}
	}
	if len(b) > MaxSensorLen {
		b = b[:MaxSensorLen]
	}
	if len(b) == 0 {
		return "sensor"
	}
	if ReservedSensor(string(b)) {
		return string(b) + "_"
	}
	return string(b)
}

// GlobalID is an email's id across sensors: "<sensor>/<id>". An id
// never holds '/' (EscapeID) and a sensor name never does (ValidSensor),
// so the same id seen on two sensors gives two global ids and
// SplitGlobalID reverses it. Without a sensor it is the id alone. An id
// that is already the sensor's global id (a hub stores a sensor's email
// under "<sensor>/<id>" and keeps its sensor) is returned as it is, so
// the hub's events, alerts and webhooks name the email as the sensor's
// do. (The sensor cannot be a prefix otherwise: "session" and "review",
// the kinds natsother.go puts before a name, are reserved.)
func GlobalID(sensor, id string) string {
	if sensor == "" || strings.HasPrefix(id, sensor+"/") {
		return id
	}
	return sensor + "/" + id
}

// SplitGlobalID reverses GlobalID; sensor is "" for an id without one.
func SplitGlobalID(g string) (sensor, id string) {
	if s, i, ok := strings.Cut(g, "/"); ok {
		return s, i
	}
	return "", g
}
