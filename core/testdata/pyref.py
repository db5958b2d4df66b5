#!/usr/bin/env python3
"""Reference parse for core/differential_test.go: what the Python pipeline
of ACE and stoQ sees in a message.

Reads file paths, one per line, on stdin; writes one JSON line per path:
  {"path": ..., "subject": str|null, "attachments": [{"filename": str|null,
   "content_type": str, "sha256": str|null}], "error": str|null}

Parsing is what stoQ's smtp plugin and ACE do: email.message_from_bytes with
the default compat32 policy, header text decoded with
email.header.decode_header (+ make_header, which joins the chunks with the
RFC 2047 spacing rules). A chunk whose charset Python does not know, or raw
8-bit bytes outside encoded words (compat32 labels them "unknown-8bit"), is
decoded as UTF-8 with U+FFFD for invalid bytes (json cannot carry the raw
bytes; smtpscope's JSON record shows them as U+FFFD too).

Attachments mirror smtpscope's definition (core/analyze.go): every part of
walk() that is not a container and is not body, where body is a text/plain
or text/html part (declared or default type) without a file name whose
disposition is not "attachment". message/* parts that Python parses into
sub-messages (message/rfc822, message/delivery-status, ...) are containers
for walk() but attachments for smtpscope: they are listed with sha256 null
(compat32 keeps no original bytes of them), and walk() goes on into them.
A multipart/* part Python could not split (no or wrong boundary) is a leaf
for walk(): it is listed when it has content (smtpscope must not lose
that content either), and left out when empty.
filename is get_filename() (RFC 2231 collapsed by Python), then decoded as
a header (RFC 2047 words, which mailers put in names too).
"""
import email
import email.header
import hashlib
import json
import sys

BODY_TYPES = ("text/plain", "text/html")


def decode_chunk(data, charset):
    if isinstance(data, str):
        return data
    if charset in (None, "unknown-8bit"):
        return data.decode("utf-8", "replace")
    try:
        return data.decode(charset, "replace")
    except LookupError:
        return data.decode("utf-8", "replace")


def header_text(value):
    """Decodes a header value as decode_header + make_header would."""
    if value is None:
        return None
    try:
        chunks = email.header.decode_header(value)
    except (UnicodeError, ValueError, email.errors.HeaderParseError):
        return str(value)
    try:
        # unknown-8bit would be shown as U+FFFD even when it is UTF-8
        utf8 = [(d, "utf-8" if c == "unknown-8bit" else c) for d, c in chunks]
        return str(email.header.make_header(utf8))
    except (LookupError, UnicodeError, ValueError, email.errors.HeaderParseError):
        return "".join(decode_chunk(d, c) for d, c in chunks)


def filename_of(part):
    try:
        name = part.get_filename()
    except (UnicodeError, ValueError, LookupError):
        return None
    if not name:
        return None
    # raw 8-bit bytes (surrogate-escaped by compat32) read as UTF-8
    return header_text(name.encode("utf-8", "surrogateescape").decode("utf-8", "replace"))


def attachment(part):
    """Returns the attachment record of a part, or None for body/containers."""
    ctype = part.get_content_type()
    name = filename_of(part)
    if part.is_multipart():
        if ctype.startswith("message/"):
            return {"filename": name, "content_type": ctype, "sha256": None}
        return None
    if ctype in BODY_TYPES and not name and part.get_content_disposition() != "attachment":
        return None
    try:
        data = part.get_payload(decode=True) or b""
    except (ValueError, UnicodeError, LookupError):
        data = b""
    if ctype.startswith("multipart/") and not data.strip():
        return None  # an empty multipart Python could not split: nothing lost
    return {"filename": name, "content_type": ctype, "sha256": hashlib.sha256(data).hexdigest()}


def parse(path):
    with open(path, "rb") as f:
        msg = email.message_from_bytes(f.read())
    atts = [a for a in (attachment(p) for p in msg.walk()) if a is not None]
    return {"subject": header_text(msg["subject"]), "attachments": atts}


def main():
    for line in sys.stdin:
        path = line.rstrip("\n")
        if not path:
            continue
        try:
            rec = parse(path)
            rec["error"] = None
        except Exception as e:  # recorded, never silently skipped
            rec = {"subject": None, "attachments": [], "error": "%s: %s" % (type(e).__name__, e)}
        rec["path"] = path
        sys.stdout.write(json.dumps(rec) + "\n")


if __name__ == "__main__":
    main()
