#!/usr/bin/python3
"""The demo's chat channel: a local HTTP endpoint that stands in for a Slack incoming webhook.

It verifies each request's Standard Webhooks signature (webhook-id, webhook-timestamp,
webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">) with the secret in
SECRET_FILE, prints the message the way a chat client would show it, and appends one JSON line
per request to LOG_FILE: {"id", "verified", "text", "headers", "body"}. A request whose
signature does not verify is answered 401 and logged with verified=false.

Usage: chat_sink.py SECRET_FILE PORT_FILE LOG_FILE
Binds 127.0.0.1 on a free port and writes the port to PORT_FILE once it listens.
Standard library only (Debian's /usr/bin/python3).
"""
import base64
import hashlib
import hmac
import http.server
import json
import os
import sys
import time

MAX_BODY = 1 << 20
TOLERANCE_S = 5 * 60  # the spec's replay window


def verify(secret, msg_id, timestamp, body, header):
    if not secret.startswith("whsec_"):
        return False
    key = base64.b64decode(secret[len("whsec_"):])
    content = msg_id.encode() + b"." + timestamp.encode() + b"." + body
    expected = base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()
    try:
        if abs(time.time() - int(timestamp)) > TOLERANCE_S:
            return False
    except ValueError:
        return False
    for part in header.split(" "):
        version, _, sig = part.partition(",")
        if version == "v1" and hmac.compare_digest(sig, expected):
            return True
    return False


def slack_text(message):
    """The lines a chat client shows for a Slack Block Kit message."""
    lines = []
    for block in message.get("blocks", []):
        kind = block.get("type")
        if kind == "header":
            lines.append("## " + block["text"]["text"])
        elif kind == "section":
            if "text" in block:
                lines.append(block["text"]["text"])
            for field in block.get("fields", []):
                lines.append(field["text"].replace("\n", ": ", 1))
        elif kind == "context":
            lines.extend(e.get("text", "") for e in block.get("elements", []))
        elif kind == "divider":
            lines.append("-" * 40)
    return "\n".join(lines) if lines else message.get("text", "")


def main():
    secret_file, port_file, log_file = sys.argv[1:4]
    with open(secret_file) as f:
        secret = f.read().strip()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length", "0"))
            if length > MAX_BODY:
                self.send_error(413)
                return
            body = self.rfile.read(length)
            msg_id = self.headers.get("webhook-id", "")
            ok = verify(secret, msg_id, self.headers.get("webhook-timestamp", ""), body,
                        self.headers.get("webhook-signature", ""))
            try:
                message = json.loads(body)
                text = slack_text(message)
            except ValueError:
                text = "(not JSON)"
            with open(log_file, "a") as log:
                log.write(json.dumps({"id": msg_id, "verified": ok, "text": text,
                                      "body": body.decode("utf-8", "replace")}) + "\n")
            mark = "signature verified" if ok else "SIGNATURE INVALID"
            print(f"\n[chat] {mark} · {msg_id}\n{text}\n", flush=True)
            self.send_response(200 if ok else 401)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):  # quiet: the message itself is printed
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    tmp = port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(server.server_address[1]))
    os.replace(tmp, port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
