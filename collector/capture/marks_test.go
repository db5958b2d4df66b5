package capture

import "testing"

// Recycled marks slices come back empty and never oversized, so a session
// never sees another's marks and the pool holds no huge session's slice.
func TestMarksRecycle(t *testing.T) {
	for i := 0; i < 50; i++ {
		m := getMarks()
		if len(m) != 0 {
			t.Fatalf("getMarks returned %d marks of an earlier session", len(m))
		}
		if cap(m) > maxPooledMarks {
			t.Fatalf("getMarks returned a slice of capacity %d, above the pool's bound %d", cap(m), maxPooledMarks)
		}
		m = append(m, mark{off: 1, seq: 2}, mark{off: 3, seq: 4})
		putMarks(m)
		putMarks(make([]mark, 3, maxPooledMarks+1))
	}
	var h halfBuf
	h.addMark(0, 7)
	h.addMark(5, 7) // same packet: no new mark
	h.addMark(9, 8)
	if len(h.marks) != 2 || h.marks[0] != (mark{0, 7}) || h.marks[1] != (mark{9, 8}) {
		t.Fatalf("marks after recycling: %+v", h.marks)
	}
}
