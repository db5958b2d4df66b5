// Package core owns the parsing and analysis of SMTP traffic: session files
// (as written by Zeek's ACE script, by our Zeek scripts, and by
// `smtpscope pcap`) become messages with exact bytes, and messages (or raw
// RFC 822 files) become Email records: MIME tree, decoded headers and
// bodies, attachments with hashes and detected types (uuencoded files and
// the members of zip and TNEF containers too), IOCs, YARA hits.
// Hashes include ssdeep and TLSH within bounds (fuzzy.go; TLSH computed in
// tlsh.go) and, where Zeek hashes a part over other bytes, Zeek's hash set
// (zeek.go). A session whose file names both ends carries the Community
// ID v1 of its TCP connection (communityid.go), the flow hash Zeek,
// Suricata and Arkime log too. ECS (ecs.go) and Zeek (zeeklog.go: its
// smtp.log and files.log) are the record's two other shapes, for SIEMs;
// ECSEvent.SetDirection adds email.direction given the organisation's
// domains. GlobalID names an email across sensors as <sensor>/<id> (an
// id already global for its sensor, as a hub stores it, stays as it is).
//
// Raw files may start with an mbox From_ line, and mbox files are split
// into their messages (mbox.go); MboxWriter (mboxwrite.go) writes messages
// as an mboxrd file that reads back to the same bytes. An email read from
// a raw file says it had no SMTP session (Email.NoSession, HasSession): no
// envelope, no null sender. Session.Attempted lists the envelope a session
// tried, refused parts too (what finds a session that carried no email);
// Session.TriedWithoutEmail lists the part of it no message's envelope
// holds (a refused MAIL before the accepted one, a refused RCPT of another
// transaction: what finds the emails of such a session);
// ParseSessionEnvelope parses a session keeping no message bytes, for
// these lists long after the emails were analysed.
//
// YARA scans set, per scanned object, the external variables
// signature-base's rules use (YaraVars: filename, filepath through the
// containers, extension, filetype by LOKI's magic table, owner, md5),
// through VarScanner when the scanner has it.
//
// STIXWriter (stix.go) and MISPWriter (misp.go) write a set of records
// as one STIX 2.1 bundle (SCOs with the deterministic ids of
// STIXSCOID, stixid.go; indicators with STIX patterns) or one MISP event
// (email and file objects, IOC attributes), streaming.
//
// core depends on nothing else in this module. The Email type in record.go
// is the one record type of smtpscope; NewJSONEncoder (jsonout.go) is the
// one writer of its JSON form (WriteEmailJSON, jsonrecord.go, writes the
// same bytes for an Email without reflection: parse and the collector
// use it). What one email may cost (header and body
// bytes kept, MIME parts and nesting, analysis time) is bounded in
// limits.go; the record says what was cut or skipped. What was malformed
// (boundaries, header lines, base64, uuencode, conflicting fields) is
// recorded as anomaly codes on the email and on each part (anomaly.go).
// Why an email looks suspicious is computed on the record as risk
// reasons (risk.go): each a stable code that is also a flag and its
// evidence (Email.Risks) — disguised and double-extension attachments,
// executables in archives, encrypted archives and office files, declared
// versus detected types, a refusal naming a virus, display names, Reply-To
// and envelope senders in other domains, lookalike domains and HTML links
// whose text shows another host (risk_links.go). Every check is bounded.
// MIME structure is read by splitMIME (bigmime.go) without copying the
// parts; header blocks and media types are parsed with enmime's
// functions. enmime.go says what is taken from enmime and where the
// reading differs from its part reader.
//
// # Session file format
//
// One file per TCP session, named by the connection uid, complete when
// "<name>.ready" exists beside it. Three header forms are accepted:
//
//	10.0.0.1:49152/tcp          the real ACE/Zeek form: orig_ip:orig_port/tcp
//	1700000000                  then integer (or fractional) epoch seconds
//
//	10.0.0.1                    the documented ACE form: ip, port, epoch,
//	49152                       then an empty line
//	1700000000
//	<empty line>
//
// or no header at all (the time then comes from the file's mtime and the
// record says time_source "mtime"). IPv6 addresses contain colons: the port
// is after the last one; brackets are allowed.
//
// After the header, optional extension lines "@key value" (ours; ACE's
// files have none) carry what ACE's format lacks:
//
//	@resp 192.0.2.25:25/tcp     responder address
//	@uid CHhAvVGS1DHFjwGM9      connection uid (else the file name)
//	@ts 1700000000.123456       precise start time
//	@cut shutdown               the capture wrote the session before its
//	                            connection ended, and why (max-flows,
//	                            flow-bytes, total-bytes, idle-timeout,
//	                            end-of-input, shutdown): an anomaly
//	                            "capture cut: ..." of the session
//	@pcap /srv/pcap/smtp-….pcap an evidence pcap holding the session's
//	                            packets (capture --pcap-dir), one line per
//	                            file: SessionInfo.Pcap
//
// The uid, from either place, is escaped by EscapeID (invalid UTF-8,
// control characters, '/', '\' and '%' become %XX), and so are the email
// ids made from it ("<uid>.<index>").
//
// Body lines:
//
//	> COMMAND argument          client command (the end of DATA is "> . .")
//	< COMMAND code text         server reply to COMMAND; the greeting is
//	                            answered as command ">", end-of-data as ".";
//	                            multi-line replies repeat the code. Ours
//	                            write "code-text" on continuation lines.
//	anything else               a message data line after a 354 reply
//	                            (dot-unstuffed, LF-terminated); the message
//	                            bytes are these lines joined with CRLF.
//	@raw N                      ours: exactly N raw bytes follow, then "\n".
//	                            In command mode after "> BDAT ..." it is that
//	                            chunk; in data mode it is message bytes that
//	                            lines cannot carry (a bare LF, no final CRLF).
//	@gap N                      ours: the capture lost N bytes here; the
//	                            message it cuts is flagged partial and "gap",
//	                            no bytes are invented.
//
// A BDAT chunk whose bytes the file does not carry (no @raw block, or a
// shorter one; ACE's Zeek script records none) makes its message partial
// with the flag "no_data" and an error saying how many bytes are missing.
//
// Replies are matched to commands in order (pipelining): a reply line whose
// command has a pending request answers the oldest one; a line for a
// command with nothing pending continues the previous reply.
package core
