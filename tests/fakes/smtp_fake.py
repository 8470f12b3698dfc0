#!/usr/bin/python3
"""A strict loopback SMTP server for gridgw's e-mail channel tests.

Speaks enough RFC 5321 for libcurl: greeting, EHLO (advertising AUTH PLAIN
LOGIN, no STARTTLS), AUTH PLAIN / LOGIN (535 on bad credentials; 530 if
MAIL comes before AUTH when --user is set), MAIL FROM, RCPT TO (550 for a
recipient not in --accept when given), DATA with dot-unstuffing, RSET,
NOOP, QUIT. Each accepted message is parsed with the email package: the
Subject must decode, the body must be valid UTF-8 text/plain. It is then
appended to --record as a JSON line {"t","from","to","subject","text"}.
Standard library only."""

import argparse
import base64
import email
import email.header
import email.policy
import json
import socketserver
import sys
import threading
import time

LOCK = threading.Lock()


class Session(socketserver.StreamRequestHandler):
    def send(self, line):
        self.wfile.write((line + "\r\n").encode())
        self.wfile.flush()

    def readline(self):
        line = self.rfile.readline(65536)
        if not line:
            raise EOFError
        return line.decode("utf-8", "replace").rstrip("\r\n")

    def handle(self):
        a = self.server.args
        authed = not a.user
        sender, rcpts = None, []
        self.send("220 smtp-fake ESMTP ready")
        try:
            while True:
                line = self.readline()
                verb = line.split(" ", 1)[0].upper()
                arg = line[len(verb):].strip()
                if verb in ("EHLO", "HELO"):
                    if verb == "HELO":
                        self.send("250 smtp-fake")
                    else:
                        self.send("250-smtp-fake")
                        self.send("250-8BITMIME")
                        self.send("250 AUTH PLAIN LOGIN")
                elif verb == "AUTH":
                    authed = self.auth(arg)
                elif verb == "MAIL":
                    if not authed:
                        self.send("530 5.7.0 Authentication required")
                        continue
                    if not arg.upper().startswith("FROM:<"):
                        self.send("501 5.5.4 Syntax: MAIL FROM:<address>")
                        continue
                    sender, rcpts = arg[6:].split(">", 1)[0], []
                    self.send("250 2.1.0 Ok")
                elif verb == "RCPT":
                    if sender is None:
                        self.send("503 5.5.1 Need MAIL first")
                        continue
                    if not arg.upper().startswith("TO:<"):
                        self.send("501 5.5.4 Syntax: RCPT TO:<address>")
                        continue
                    addr = arg[4:].split(">", 1)[0]
                    if a.accept and addr not in a.accept:
                        self.send("550 5.1.1 No such user")
                        continue
                    rcpts.append(addr)
                    self.send("250 2.1.5 Ok")
                elif verb == "DATA":
                    if not rcpts:
                        self.send("554 5.5.1 No valid recipients")
                        continue
                    self.send("354 End data with <CR><LF>.<CR><LF>")
                    self.data(sender, rcpts)
                    sender, rcpts = None, []
                elif verb == "RSET":
                    sender, rcpts = None, []
                    self.send("250 2.0.0 Ok")
                elif verb == "NOOP":
                    self.send("250 2.0.0 Ok")
                elif verb == "QUIT":
                    self.send("221 2.0.0 Bye")
                    return
                else:
                    self.send("502 5.5.2 Command not recognized")
        except (EOFError, ConnectionError):
            return

    def auth(self, arg):
        a = self.server.args
        parts = arg.split()
        mech = parts[0].upper() if parts else ""
        if mech == "PLAIN":
            if len(parts) > 1:
                blob = parts[1]
            else:
                self.send("334 ")
                blob = self.readline()
            try:
                _, user, pw = base64.b64decode(blob).decode().split("\0")
            except ValueError:
                self.send("501 5.5.2 Cannot decode")
                return False
        elif mech == "LOGIN":
            try:
                if len(parts) > 1:
                    user = base64.b64decode(parts[1]).decode()
                else:
                    self.send("334 VXNlcm5hbWU6")
                    user = base64.b64decode(self.readline()).decode()
                self.send("334 UGFzc3dvcmQ6")
                pw = base64.b64decode(self.readline()).decode()
            except ValueError:
                self.send("501 5.5.2 Cannot decode")
                return False
        else:
            self.send("504 5.5.4 Unrecognized authentication type")
            return False
        if user == a.user and pw == a.password:
            self.send("235 2.7.0 Authentication successful")
            return True
        self.record({"ok": False, "code": 535, "user": user})
        self.send("535 5.7.8 Authentication credentials invalid")
        return False

    def data(self, sender, rcpts):
        lines = []
        while True:
            raw = self.rfile.readline(1 << 20)
            if not raw:
                raise EOFError
            if raw in (b".\r\n", b".\n"):
                break
            if raw.startswith(b".."):
                raw = raw[1:]
            lines.append(raw)
        msg = email.message_from_bytes(b"".join(lines), policy=email.policy.default)
        try:
            subject = str(msg["Subject"])
            if msg.get_content_type() != "text/plain" or msg.get_content_charset() != "utf-8":
                raise ValueError("not text/plain; charset=utf-8")
            text = msg.get_content()
            if not subject or not text or not msg["From"] or not msg["To"] or not msg["Date"]:
                raise ValueError("missing header or body")
        except (ValueError, LookupError, UnicodeDecodeError) as e:
            self.record({"ok": False, "code": 554, "why": str(e)})
            self.send("554 5.6.0 Message malformed: %s" % e)
            return
        self.record({"ok": True, "code": 250, "from": sender, "to": rcpts, "subject": subject, "text": text})
        self.send("250 2.0.0 Ok: queued")

    def record(self, obj):
        obj["t"] = time.time()
        obj["api"] = "email"
        if self.server.args.record:
            with LOCK, open(self.server.args.record, "a", encoding="utf-8") as f:
                f.write(json.dumps(obj, ensure_ascii=False) + "\n")


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--record")
    p.add_argument("--user", default="")
    p.add_argument("--password", default="")
    p.add_argument("--accept", action="append", default=[])
    args = p.parse_args()
    srv = Server(("127.0.0.1", args.port), Session)
    srv.args = args
    sys.stderr.write(f"smtp-fake listening on 127.0.0.1:{args.port}\n")
    sys.stderr.flush()
    srv.serve_forever()


if __name__ == "__main__":
    main()
