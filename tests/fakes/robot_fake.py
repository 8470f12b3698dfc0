#!/usr/bin/python3
"""A strict loopback stand-in for the robot APIs gridgw notifies through.

One HTTP server on 127.0.0.1 answers, by path, like
  WeCom group robot     POST /cgi-bin/webhook/send?key=K
  DingTalk custom robot POST /robot/send?access_token=T[&timestamp=MS&sign=S]
  Feishu custom bot     POST /open-apis/bot/v2/hook/ID
  a generic webhook     POST /hook/NAME       (X-Gridgw-Signature checked)
and checks what the real services check: the key/token, the JSON body's
shape and size limits, the signature and the freshness of its timestamp,
and the rate limit over a sliding window -- answering with the services'
documented error codes (WeCom 93000/40008/45002/45009, DingTalk
300001/310000/130101/40035, Feishu 19001/19021/9499/11232).

Every request is appended to --record as one JSON line
  {"t":..., "api":"wecom", "ok":true, "code":0, "text":"...", ...}
so a test can count what arrived and when. --print shows each accepted
message the way a person on site would see it on the phone.

Fault injection for tests: GET /_fake/mode?set=ok|500|hang changes how
every later request is answered; GET /_fake/stats returns counters.
Standard library only (Debian's python3)."""

import argparse
import base64
import hashlib
import hmac
import json
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
STATE = {"mode": "ok", "counts": {}, "sent": {}}


def now_ms():
    return int(time.time() * 1000)


class Window:
    """Sliding window: at most `limit` accepted requests in any `window` s."""

    def __init__(self, limit, window):
        self.limit, self.window, self.times = limit, window, []

    def admit(self, t):
        self.times = [x for x in self.times if x > t - self.window]
        if len(self.times) >= self.limit:
            return False
        self.times.append(t)
        return True


class Handler(BaseHTTPRequestHandler):
    server_version = "robot-fake/1"
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet: the record file is the log
        pass

    # -- plumbing --
    def reply(self, status, obj):
        body = json.dumps(obj, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def record(self, **kw):
        kw["t"] = time.time()
        line = json.dumps(kw, ensure_ascii=False)
        with LOCK:
            STATE["counts"][kw.get("api", "?")] = STATE["counts"].get(kw.get("api", "?"), 0) + 1
            if self.server.args.record:
                with open(self.server.args.record, "a", encoding="utf-8") as f:
                    f.write(line + "\n")
            if kw.get("ok") and self.server.args.print:
                show(kw)

    def do_GET(self):
        u = urllib.parse.urlparse(self.path)
        q = urllib.parse.parse_qs(u.query)
        if u.path == "/_fake/mode":
            with LOCK:
                STATE["mode"] = q.get("set", ["ok"])[0]
            return self.reply(200, {"mode": STATE["mode"]})
        if u.path == "/_fake/stats":
            with LOCK:
                return self.reply(200, {"mode": STATE["mode"], "counts": STATE["counts"]})
        self.reply(404, {"error": "not found"})

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0") or 0)
        raw = self.rfile.read(length) if length else b""
        u = urllib.parse.urlparse(self.path)
        q = {k: v[0] for k, v in urllib.parse.parse_qs(u.query, keep_blank_values=True).items()}
        with LOCK:
            mode = STATE["mode"]
        if mode == "500":
            self.record(api="fault", ok=False, code=500, path=u.path)
            return self.reply(500, {"error": "injected"})
        if mode == "hang":
            time.sleep(30)
            return
        try:
            body = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            body = None
        if u.path == "/cgi-bin/webhook/send":
            return self.wecom(q, body)
        if u.path == "/robot/send":
            return self.dingtalk(q, body)
        if u.path.startswith("/open-apis/bot/v2/hook/"):
            return self.feishu(u.path.rsplit("/", 1)[1], body)
        if u.path.startswith("/hook/"):
            return self.webhook(u.path.rsplit("/", 1)[1], raw, body)
        self.reply(404, {"error": "no such API"})

    def window(self, name, limit, window):
        with LOCK:
            w = STATE["sent"].setdefault(name, Window(limit, window))
            return w.admit(time.time())

    # -- WeCom --
    def wecom(self, q, body):
        a = self.server.args
        key = q.get("key", "")
        if key not in a.wecom_key:
            self.record(api="wecom", ok=False, code=93000, key=key)
            return self.reply(200, {"errcode": 93000, "errmsg": "invalid webhook url, hint: [fake]"})
        if not isinstance(body, dict) or body.get("msgtype") not in ("text", "markdown"):
            self.record(api="wecom", ok=False, code=40008)
            return self.reply(200, {"errcode": 40008, "errmsg": "invalid message type"})
        mt = body["msgtype"]
        part = body.get(mt)
        content = part.get("content") if isinstance(part, dict) else None
        limit = 4096 if mt == "markdown" else 2048
        if not isinstance(content, str) or not content:
            self.record(api="wecom", ok=False, code=44004)
            return self.reply(200, {"errcode": 44004, "errmsg": "text content is empty"})
        if len(content.encode("utf-8")) > limit:
            self.record(api="wecom", ok=False, code=45002, size=len(content.encode("utf-8")))
            return self.reply(200, {"errcode": 45002, "errmsg": "content size out of limit"})
        mentions = part.get("mentioned_mobile_list", [])
        if mt == "text" and not (isinstance(mentions, list) and all(isinstance(m, str) for m in mentions)):
            self.record(api="wecom", ok=False, code=40058)
            return self.reply(200, {"errcode": 40058, "errmsg": "mentioned_mobile_list invalid"})
        if not self.window("wecom:" + key, a.wecom_rate, a.window):
            self.record(api="wecom", ok=False, code=45009, key=key)
            return self.reply(200, {"errcode": 45009, "errmsg": "api freq out of limit"})
        self.record(api="wecom", ok=True, code=0, key=key, msgtype=mt, text=content, mentions=mentions)
        self.reply(200, {"errcode": 0, "errmsg": "ok"})

    # -- DingTalk --
    def dingtalk(self, q, body):
        a = self.server.args
        token = q.get("access_token", "")
        if token not in a.ding_token:
            self.record(api="dingtalk", ok=False, code=300001)
            return self.reply(200, {"errcode": 300001, "errmsg": "token is not exist"})
        if a.ding_secret:
            ts, sign = q.get("timestamp"), q.get("sign")
            # parse_qs already percent-decoded sign once, as DingTalk does.
            if not ts or not sign or not ts.isdigit():
                self.record(api="dingtalk", ok=False, code=310000, why="no timestamp/sign")
                return self.reply(200, {"errcode": 310000, "errmsg": "sign not match, more: [fake]"})
            if abs(now_ms() - int(ts)) > 3600 * 1000:
                self.record(api="dingtalk", ok=False, code=310000, why="stale timestamp")
                return self.reply(200, {"errcode": 310000, "errmsg": "invalid timestamp"})
            want = base64.b64encode(hmac.new(a.ding_secret.encode(), (ts + "\n" + a.ding_secret).encode(),
                                             hashlib.sha256).digest()).decode()
            if not hmac.compare_digest(want, sign):
                self.record(api="dingtalk", ok=False, code=310000, why="bad signature")
                return self.reply(200, {"errcode": 310000, "errmsg": "sign not match, more: [fake]"})
        if not isinstance(body, dict) or body.get("msgtype") not in ("text", "markdown"):
            self.record(api="dingtalk", ok=False, code=40035)
            return self.reply(200, {"errcode": 40035, "errmsg": "缺少参数 msgtype"})
        mt = body["msgtype"]
        part = body.get(mt)
        if mt == "markdown":
            ok = isinstance(part, dict) and isinstance(part.get("title"), str) and part.get("title") and \
                isinstance(part.get("text"), str) and part.get("text")
            text = part.get("text") if ok else None
        else:
            ok = isinstance(part, dict) and isinstance(part.get("content"), str) and part.get("content")
            text = part.get("content") if ok else None
        at = body.get("at", {})
        if not ok or not isinstance(at, dict) or not isinstance(at.get("atMobiles", []), list):
            self.record(api="dingtalk", ok=False, code=40035)
            return self.reply(200, {"errcode": 40035, "errmsg": "缺少参数 text"})
        if a.ding_keyword and a.ding_keyword not in text:
            self.record(api="dingtalk", ok=False, code=310000, why="keyword")
            return self.reply(200, {"errcode": 310000, "errmsg": "keywords not in content"})
        if not self.window("dingtalk:" + token, a.ding_rate, a.window):
            self.record(api="dingtalk", ok=False, code=130101)
            return self.reply(200, {"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"})
        self.record(api="dingtalk", ok=True, code=0, msgtype=mt, title=part.get("title", ""), text=text,
                    mentions=at.get("atMobiles", []))
        self.reply(200, {"errcode": 0, "errmsg": "ok"})

    # -- Feishu --
    def feishu(self, hook, body):
        a = self.server.args
        if hook not in a.feishu_hook:
            self.record(api="feishu", ok=False, code=19001)
            return self.reply(200, {"code": 19001, "msg": "param invalid: incoming webhook access token invalid",
                                    "data": {}})
        if not isinstance(body, dict):
            self.record(api="feishu", ok=False, code=9499)
            return self.reply(400, {"code": 9499, "msg": "Bad Request", "data": {}})
        if a.feishu_secret:
            ts, sign = body.get("timestamp"), body.get("sign")
            if not isinstance(ts, str) or not ts.isdigit() or not isinstance(sign, str) or \
                    abs(time.time() - int(ts)) > 3600:
                self.record(api="feishu", ok=False, code=19021, why="timestamp")
                return self.reply(200, {"code": 19021, "msg": "sign match fail or timestamp is not within one hour "
                                        "from current time", "data": {}})
            want = base64.b64encode(hmac.new((ts + "\n" + a.feishu_secret).encode(), b"",
                                             hashlib.sha256).digest()).decode()
            if not hmac.compare_digest(want, sign):
                self.record(api="feishu", ok=False, code=19021, why="bad signature")
                return self.reply(200, {"code": 19021, "msg": "sign match fail or timestamp is not within one hour "
                                        "from current time", "data": {}})
        mt = body.get("msg_type")
        text = None
        if mt == "text" and isinstance(body.get("content"), dict):
            text = body["content"].get("text")
        elif mt == "interactive" and isinstance(body.get("card"), dict):
            card = body["card"]
            try:
                title = card["header"]["title"]["content"]
                text = title + "\n" + card["elements"][0]["text"]["content"]
            except (KeyError, IndexError, TypeError):
                text = None
        if not isinstance(text, str) or not text:
            self.record(api="feishu", ok=False, code=9499)
            return self.reply(400, {"code": 9499, "msg": "Bad Request", "data": {}})
        if len(json.dumps(body).encode()) > 20 * 1024:
            self.record(api="feishu", ok=False, code=9499, why="too large")
            return self.reply(400, {"code": 9499, "msg": "request body too large", "data": {}})
        if not self.window("feishu-s:" + hook, 5, 1.0) or not self.window("feishu:" + hook, a.feishu_rate, a.window):
            self.record(api="feishu", ok=False, code=11232)
            return self.reply(200, {"code": 11232, "msg": "frequency limited psm[lark.oapi.app_platform_runtime]",
                                    "data": {}})
        self.record(api="feishu", ok=True, code=0, msgtype=mt, text=text)
        self.reply(200, {"code": 0, "msg": "success", "data": {}})

    # -- generic webhook --
    def webhook(self, name, raw, body):
        a = self.server.args
        if a.webhook_secret:
            want = "sha256=" + hmac.new(a.webhook_secret.encode(), raw, hashlib.sha256).hexdigest()
            got = self.headers.get("X-Gridgw-Signature", "")
            if not hmac.compare_digest(want, got):
                self.record(api="webhook", ok=False, code=401, why="bad signature")
                return self.reply(401, {"error": "bad signature"})
        if not isinstance(body, dict) or body.get("schema") not in ("gridgw.incident/1", "gridgw.notify-test/1"):
            self.record(api="webhook", ok=False, code=400)
            return self.reply(400, {"error": "not a gridgw incident event"})
        self.record(api="webhook", ok=True, code=200, name=name, event=body)
        self.reply(200, {"ok": True})


API_NAMES = {"wecom": "企业微信群机器人", "dingtalk": "钉钉群机器人", "feishu": "飞书群机器人", "webhook": "Webhook"}


def show(kw):
    when = time.strftime("%H:%M:%S", time.localtime(kw["t"]))
    text = kw.get("text")
    if text is None:
        text = json.dumps(kw.get("event"), ensure_ascii=False)
    bar = "─" * 46
    out = ["", f"┌{bar}", f"│ 📱 {API_NAMES.get(kw['api'], kw['api'])}  {when}"]
    out += ["│ " + line for line in text.splitlines()]
    out.append(f"└{bar}")
    sys.stdout.write("\n".join(out) + "\n")
    sys.stdout.flush()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--record", help="append one JSON line per request")
    p.add_argument("--print", action="store_true", help="show accepted messages as a phone would")
    p.add_argument("--window", type=float, default=60.0, help="rate window in seconds (60 like the APIs)")
    p.add_argument("--wecom-key", action="append", default=[])
    p.add_argument("--wecom-rate", type=int, default=20)
    p.add_argument("--ding-token", action="append", default=[])
    p.add_argument("--ding-secret", default="")
    p.add_argument("--ding-keyword", default="")
    p.add_argument("--ding-rate", type=int, default=20)
    p.add_argument("--feishu-hook", action="append", default=[])
    p.add_argument("--feishu-secret", default="")
    p.add_argument("--feishu-rate", type=int, default=100)
    p.add_argument("--webhook-secret", default="")
    p.add_argument("--mode", default="ok", choices=["ok", "500", "hang"], help="how to answer from the start")
    args = p.parse_args()
    STATE["mode"] = args.mode
    srv = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    srv.daemon_threads = True
    srv.args = args
    sys.stderr.write(f"robot-fake listening on 127.0.0.1:{args.port}\n")
    sys.stderr.flush()
    srv.serve_forever()


if __name__ == "__main__":
    main()
