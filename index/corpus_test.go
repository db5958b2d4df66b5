package index

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/smtpscope/smtpscope/core"
)

// corpusGen makes realistic generated emails for tests and benchmarks:
// varied senders, subjects, bodies, attachments, IOCs, YARA hits and
// submission states, deterministic for a seed. Generated emails carry the
// flag "generated" (is:generated) so tests can tell them apart.
type corpusGen struct {
	seed    uint64
	domains []string
	users   []string
	words   []string
	start   time.Time
}

var (
	genTLDs     = []string{"com", "net", "org", "example", "io", "ru", "cn", "biz", "info", "co.uk", "de", "xyz"}
	genSyll     = []string{"ab", "ac", "al", "an", "ar", "ba", "be", "bo", "ca", "co", "da", "de", "el", "en", "er", "fa", "ga", "ha", "in", "ka", "la", "le", "li", "lo", "ma", "me", "mi", "mo", "na", "ne", "no", "or", "pa", "pe", "ra", "re", "ri", "ro", "sa", "se", "si", "so", "ta", "te", "ti", "to", "ul", "un", "va", "ve", "za"}
	genFirst    = []string{"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory", "oscar", "peggy", "rupert", "sybil", "trent", "victor", "walter", "noreply", "billing", "support", "admin", "hr", "it", "news", "sales"}
	genSubjects = []string{"Invoice %d overdue", "Your account has been suspended", "RE: meeting on %s", "Payment confirmation #%d", "Shipping notification for order %d",
		"Password expiry notice", "Quarterly report Q%d", "FW: contract draft", "Urgent wire transfer request", "Your parcel could not be delivered",
		"Weekly newsletter %d", "Security alert: new sign-in", "Re: lunch %s?", "Document shared with you", "Voicemail from %d", "Action required: verify your mailbox"}
	genAttach = []struct{ name, ctype, dtype string }{
		{"invoice_%d.pdf", "application/pdf", "application/pdf"},
		{"report_%d.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
		{"scan_%d.zip", "application/zip", "application/zip"},
		{"payment_%d.pdf.exe", "application/octet-stream", "application/x-dosexec"},
		{"image%d.png", "image/png", "image/png"},
		{"statement_%d.xlsm", "application/vnd.ms-excel.sheet.macroEnabled.12", "application/vnd.ms-excel.sheet.macroenabled.12"},
		{"voicemail_%d.html", "text/html", "text/html"},
		{"archive_%d.iso", "application/octet-stream", "application/x-iso9660-image"},
		{"logo%d.gif", "image/gif", "image/gif"},
		{"notes_%d.txt", "text/plain", "text/plain"},
	}
	genStates = []string{"queued", "sent", "sent", "sent", "sent", "retrying", "failed"}
	genRules  = []string{"Win_Trojan_Emotet", "Phish_Office365", "Macro_AutoOpen", "Suspicious_ISO", "HTML_Smuggling"}
)

func newCorpusGen(seed uint64) *corpusGen {
	r := rand.New(rand.NewPCG(seed, 1))
	word := func(n int) string {
		var sb strings.Builder
		for i := 0; i < n; i++ {
			sb.WriteString(genSyll[r.IntN(len(genSyll))])
		}
		return sb.String()
	}
	g := &corpusGen{seed: seed, start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	for i := 0; i < 2000; i++ {
		g.domains = append(g.domains, word(2+r.IntN(3))+"."+genTLDs[r.IntN(len(genTLDs))])
	}
	for i := 0; i < 300; i++ {
		g.users = append(g.users, genFirst[r.IntN(len(genFirst))]+fmt.Sprint(r.IntN(100)))
	}
	for i := 0; i < 5000; i++ {
		g.words = append(g.words, word(1+r.IntN(4)))
	}
	// Some real words so that text queries look like analysts' queries.
	g.words = append(g.words, "invoice", "payment", "password", "account", "urgent", "transfer", "verify", "click", "login", "document", "meeting", "shipment", "bitcoin", "wallet")
	return g
}

func hexOf(h []byte) string { return hex.EncodeToString(h) }

// email returns generated email number i (deterministic).
func (g *corpusGen) email(i int) EmailDoc {
	r := rand.New(rand.NewPCG(g.seed, uint64(i)+2))
	pick := func(s []string) string { return s[r.IntN(len(s))] }
	addr := func() string { return pick(g.users) + "@" + pick(g.domains) }
	ip := func() string {
		return fmt.Sprintf("%d.%d.%d.%d", 1+r.IntN(223), r.IntN(256), r.IntN(256), 1+r.IntN(254))
	}
	uid := fmt.Sprintf("C%08x%06d", r.Uint32(), i)
	t := g.start.Add(time.Duration(i)*37*time.Second + time.Duration(r.IntN(1000))*time.Millisecond)
	from := addr()
	nrcpt := 1 + r.IntN(3)
	rcpts := make([]string, nrcpt)
	for j := range rcpts {
		rcpts[j] = pick(genFirst) + "@corp.example"
	}
	subj := pick(genSubjects)
	if strings.Contains(subj, "%d") {
		subj = fmt.Sprintf(subj, r.IntN(100000))
	} else if strings.Contains(subj, "%s") {
		subj = fmt.Sprintf(subj, pick(g.words))
	}
	var body strings.Builder
	nw := 40 + r.IntN(200)
	for j := 0; j < nw; j++ {
		if j > 0 {
			if j%12 == 0 {
				body.WriteString(".\n")
			} else {
				body.WriteByte(' ')
			}
		}
		body.WriteString(pick(g.words))
	}
	e := &core.Email{
		ID: uid + ".0",
		Session: core.SessionInfo{UID: uid, SourceIP: ip(), SourcePort: 1024 + r.IntN(60000), DestIP: "192.0.2.25", DestPort: 25,
			Time: t, Helo: "mail." + pick(g.domains), StartTLS: r.IntN(3) == 0},
		Envelope:  core.Envelope{MailFrom: from, RcptTo: rcpts},
		Partial:   r.IntN(50) == 0,
		Subject:   subj,
		From:      titleCase(pick(genFirst)) + " <" + from + ">",
		To:        rcpts,
		MessageID: fmt.Sprintf("<%x.%d@%s>", r.Uint64(), i, pick(g.domains)),
		Headers: map[string][]string{"received": {
			fmt.Sprintf("from %s (%s [%s]) by mx.corp.example with ESMTP id %x", "mail."+pick(g.domains), pick(g.domains), ip(), r.Uint32()),
		}},
		Flags: []string{"generated"},
	}
	if r.IntN(4) == 0 {
		e.Cc = []string{addr()}
	}
	sum := fmt.Sprint(i, g.seed)
	m, s1, s2 := md5.Sum([]byte(sum)), sha1.Sum([]byte(sum)), sha256.Sum256([]byte(sum))
	e.MD5, e.SHA1, e.SHA256 = hexOf(m[:]), hexOf(s1[:]), hexOf(s2[:])

	// IOCs: URLs and domains in the body, sometimes IPs and hashes.
	nioc := r.IntN(5)
	for j := 0; j < nioc; j++ {
		d := pick(g.domains)
		switch r.IntN(4) {
		case 0, 1:
			u := "https://" + d + "/" + pick(g.words) + "/" + pick(g.words) + ".php?id=" + fmt.Sprint(r.IntN(10000))
			e.IOCs = append(e.IOCs, core.IOC{Type: core.IOCURL, Value: u, Source: "body"},
				core.IOC{Type: core.IOCDomain, Value: d, Source: "body"})
			fmt.Fprintf(&body, " %s", u)
		case 2:
			v := ip()
			e.IOCs = append(e.IOCs, core.IOC{Type: core.IOCIPv4, Value: v, Source: "body"})
			fmt.Fprintf(&body, " %s", v)
		case 3:
			h := sha256.Sum256([]byte(d))
			e.IOCs = append(e.IOCs, core.IOC{Type: core.IOCSHA256, Value: hexOf(h[:]), Source: "body"})
		}
	}
	e.BodyText = body.String()
	if r.IntN(3) == 0 {
		e.BodyHTML = "<html><body><p>" + e.BodyText + "</p></body></html>"
	}

	natt := 0
	if r.IntN(10) < 3 {
		natt = 1 + r.IntN(2)
	}
	for j := 0; j < natt; j++ {
		a := genAttach[r.IntN(len(genAttach))]
		key := fmt.Sprint(i, j)
		m, s1, s2 := md5.Sum([]byte(key)), sha1.Sum([]byte(key)), sha256.Sum256([]byte(key))
		att := core.Attachment{
			Filename: fmt.Sprintf(a.name, r.IntN(10000)), ContentType: a.ctype, DetectedType: a.dtype,
			Size: int64(1000 + r.IntN(2<<20)), MD5: hexOf(m[:]), SHA1: hexOf(s1[:]), SHA256: hexOf(s2[:]),
			Disposition: "attachment", Part: fmt.Sprint(j + 2), Depth: 1, Parent: "1",
		}
		if r.IntN(20) == 0 {
			att.YARA = []core.YaraMatch{{Rule: pick(genRules), Namespace: "default"}}
		}
		e.Attachments = append(e.Attachments, att)
		e.Size += att.Size
	}
	e.Size += int64(len(e.BodyText) + len(e.BodyHTML) + 800)

	st := map[string]string{"prod": pick(genStates)}
	if r.IntN(5) == 0 {
		st["lab"] = pick(genStates)
	}
	return EmailDoc{Email: e, Status: st}
}

// titleCase upper-cases the first letter of an ASCII name.
func titleCase(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
