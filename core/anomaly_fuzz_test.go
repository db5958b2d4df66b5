package core

import (
	"bytes"
	"encoding/base64"
	"slices"
	"testing"
)

// FuzzBase64Anomalies: the lenient base64 decoder never outgrows its
// input, reports only base64 codes, reports none for what an encoder
// writes (and decodes it exactly).
func FuzzBase64Anomalies(f *testing.F) {
	for _, s := range []string{"QUJD", "QUJDRA", "QQ==Qg==", "QUJD=", "QU*JD", "QUJDR", "QQ=\r\n", "=", ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		out, anomalies, _ := decodeBase64(in)
		if len(out) > len(in) {
			t.Fatalf("%d bytes out of %d", len(out), len(in))
		}
		for _, a := range anomalies {
			if c := AnomalyCode(a); c != AnomalyBase64Padding && c != AnomalyBase64Characters && c != AnomalyBase64Length {
				t.Fatalf("anomaly %q", a)
			}
		}
		enc := []byte(base64.StdEncoding.EncodeToString(in))
		if dec, an, err := decodeBase64(enc); !bytes.Equal(dec, in) || an != nil || err != nil {
			t.Fatalf("well-formed %q: %q %q %v", enc, dec, an, err)
		}
	})
}

// FuzzHeaderDefects: any header block gives at most one entry per code,
// all documented.
func FuzzHeaderDefects(f *testing.F) {
	for _, c := range anomalyCases {
		f.Add([]byte(c.msg))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		seen := map[string]bool{}
		for _, a := range headerDefects(in) {
			c := AnomalyCode(a)
			if seen[c] || !slices.Contains(AnomalyCodes, c) {
				t.Fatalf("entry %q (seen before: %v)", a, seen[c])
			}
			seen[c] = true
		}
	})
}
