//go:build ignore

// gen_samples writes the demo's own sample session files into samples/
// (run: go run gen_samples.go). They are committed; regenerate after
// editing. The lead's testdata/sessions/*.session are copied beside them.
package main

import (
	"archive/zip"
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

func b64(b []byte) string {
	s := base64.StdEncoding.EncodeToString(b)
	var out strings.Builder
	for len(s) > 76 {
		out.WriteString(s[:76] + "\n")
		s = s[76:]
	}
	out.WriteString(s + "\n")
	return out.String()
}

func zipOf(name string, data []byte) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.Create(name)
	w.Write(data)
	zw.Close()
	return buf.Bytes()
}

// session builds a session file: header, greeting, EHLO, one transaction
// per message (each: from, rcpts, data lines).
type msg struct {
	from  string
	rcpts []string
	data  string
	reply string
}

func session(ip string, port int, epoch int64, helo string, msgs []msg) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s:%d/tcp\n%d\n", ip, port, epoch)
	b.WriteString("@resp 198.51.100.25:25/tcp\n")
	b.WriteString("< > 220 mx.corp.example.com ESMTP\n")
	fmt.Fprintf(&b, "> EHLO %s\n< EHLO 250-mx.corp.example.com\n< EHLO 250 8BITMIME\n", helo)
	for _, m := range msgs {
		fmt.Fprintf(&b, "> MAIL FROM:<%s>\n< MAIL 250 2.1.0 Ok\n", m.from)
		for _, r := range m.rcpts {
			fmt.Fprintf(&b, "> RCPT TO:<%s>\n< RCPT 250 2.1.5 Ok\n", r)
		}
		b.WriteString("> DATA \n< DATA 354 End data with <CR><LF>.<CR><LF>\n")
		for _, l := range strings.Split(strings.TrimSuffix(m.data, "\n"), "\n") {
			if strings.HasPrefix(l, ".") {
				l = "." + l
			}
			b.WriteString(l + "\n")
		}
		reply := m.reply
		if reply == "" {
			reply = "250 2.0.0 Ok: queued"
		}
		fmt.Fprintf(&b, "> . .\n< . %s\n", reply)
	}
	b.WriteString("> QUIT \n< QUIT 221 2.0.0 Bye\n")
	return b.String()
}

func main() {
	out := "samples"
	files := map[string]string{}

	// 1. A phish with an HTML body, links and the planted IOC the
	// end-to-end test searches for: evil-payload.example.com.
	files["demo-phish.session"] = session("203.0.113.66", 51234, 1763800000, "mail.pay-pal-secure.example.net", []msg{{
		from:  "security@pay-pal-secure.example.net",
		rcpts: []string{"alice@corp.example.com"},
		data: `From: "PayPal Security" <security@pay-pal-secure.example.net>
To: alice@corp.example.com
Subject: Your account has been limited - action required
Date: Sat, 22 Nov 2025 08:26:40 +0000
Message-ID: <phish-0001@pay-pal-secure.example.net>
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="b1"

--b1
Content-Type: text/plain; charset=utf-8

Dear customer,

We noticed unusual activity. Verify your account within 24 hours:
hxxps://login.evil-payload[.]example[.]com/verify?id=93811

Payment reference: 44d88612fea8a8f36de82e1278abb02f
--b1
Content-Type: text/html; charset=utf-8

<html><body><p>Dear customer,</p>
<p>We noticed <b>unusual activity</b>. <a href="https://login.evil-payload.example.com/verify?id=93811">Verify your account</a> within 24 hours.</p>
<p><a href="https://www.paypal.com/help">Help</a> <img src="http://198.51.100.77/track.gif"></p>
</body></html>
--b1--
`}})

	// 2. An invoice with a zip holding an executable.
	exe := append([]byte("MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff"), bytes.Repeat([]byte("This program cannot be run in DOS mode.\x00"), 8)...)
	files["demo-invoice.session"] = session("192.0.2.44", 40001, 1763803600, "smtp.supplier.example.org", []msg{{
		from:  "billing@supplier.example.org",
		rcpts: []string{"accounts@corp.example.com", "cfo@corp.example.com"},
		data: `From: Billing <billing@supplier.example.org>
To: accounts@corp.example.com
Cc: cfo@corp.example.com
Subject: Invoice INV-2025-1187 overdue
Date: Sat, 22 Nov 2025 09:26:40 +0000
Message-ID: <inv-1187@supplier.example.org>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="mix"

--mix
Content-Type: text/plain; charset=us-ascii

Please find the overdue invoice attached. Pay to IBAN within 3 days.
Questions: billing@supplier.example.org

--mix
Content-Type: application/zip; name="INV-2025-1187.zip"
Content-Disposition: attachment; filename="INV-2025-1187.zip"
Content-Transfer-Encoding: base64

` + b64(zipOf("INV-2025-1187.pdf.exe", exe)) + `--mix--
`}})

	// 3. A newsletter batch: two messages in one session, five recipients.
	files["demo-batch.session"] = session("198.51.100.9", 33000, 1763807200, "bulk.news.example.org", []msg{
		{from: "news@news.example.org", rcpts: []string{"a@corp.example.com", "b@corp.example.com", "c@corp.example.com", "d@corp.example.com", "e@corp.example.com"},
			data: "From: News <news@news.example.org>\nTo: undisclosed-recipients:;\nSubject: Weekly digest #47\nDate: Sat, 22 Nov 2025 10:26:40 +0000\nMessage-ID: <digest-47@news.example.org>\n\nThis week: five things you missed.\nRead online: https://news.example.org/digest/47\n"},
		{from: "news@news.example.org", rcpts: []string{"f@corp.example.com"},
			data: "From: News <news@news.example.org>\nTo: f@corp.example.com\nSubject: =?UTF-8?B?V2Vla2x5IGRpZ2VzdCDinJM=?=\nDate: Sat, 22 Nov 2025 10:26:41 +0000\nMessage-ID: <digest-47b@news.example.org>\n\nEncoded-word subject and a unicode body: naïve café ✓\n"},
	})

	// 4. Hostile: terminal escape sequences, C1 controls, invalid UTF-8
	// and bidi overrides in headers, names and body. The UI must show
	// them escaped, never interpret them.
	hostileName := "invoice\u202Efdp.exe"
	files["demo-hostile.session"] = session("203.0.113.13", 6666, 1763810800, "evil\x1b[2Jhelo.example.net", []msg{{
		from:  "attacker@evil.example.net",
		rcpts: []string{"soc@corp.example.com"},
		data: "From: \"Evil \x1b]0;pwned-title\x07Sender\" <attacker@evil.example.net>\n" +
			"To: soc@corp.example.com\n" +
			"Subject: Hostile \x1b[31mRED\x1b[0m \x1b]52;c;cm0gLXJmIH4=\x07 clipboard \u009b2J c1 \xff\xfe bad\n" +
			"X-Trick: \x1bP+q544e\x1b\\ dcs and \x1b_apc\x1b\\ apc\n" +
			"Date: Sat, 22 Nov 2025 11:26:40 +0000\n" +
			"Message-ID: <hostile-1@evil.example.net>\n" +
			"MIME-Version: 1.0\n" +
			"Content-Type: multipart/mixed; boundary=\"h\"\n\n" +
			"--h\nContent-Type: text/plain; charset=utf-8\n\n" +
			"Body with \x1b[2J clear screen and \x1b[?1049h alt screen and bell \x07.\n" +
			"--h\nContent-Type: application/octet-stream; name=\"" + hostileName + "\"\n" +
			"Content-Disposition: attachment; filename=\"../../" + hostileName + "\"\n" +
			"Content-Transfer-Encoding: base64\n\n" + b64([]byte("not really a pdf\n")) + "--h--\n",
	}})

	// 5. STARTTLS: the rest is encrypted, no email.
	files["demo-starttls.session"] = "192.0.2.80:50000/tcp\n1763814400\n< > 220 mx.corp.example.com ESMTP\n> EHLO tls.example.org\n< EHLO 250-mx.corp.example.com\n< EHLO 250 STARTTLS\n> STARTTLS \n< STARTTLS 220 2.0.0 Ready to start TLS\n"

	// 6. Every recipient refused: no email.
	files["demo-rejected.session"] = "203.0.113.200:41000/tcp\n1763818000\n< > 220 mx.corp.example.com ESMTP\n> HELO spambot\n< HELO 250 mx.corp.example.com\n> MAIL FROM:<winner@lottery.example.net>\n< MAIL 250 2.1.0 Ok\n> RCPT TO:<nobody@corp.example.com>\n< RCPT 550 5.1.1 <nobody@corp.example.com>: Recipient address rejected\n> QUIT \n< QUIT 221 2.0.0 Bye\n"

	// 7. Not a session file at all: goes to review/.
	files["demo-garbage.session"] = "\x00\x01\x02PK\x03\x04 this is not an SMTP session\xff\xfe\n"

	for name, data := range files {
		if err := os.WriteFile(filepath.Join(out, name), []byte(data), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	// Copy the repo's own sample sessions and captures.
	ms, _ := filepath.Glob(filepath.Join("..", "..", "testdata", "sessions", "*.session"))
	pcaps, _ := filepath.Glob(filepath.Join("..", "..", "testdata", "pcap", "*.pcap"))
	ms = append(ms, pcaps...)
	for _, p := range ms {
		in, err := os.Open(p)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		o, err := os.Create(filepath.Join(out, filepath.Base(p)))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		io.Copy(o, in)
		in.Close()
		o.Close()
	}
}
