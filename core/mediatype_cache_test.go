package core

import (
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/jhillyerd/enmime/v2/mediatype"
)

// requireMediaTypeAsParser: parseMediaType gives what enmime's parser
// gives for v, whether it remembers v or not (the malformed parameters
// in any order: the parser lists them in map order, which varies from
// call to call).
func requireMediaTypeAsParser(t *testing.T, v string) {
	t.Helper()
	in := v
	if len(in) > maxMediaTypeValue {
		in = string(clipUTF8([]byte(in), maxMediaTypeValue))
	}
	wm, wp, wi, we := mediatype.Parse(in)
	slices.Sort(wi) // the parser lists them in map order
	for range 2 {   // the second call may come from the cache
		m, p, i, e := parseMediaType(v)
		i = slices.Sorted(slices.Values(i))
		if m != wm || !reflect.DeepEqual(p, wp) || !reflect.DeepEqual(i, wi) || fmt.Sprint(e) != fmt.Sprint(we) {
			t.Fatalf("%q: got %q %v %q %v, the parser %q %v %q %v", v, m, p, i, e, wm, wp, wi, we)
		}
	}
}

// TestMediaTypeCache: remembered values give the parser's results after
// other values took and lost their slots (more values than slots), and
// analysing mail (which reads the shared maps) leaves them as they were.
func TestMediaTypeCache(t *testing.T) {
	vals := []string{"text/plain", `text/plain; charset="utf-8"`, "multipart/mixed; boundary=abc",
		"attachment; filename=\"a b.pdf\"", "broken;;;= x", "", "text/html; charset=iso-8859-1; format=flowed"}
	for i := range 3 * len(mediaTypes) {
		vals = append(vals, fmt.Sprintf("application/x-%d; name=\"f%d.bin\"", i, i))
	}
	for round := range 2 {
		for _, v := range vals {
			requireMediaTypeAsParser(t, v)
		}
		if round == 0 {
			a := NewAnalyzer(DefaultOptions())
			for _, v := range vals[:7] {
				a.AnalyzeBytes([]byte("Content-Type: " + v + "\r\nContent-Disposition: " + v + "\r\n\r\n--abc\r\nContent-Type: " + v + "\r\n\r\nx\r\n--abc--\r\n"))
			}
		}
	}
}

// FuzzMediaTypeCache: any value, asked for twice between others, gives
// the parser's results.
func FuzzMediaTypeCache(f *testing.F) {
	f.Add(`text/plain; charset="utf-8"`, "multipart/alternative; boundary=\"=_x\"")
	f.Add("attachment; filename*=UTF-8''%e2%82%ac.txt", "")
	f.Fuzz(func(t *testing.T, a, b string) {
		requireMediaTypeAsParser(t, a)
		requireMediaTypeAsParser(t, b)
		requireMediaTypeAsParser(t, a)
	})
}
