// Package timeline is the volume histogram of the current result set:
// how many matches per hour or per day (the index counts them with the
// facets, api.Histogram), drawn with block characters above the list when
// toggled on. Buckets that do not fit the width are merged, several to a
// column; the first and last bucket times label the axis.
package timeline

import (
	"fmt"
	"strconv"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/smtpscope/smtpscope/collector/api"
	"github.com/smtpscope/smtpscope/ui/common"
)

// Height is how many lines the timeline takes: a title, the bars, the
// axis.
const Height = 6

// barRows is the number of lines of bars.
const barRows = Height - 2

// maxColWidth bounds how wide one bucket is drawn when there are few;
// columns of 3 cells or more keep their last cell as a gap.
const maxColWidth = 8

// levels are the eighths of a cell, empty to full.
var levels = []rune(" ▁▂▃▄▅▆▇█")

// Model is the timeline.
type Model struct {
	ctx    *common.Context
	h      *api.Histogram
	width  int
	height int
}

// New returns an empty timeline.
func New(ctx *common.Context) *Model { return &Model{ctx: ctx} }

// Init does nothing.
func (m *Model) Init() tea.Cmd { return nil }

// Update does nothing: the root gives the counts (Set).
func (m *Model) Update(tea.Msg) (common.Component, tea.Cmd) { return m, nil }

// SetSize sets the area (Height lines are drawn whatever h).
func (m *Model) SetSize(w, h int) { m.width, m.height = w, h }

// ShortHelp is the key that shows and hides it.
func (m *Model) ShortHelp() []key.Binding { return []key.Binding{m.ctx.Keys.List.Timeline} }

// FullHelp is ShortHelp.
func (m *Model) FullHelp() [][]key.Binding { return [][]key.Binding{m.ShortHelp()} }

// Set gives the histogram of the current search (nil: not known yet).
func (m *Model) Set(h *api.Histogram) { m.h = h }

// Histogram is the histogram shown.
func (m *Model) Histogram() *api.Histogram { return m.h }

// Columns merges the buckets into at most w columns: n buckets a column,
// n the smallest that fits. It returns each column's count and n.
func Columns(bs []api.Bucket, w int) ([]int, int) {
	if len(bs) == 0 || w <= 0 {
		return nil, 1
	}
	n := (len(bs) + w - 1) / w
	cols := make([]int, 0, (len(bs)+n-1)/n)
	for i := 0; i < len(bs); i += n {
		c := 0
		for _, b := range bs[i:min(i+n, len(bs))] {
			c += b.Count
		}
		cols = append(cols, c)
	}
	return cols, n
}

// Bars draws counts as rows lines of vertical bars, each column cw cells
// wide (the last a gap from 3 cells on), scaled to the largest; a count
// above zero shows at least ▁.
func Bars(counts []int, rows, cw int) []string {
	top := 0
	for _, c := range counts {
		top = max(top, c)
	}
	out := make([]string, rows)
	for r := range rows {
		var b strings.Builder
		for _, c := range counts {
			eighths := 0
			if top > 0 {
				eighths = c * rows * 8 / top
				if c > 0 && eighths == 0 {
					eighths = 1
				}
			}
			lvl := min(max(eighths-(rows-1-r)*8, 0), 8)
			if cw >= 3 {
				b.WriteString(strings.Repeat(string(levels[lvl]), cw-1) + " ")
			} else {
				b.WriteString(strings.Repeat(string(levels[lvl]), cw))
			}
		}
		out[r] = b.String()
	}
	return out
}

// View draws the title, the bars and the axis, Height lines of the width.
func (m *Model) View() string {
	s, w := m.ctx.Styles, m.width
	lines := make([]string, 0, Height)
	h := m.h
	if h == nil || len(h.Buckets) == 0 {
		msg := "volume: counting…"
		if h != nil {
			msg = "volume: no match with a known time"
		}
		lines = append(lines, s.Muted.Render(common.Fit(msg, w)))
		return common.PadLines(lines, w, Height)
	}
	cols, per := Columns(h.Buckets, w)
	cw := min(max(w/len(cols), 1), maxColWidth)
	top := 0
	for _, c := range cols {
		top = max(top, c)
	}
	unit := h.Unit
	if per > 1 {
		unit = strconv.Itoa(per) + " " + h.Unit + "s"
	}
	title := fmt.Sprintf("VOLUME per %s (UTC) · peak %d", unit, top)
	if h.Missing > 0 {
		title += fmt.Sprintf(" · %d without a time", h.Missing)
	}
	lines = append(lines, s.PanelHead.Render(common.Fit(title, w)))
	for _, l := range Bars(cols, barRows, cw) {
		lines = append(lines, s.Accent.Render(l))
	}
	layout := "2006-01-02 15:00"
	if h.Unit == api.UnitDay {
		layout = "2006-01-02"
	}
	first, last := h.Buckets[0].Start.UTC().Format(layout), h.Buckets[len(h.Buckets)-1].Start.UTC().Format(layout)
	drawn := len(cols) * cw
	axis := first
	if gap := drawn - ansi.StringWidth(first) - ansi.StringWidth(last); gap >= 1 && len(cols) > 1 {
		axis += strings.Repeat(" ", gap) + last
	} else if len(cols) > 1 {
		axis += " … " + last
	}
	lines = append(lines, s.Muted.Render(common.Trunc(axis, w)))
	return common.PadLines(lines, w, Height)
}
