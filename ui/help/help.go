// Package help renders the key binding overlay (?) and the one-line hints,
// from the one keymap.
package help

import (
	"strings"

	bhelp "charm.land/bubbles/v2/help"

	"github.com/smtpscope/smtpscope/collector/api"
	"github.com/smtpscope/smtpscope/ui/common"
	"github.com/smtpscope/smtpscope/ui/keys"
)

func model(ctx *common.Context) bhelp.Model {
	h := bhelp.New()
	s := ctx.Styles
	h.Styles.ShortKey, h.Styles.ShortDesc = s.HelpKey, s.HelpDesc
	h.Styles.FullKey, h.Styles.FullDesc = s.HelpKey, s.HelpDesc
	h.Styles.ShortSeparator, h.Styles.FullSeparator, h.Styles.Ellipsis = s.Muted, s.Muted, s.Muted
	h.SetWidth(ctx.Width)
	return h
}

// Short is the one-line hint for the list screen.
func Short(ctx *common.Context) string {
	return model(ctx).ShortHelpView(ctx.Keys.ShortHelp())
}

// Full renders the help screen at the context's size.
func Full(ctx *common.Context) string {
	s := ctx.Styles
	var b strings.Builder
	b.WriteString(s.Title.Render("smtpscope — keys") + "\n\n")
	b.WriteString(model(ctx).FullHelpView(ctx.Keys.FullHelp()))
	b.WriteString("\n\n")
	b.WriteString(s.PanelHead.Render("Quick filters") + "\n")
	for i, f := range keys.QuickFilters {
		b.WriteString("  " + s.HelpKey.Render(string(rune('1'+i))) + " " + s.HelpDesc.Render(f) + "\n")
	}
	b.WriteString("\n" + s.PanelHead.Render("Detail screen") + "\n")
	b.WriteString(s.HelpDesc.Render("  tab/l and S-tab/h or 1-8 switch tabs · z folds the message bytes of the transcript and\n"+
		"  switches headers between decoded and raw · in Attachments and IOCs, j/k select, e saves, y copies") + "\n")
	b.WriteString("\n" + s.PanelHead.Render("Query language (examples)") + "\n")
	for _, q := range queryExamples(min(max(ctx.Width-4, 10), 96)) {
		b.WriteString("  " + s.HelpDesc.Render(common.Trunc(q, max(ctx.Width-4, 10))) + "\n")
	}
	b.WriteString("\n" + s.Muted.Render("  press ? or esc to close"))
	return b.String()
}

// queryExamples are the help's query-language lines: words and phrases,
// an example of each field of the one field table (api.Fields) packed
// into lines of at most width cells, then the operators.
func queryExamples(width int) []string {
	lines := []string{`invoice "wire transfer"       words and phrases in subject, bodies, names`}
	line := ""
	for _, ex := range api.Examples() {
		if line != "" && len(line)+2+len(ex) > width {
			lines, line = append(lines, line), ""
		}
		line = strings.TrimPrefix(line+"  "+ex, "  ")
	}
	return append(lines, line, `-negation  a OR b  (parentheses)`)
}
