##! smtpscope: write one session file per SMTP connection, in the format of
##! ACE's Zeek script (which smtpscope's session parser reads), plus the
##! extensions smtpscope defines (see collector/zeek/README.md):
##!
##!   orig_ip:orig_port/tcp        header line 1 (IPv6 addresses unbracketed)
##!   <epoch>                      header line 2 (connection start, integer)
##!   @resp resp_ip:resp_port/tcp  responder address
##!   @uid <uid>                   Zeek's connection uid
##!   @ts <epoch.micro>            precise start time
##!   > CMD arg                    client command (AUTH credentials masked)
##!   < CMD code text              server reply; "code-text" on the
##!                                continuation lines of a multi-line reply
##!   data lines                   message lines after 354 (dot-unstuffed)
##!   > . .                        end of the message
##!   @raw N                       N raw bytes follow, then LF (BDAT bodies)
##!
##! Differences from ACE's script: configurable ports (not only 25), the
##! responder address, IPv6, continuation flags, AUTH masking, BDAT bodies,
##! and a session that does STARTTLS is kept (its plaintext part, up to and
##! including the STARTTLS exchange) instead of being deleted.
##!
##! Files are written as <spool_dir>/<uid>; "<uid>.ready" is created once
##! the connection is removed from Zeek's state, i.e. when the session file
##! is complete.

@load base/protocols/smtp

module SMTPScope;

export {
	## Directory the session files are written to: smtpscope's spool
	## (the collector's watch directory). Must exist and be writable.
	const spool_dir = "/var/spool/smtpscope/sessions" &redef;

	## TCP ports recorded (either end of the connection). The SMTP
	## analyzer is also registered for them.
	const ports: set[port] = { 25/tcp, 587/tcp, 2525/tcp } &redef;

	## Also record connections on other ports that Zeek's dynamic
	## protocol detection identifies as SMTP.
	const record_detected_smtp = T &redef;
}

redef record connection += {
	## Set once this connection's session file is open.
	smtpscope_file: file &optional;
	## Inside an AUTH exchange: client lines are credentials.
	smtpscope_in_auth: bool &default=F;
	## Bytes of a BDAT message not written yet (see below).
	smtpscope_bdat: string &default="";
	## The current transaction sends its message with BDAT.
	smtpscope_bdat_active: bool &default=F;
};

# Commands that end an AUTH exchange whose final reply was not seen
# (one-sided capture); credential lines are base64 and never one of these.
const smtp_verbs: set[string] = {
	"HELO", "EHLO", "MAIL", "RCPT", "DATA", "BDAT", "RSET", "VRFY", "EXPN",
	"HELP", "NOOP", "QUIT", "STARTTLS", "AUTH", "ETRN",
};

global bdat_bytes: event(f: fa_file, data: string);

# The top-level message/rfc822 file of each connection carrying BDAT, by
# file id -> connection uid, for the BDAT body bytes.
global bdat_files: table[string] of string;

# Open connections we are recording, by uid.
global open_conns: table[string] of connection;

event zeek_init()
	{
	Analyzer::register_for_ports(Analyzer::ANALYZER_SMTP, ports);
	}

function wanted(c: connection): bool
	{
	if ( c$id$resp_p in ports || c$id$orig_p in ports )
		return T;
	return record_detected_smtp && c?$service && "SMTP" in c$service;
	}

function path_of(c: connection): string
	{
	return fmt("%s/%s", spool_dir, c$uid);
	}

# ensure_open opens the session file and writes the header, once.
function ensure_open(c: connection): bool
	{
	if ( c?$smtpscope_file )
		return T;
	if ( ! wanted(c) )
		return F;
	local f = open(path_of(c));
	# A port prints as "25/tcp": the header is orig_ip:orig_port/tcp.
	write_file(f, fmt("%s:%s\n%d\n", c$id$orig_h, c$id$orig_p, double_to_count(time_to_double(c$start_time))));
	write_file(f, fmt("@resp %s:%s\n@uid %s\n@ts %.6f\n", c$id$resp_h, c$id$resp_p, c$uid, time_to_double(c$start_time)));
	c$smtpscope_file = f;
	open_conns[c$uid] = c;
	return T;
	}

function put(c: connection, s: string)
	{
	if ( ensure_open(c) )
		write_file(c$smtpscope_file, s);
	}

# flush_bdat writes the BDAT body bytes collected so far as one @raw block,
# right after the BDAT command they belong to (nothing else is written in
# between: this runs before the next command or reply line).
function flush_bdat(c: connection)
	{
	if ( |c$smtpscope_bdat| == 0 )
		return;
	put(c, fmt("@raw %d\n", |c$smtpscope_bdat|));
	put(c, c$smtpscope_bdat);
	put(c, "\n");
	c$smtpscope_bdat = "";
	}

event smtp_request(c: connection, is_orig: bool, command: string, arg: string) &priority=-5
	{
	if ( ! ensure_open(c) )
		return;
	flush_bdat(c);
	local cmd = to_upper(command);
	if ( c$smtpscope_in_auth )
		{
		if ( cmd !in smtp_verbs )
			return; # an AUTH exchange line: credentials, never written
		c$smtpscope_in_auth = F;
		}
	if ( cmd == "BDAT" )
		c$smtpscope_bdat_active = T;
	else if ( cmd == "MAIL" || cmd == "RSET" || cmd == "DATA" )
		c$smtpscope_bdat_active = F;
	if ( cmd == "AUTH" )
		{
		local parts = split_string1(arg, / /);
		if ( |parts| > 1 )
			arg = parts[0] + " ****";
		c$smtpscope_in_auth = T;
		}
	put(c, fmt("> %s %s\n", cmd, arg));
	}

event smtp_reply(c: connection, is_orig: bool, code: count, cmd: string, msg: string, cont_resp: bool) &priority=-5
	{
	if ( ! ensure_open(c) )
		return;
	flush_bdat(c);
	if ( cmd == "AUTH" )
		{
		if ( code == 334 )
			return; # a challenge; the answer is a credential line
		c$smtpscope_in_auth = F;
		}
	put(c, fmt("< %s %d%s%s\n", cmd, code, cont_resp ? "-" : " ", msg));
	}

event smtp_data(c: connection, is_orig: bool, data: string) &priority=-5
	{
	# A data line that reads like an end-of-data or extension line is
	# written as an @raw block of the line and its CRLF (exact, and
	# unambiguous for the parser).
	if ( data == "> . ." || /^@(raw|gap) / in data )
		put(c, fmt("@raw %d\n%s\r\n\n", |data| + 2, data));
	else
		put(c, fmt("%s\n", data));
	}

# STARTTLS: ACE deletes the whole file here. We keep it: the plaintext part
# (often a whole message sent before STARTTLS, and always the envelope of
# the attempt) is evidence, and the parser marks the session starttls from
# the "> STARTTLS" line. Nothing after the handshake is SMTP.
event smtp_starttls(c: connection) &priority=-5
	{
	flush_bdat(c);
	}

# BDAT bodies: Zeek hands BDAT chunks to the MIME analyzer, not to
# smtp_data. With the whole-message file analysis (Zeek >= 7.1:
# SMTP::enable_rfc822_msg_file_analysis) the top-level message/rfc822 file
# streams the exact message bytes; they are written as @raw blocks after
# the BDAT commands. Without it, BDAT commands are recorded without bodies.
@ifdef ( SMTP::enable_rfc822_msg_file_analysis )
redef SMTP::enable_rfc822_msg_file_analysis = T;

event SMTPScope::bdat_bytes(f: fa_file, data: string)
	{
	if ( f$id !in bdat_files )
		return;
	local uid = bdat_files[f$id];
	if ( uid !in open_conns )
		return;
	local c = open_conns[uid];
	c$smtpscope_bdat += data;
	}

# The top-level SMTP file (no parent) is the whole message; the MIME
# entities inside it have it as their parent.
event file_over_new_connection(f: fa_file, c: connection, is_orig: bool)
	{
	if ( f$source != "SMTP" || f?$parent_id || f$id in bdat_files )
		return;
	# Only BDAT transactions: DATA bodies come line by line (smtp_data).
	if ( c$uid in open_conns && open_conns[c$uid]$smtpscope_bdat_active )
		{
		bdat_files[f$id] = c$uid;
		Files::add_analyzer(f, Files::ANALYZER_DATA_EVENT, [$stream_event=SMTPScope::bdat_bytes]);
		}
	}

event file_state_remove(f: fa_file)
	{
	delete bdat_files[f$id];
	}
@endif

event connection_state_remove(c: connection) &priority=-10
	{
	if ( ! c?$smtpscope_file )
		return;
	flush_bdat(c);
	close(c$smtpscope_file);
	delete open_conns[c$uid];
	# The session file is complete: tell the collector.
	local ready = open(fmt("%s.ready", path_of(c)));
	close(ready);
	}
