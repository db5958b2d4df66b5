// Package help renders the key binding overlay (?) and the one-line hints,
// from the one keymap.
package help

import (
	"strings"

	bhelp "charm.land/bubbles/v2/help"

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
	for _, q := range []string{
		`invoice "wire transfer"       words and phrases in subject, bodies, names`,
		`from:*@example.com  rcpt:bob@corp.example  mailfrom:  subject:  helo:  msgid:`,
		`ip:203.0.113.5  domain:evil.example  url:  ioc:evil[.]example  hash:<md5|sha1|sha256>`,
		`filename:*.exe  type:application/zip  yara:RuleName  status:failed  group:default`,
		`has:attachment has:ioc has:yara  is:partial is:starttls  after:2026-01-01 before:  larger:2M`,
		`-negation  a OR b  (parentheses)`,
	} {
		b.WriteString("  " + s.HelpDesc.Render(common.Trunc(q, max(ctx.Width-4, 10))) + "\n")
	}
	b.WriteString("\n" + s.Muted.Render("  press ? or esc to close"))
	return b.String()
}
