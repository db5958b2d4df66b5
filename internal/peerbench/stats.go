package main

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"
)

// Run is one finished whole-process run: the operating system's accounting
// of the child (wall clock from start to reaped, user+system CPU, peak RSS
// of the largest process it waited for).
type Run struct {
	Wall   time.Duration
	CPU    time.Duration // user + system
	MaxRSS int64         // bytes
}

// median of xs (NaN for none); xs is not modified.
func median(xs []float64) float64 {
	return percentile(xs, 50)
}

// percentile p (0–100) of xs by the nearest-rank method on the sorted
// values, interpolating between the two nearest ranks; NaN for none.
func percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if p <= 0 {
		return s[0]
	}
	if p >= 100 {
		return s[len(s)-1]
	}
	pos := p / 100 * float64(len(s)-1)
	lo := int(math.Floor(pos))
	hi := int(math.Ceil(pos))
	return s[lo] + (s[hi]-s[lo])*(pos-float64(lo))
}

// pairRatios returns a[i]/b[i] for every pair where both are usable.
func pairRatios(a, b []float64) []float64 {
	var r []float64
	for i := 0; i < len(a) && i < len(b); i++ {
		if b[i] > 0 && !math.IsNaN(a[i]) && !math.IsNaN(b[i]) {
			r = append(r, a[i]/b[i])
		}
	}
	return r
}

// rates turns runs into per-run units/second of wall clock.
func rates(units float64, runs []Run) []float64 {
	out := make([]float64, len(runs))
	for i, r := range runs {
		out[i] = units / r.Wall.Seconds()
	}
	return out
}

// cpuRates turns runs into per-run units per CPU-second.
func cpuRates(units float64, runs []Run) []float64 {
	out := make([]float64, len(runs))
	for i, r := range runs {
		out[i] = units / r.CPU.Seconds()
	}
	return out
}

func walls(runs []Run) []float64 {
	out := make([]float64, len(runs))
	for i, r := range runs {
		out[i] = r.Wall.Seconds()
	}
	return out
}

func cpus(runs []Run) []float64 {
	out := make([]float64, len(runs))
	for i, r := range runs {
		out[i] = r.CPU.Seconds()
	}
	return out
}

func maxRSS(runs []Run) int64 {
	var m int64
	for _, r := range runs {
		m = max(m, r.MaxRSS)
	}
	return m
}

// Target is what a row is checked against.
type Target struct {
	Text string // as printed, e.g. "≥ 20×"
	// Check reports whether v meets the target; nil: report only.
	Check func(v float64) bool
}

// AtLeast and AtMost are the targets of the table.
func AtLeast(text string, min float64) Target {
	return Target{Text: text, Check: func(v float64) bool { return v >= min }}
}

func AtMost(text string, max float64) Target {
	return Target{Text: text, Check: func(v float64) bool { return v <= max }}
}

func Below(text string, lim float64) Target {
	return Target{Text: text, Check: func(v float64) bool { return v < lim }}
}

// ReportOnly is a row without a target.
var ReportOnly = Target{Text: "(report only)"}

// verdict is PASS, FAIL, or "—" for report-only rows and missing values.
func (t Target) verdict(v float64) string {
	if t.Check == nil {
		return "—"
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "FAIL (no value)"
	}
	if t.Check(v) {
		return "PASS"
	}
	return "FAIL"
}

// Row is one line of the result table. Value is what Target checks.
type Row struct {
	Measure, Ours, Peer, Ratio string
	Target                     Target
	Value                      float64
}

// Result is the cell PASS/FAIL/—.
func (r Row) Result() string { return r.Target.verdict(r.Value) }

// cell makes s safe inside a markdown table cell.
func cell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.ReplaceAll(s, "\n", " ")
}

// Table renders rows as a markdown table.
func Table(rows []Row) string {
	var b strings.Builder
	b.WriteString("| measure | smtpscope | peer | ratio | target | result |\n")
	b.WriteString("|---|---|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", cell(r.Measure), cell(r.Ours), cell(r.Peer),
			cell(r.Ratio), cell(r.Target.Text), r.Result())
	}
	return b.String()
}

// Failed counts the rows whose target is not met.
func Failed(rows []Row) int {
	n := 0
	for _, r := range rows {
		if strings.HasPrefix(r.Result(), "FAIL") {
			n++
		}
	}
	return n
}

// Number formats: 3 significant digits, thousands separated.
func num(v float64) string {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return "n/a"
	case math.Abs(v) >= 1000:
		return thousands(int64(math.Round(v)))
	case math.Abs(v) >= 100:
		return fmt.Sprintf("%.0f", v)
	case math.Abs(v) >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

func thousands(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// faster says how a speed ratio (ours / theirs) reads: "6.70× faster" or,
// below 1, "5.00× slower".
func faster(r float64) string {
	if math.IsNaN(r) || r <= 0 || math.IsInf(r, 0) {
		return "n/a"
	}
	if r >= 1 {
		return ratio(r) + " faster"
	}
	return ratio(1/r) + " slower"
}

// ratio formats a factor: "6.7×".
func ratio(v float64) string { return num(v) + "×" }

// ms formats seconds as milliseconds.
func ms(sec float64) string { return num(sec*1000) + " ms" }

// mib formats bytes as MiB.
func mib(b int64) string { return num(float64(b)/(1<<20)) + " MiB" }

// spread is "median (min–max)" of xs, formatted by f.
func spread(xs []float64, f func(float64) string) string {
	if len(xs) < 2 {
		return f(median(xs))
	}
	return fmt.Sprintf("%s (%s–%s)", f(median(xs)), f(percentile(xs, 0)), f(percentile(xs, 100)))
}
