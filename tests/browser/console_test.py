#!/usr/bin/python3
"""Browser tests of the local web console, through the real daemon.

Driven by tests/integration/test_console_browser.sh, which starts mosquitto,
gridgw-sim and `gridgw run` with a console and three users, and records the
platform's incident topic. This script drives Debian's headless chromium
through chromium-driver and prints one line per check:
    PASS description | FAIL description | INFO text
which the wrapper turns into TAP. Every wait is an explicit condition with a
bound (WebDriverWait), never a fixed sleep. If chromium cannot start, that is
a FAIL: the test is required, not optional.

Environment (set by the wrapper):
  CONSOLE_URL      http://127.0.0.1:PORT
  SIM_CTL          command prefix that sends one simulator control command
  INCIDENT_LOG     file the platform subscriber writes ("topic payload" lines)
  SHOT_DIR         where screenshots go (build/screenshots)
  USERS            "op:PASS:operator viewer:PASS:viewer inst:PASS:installer"
  ALARM_DEVICE     a smoke detector the test raises (and acks)
  XSS_DEVICE       a device whose room is <script>alert(1)</script>
"""
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
import traceback

from selenium import webdriver
from selenium.common.exceptions import (NoAlertPresentException, StaleElementReferenceException, TimeoutException,
                                        WebDriverException)
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

URL = os.environ["CONSOLE_URL"].rstrip("/")
SIM_CTL = shlex.split(os.environ["SIM_CTL"])
INCIDENT_LOG = os.environ["INCIDENT_LOG"]
SHOT_DIR = os.environ.get("SHOT_DIR", "build/screenshots")
ALARM_DEVICE = os.environ.get("ALARM_DEVICE", "smoke-a")
XSS_DEVICE = os.environ.get("XSS_DEVICE", "smoke-x")
USERS = {}
for spec in os.environ["USERS"].split():
    name, pw, role = spec.split(":")
    USERS[role] = (name, pw)

failures = 0


def say(kind, text):
    print("%s %s" % (kind, text.replace("\n", " ")), flush=True)


def check(ok, desc, detail=None):
    global failures
    if ok:
        say("PASS", desc)
    else:
        failures += 1
        say("FAIL", desc)
        if detail:
            text = str(detail)
            # A traceback's end says what broke: keep its head and its tail.
            say("INFO", text if len(text) <= 800 else text[:200] + " … " + text[-600:])
    return ok


def sim(*args):
    r = subprocess.run(SIM_CTL + list(args), capture_output=True, text=True, timeout=10)
    if r.returncode != 0:
        raise RuntimeError("sim %s: %s %s" % (" ".join(args), r.stdout, r.stderr))
    return r.stdout.strip()


def start_browser(lang, size=(1366, 900)):
    opts = webdriver.ChromeOptions()
    profile = tempfile.mkdtemp(prefix="gridgw-chromium-")
    for a in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
              "--user-data-dir=" + profile, "--lang=" + lang, "--window-size=%d,%d" % size,
              "--no-first-run", "--no-default-browser-check", "--disable-extensions",
              "--disable-background-networking", "--disable-component-update", "--disable-sync",
              "--metrics-recording-only", "--no-proxy-server"]:
        opts.add_argument(a)
    opts.add_experimental_option("prefs", {"intl.accept_languages": lang})
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    opts.binary_location = "/usr/bin/chromium"
    d = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    d.set_script_timeout(10)
    return d


def wait(d, cond, secs=10, what="condition"):
    # Live updates replace elements: a stale one just means "look again".
    return WebDriverWait(d, secs, poll_frequency=0.05,
                         ignored_exceptions=[StaleElementReferenceException]).until(cond, what)


def css(d, sel):
    return d.find_elements(By.CSS_SELECTOR, sel)


def shot(d, name):
    os.makedirs(SHOT_DIR, exist_ok=True)
    path = os.path.join(SHOT_DIR, name + ".png")
    d.save_screenshot(path)
    say("INFO", "screenshot " + path)


def platform_events():
    out = []
    try:
        with open(INCIDENT_LOG, encoding="utf-8", errors="replace") as f:
            for line in f:
                parts = line.split(" ", 1)
                if len(parts) == 2:
                    try:
                        out.append(json.loads(parts[1]))
                    except ValueError:
                        pass
    except FileNotFoundError:
        pass
    return out


def poll(cond, secs):
    end = time.monotonic() + secs
    while time.monotonic() < end:
        v = cond()
        if v:
            return v
        time.sleep(0.1)
    return cond()


def fetch_post(d, path, body, with_csrf):
    """POST from inside the page with its session cookie; returns the status."""
    return d.execute_async_script("""
        var done = arguments[arguments.length - 1];
        var h = {'Content-Type': 'application/json'};
        if (arguments[2] && window.GW && GW.api.session) h['X-CSRF-Token'] = GW.api.session.csrf;
        fetch(arguments[0], {method: 'POST', credentials: 'same-origin', headers: h, body: JSON.stringify(arguments[1])})
            .then(function (r) { done(r.status); }, function (e) { done('error ' + e); });
    """, path, body, with_csrf)


def login(d, role, password=None):
    name, pw = USERS[role]
    wait(d, lambda d: css(d, "form#login-form input[name=username]"), 10, "login form")
    u = css(d, "input[name=username]")[0]
    p = css(d, "input[name=password]")[0]
    u.clear()
    u.send_keys(name)
    p.clear()
    p.send_keys(password if password is not None else pw)
    css(d, "#login-submit")[0].click()
    return name


def click_fresh(d, sel, secs=5):
    """Clicks the element matching sel, finding it again if a live update
    replaced it between the lookup and the click. Scrolled to the middle of
    the window first: the sticky header must not be what gets the click."""
    def attempt(d):
        try:
            els = css(d, sel)
            if not els:
                return False
            d.execute_script("arguments[0].scrollIntoView({block: 'center'})", els[0])
            els[0].click()
            return True
        except StaleElementReferenceException:
            return False
    return wait(d, attempt, secs, "click " + sel)


def no_alert(d):
    try:
        d.switch_to.alert
        return False
    except NoAlertPresentException:
        return True


def browser_errors(d):
    try:
        logs = d.get_log("browser")
    except WebDriverException:
        return []
    bad = []
    for e in logs:
        msg = e.get("message", "")
        if e.get("level") != "SEVERE":
            continue
        # Expected: the 401 of the first session probe, the 401 of the wrong
        # password and the 403s this test provokes on purpose.
        if "status of 401" in msg or "status of 403" in msg:
            continue
        bad.append(msg)
    return bad


def main():
    t_start = time.monotonic()
    try:
        d = start_browser("zh-CN")
    except Exception as e:  # the test is required: no browser is a failure
        check(False, "headless chromium starts", e)
        return
    check(True, "headless chromium starts")
    try:
        run(d)
    except Exception:
        check(False, "browser test ran to the end", traceback.format_exc())
        try:
            shot(d, "failure")
        except Exception:
            pass
    finally:
        errs = browser_errors(d)
        check(not errs, "no JavaScript errors or CSP violations in the browser console", errs)
        d.quit()
    try:
        english_browser()
    except Exception:
        check(False, "an English browser gets English", traceback.format_exc())
    say("INFO", "browser tests took %.1f s" % (time.monotonic() - t_start))


def run(d):
    # ---- login page, Chinese by default ------------------------------------
    d.get(URL + "/")
    wait(d, lambda d: css(d, "input[name=username]") and css(d, "input[name=password]"), 15, "login form")
    check(d.execute_script("return document.documentElement.lang") == "zh-CN" and
          "登录" in css(d, "#login-submit")[0].text, "login page is in Chinese by default (zh-CN)")
    shot(d, "login")

    login(d, "operator", password="wrong-password")
    try:
        wait(d, lambda d: css(d, ".login-error") and css(d, ".login-error")[0].is_displayed(), 10, "login error")
        check("用户名或密码错误" in css(d, ".login-error")[0].text, "a wrong password is refused with a Chinese message")
    except TimeoutException:
        check(False, "a wrong password is refused with a Chinese message")

    op = login(d, "operator")
    wait(d, lambda d: css(d, "#incident-list"), 10, "alarms page")
    check("#/alarms" in d.current_url, "operator logged in lands on the Alarms page")
    wait(d, lambda d: css(d, "#conn.conn-live"), 10, "event stream live")
    check(True, "event stream connected (live indicator)")
    d.execute_script("window.__gridgwNoReload = 42;")

    # ---- an alarm from the simulator appears within 2 s, no reload ----------
    before = set(e.get("id") for e in platform_events())
    sim("set", ALARM_DEVICE, "alarm", "1")
    t0 = time.monotonic()
    sel = "[data-incident-id][data-severity='1']"

    def new_row(d):
        for el in css(d, sel):
            txt = el.text
            if ALARM_DEVICE in txt:
                return (el.get_attribute("data-incident-id"), txt)
        return False
    try:
        row = wait(d, new_row, 2.0, "alarm row")
        took = time.monotonic() - t0
        check(True, "alarm from the simulator shown on the Alarms page within 2 s (%.2f s)" % took)
    except TimeoutException:
        check(False, "alarm from the simulator shown on the Alarms page within 2 s")
        row = wait(d, new_row, 10, "alarm row (late)")
    check(d.execute_script("return window.__gridgwNoReload") == 42, "…without a page reload")
    inc_id, row_text = row
    check("烟感报警" in row_text and "紧急" in row_text, "the row shows the type label 烟感报警 and severity 紧急", row_text)
    check(inc_id not in before, "the row is a new incident")

    banner = wait(d, lambda d: css(d, "#alarm-banner.flash"), 5, "flashing banner")[0]
    check(banner.is_displayed() and "紧急告警" in banner.text, "severity-1 alarm shows the flashing full-width red banner")
    check(banner.size["width"] >= d.execute_script("return document.documentElement.clientWidth") - 2, "…across the full width")
    try:
        wait(d, lambda d: int(css(d, "#alarm-banner")[0].get_attribute("data-sounds") or 0) >= 1, 5, "alarm tone")
        check(True, "the alarm tone sounded (WebAudio, after the login click)")
    except TimeoutException:
        check(False, "the alarm tone sounded (WebAudio, after the login click)")
    shot(d, "alarms")

    # ---- CSRF: a POST without the token is refused ---------------------------
    status = fetch_post(d, "/api/v1/incidents/%s/ack" % inc_id, {"note": "no token"}, False)
    check(status == 403, "a POST without the CSRF token gets 403", status)

    # ---- Ack as operator -> platform receives acked by = the user ------------
    # Rows are rebuilt when the full record arrives: find the button afresh.
    ack_sel = "[data-incident-id='%s'] [data-action=ack]" % inc_id
    wait(d, lambda d: css(d, ack_sel), 5, "ack button")
    check(len(css(d, ack_sel)) == 1, "the operator sees an Ack button on the row")
    click_fresh(d, ack_sel)
    dlg = wait(d, lambda d: css(d, "dialog[open]"), 5, "ack dialog")[0]
    dlg.find_element(By.NAME, "note").send_keys("到现场查看 on site")
    dlg.find_element(By.CSS_SELECTOR, "[data-role=confirm]").click()

    def acked_row(d):
        for el in css(d, "[data-incident-id='%s']" % inc_id):
            if not el.find_elements(By.CSS_SELECTOR, "[data-action=ack]") and "已确认" in el.text:
                return el
        return False
    wait(d, acked_row, 10, "row shows acked")
    check(True, "after Ack the row shows 已确认 and no Ack button")
    ev = poll(lambda: [e for e in platform_events() if e.get("id") == inc_id and e.get("event") == "acked"], 10)
    check(bool(ev) and ev[0].get("by") == op, "the platform subscriber received an acked event with by = %s" % op,
          ev[0] if ev else "no acked event")
    check(bool(ev) and ev[0].get("acked") is True, "…and acked = true")
    check(not css(d, "#alarm-banner.flash") or not css(d, "#alarm-banner")[0].is_displayed(),
          "the banner goes away once the urgent alarm is acked")

    # ---- the platform dispatches it: the row shows to whom ---------------------
    cmd = {"req": "disp-1", "op": "incident.workflow", "incident": inc_id, "workflow": "dispatched",
           "by": "duty-desk-2", "assignee": "worker-17", "note": "team 3"}
    subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", os.environ["MQTT_PORT"], "-q", "1",
                    "-t", os.environ["CMD_TOPIC"], "-m", json.dumps(cmd)], check=True, timeout=10)
    row_sel = "[data-incident-id='%s']" % inc_id

    def row_with(text):
        return lambda d: [el for el in css(d, row_sel) if text in el.text]
    try:
        wait(d, row_with("已派单 → worker-17"), 5, "dispatched row")
        check(True, "the platform's dispatch shows on the Alarms row as 已派单 → worker-17, live")
    except TimeoutException:
        check(False, "the platform's dispatch shows on the Alarms row as 已派单 → worker-17",
              [el.text for el in css(d, row_sel)])
    ev = poll(lambda: [e for e in platform_events() if e.get("id") == inc_id and e.get("event") == "workflow"], 10)
    check(bool(ev) and ev[0].get("workflow") == "dispatched" and ev[0].get("evidence", {}).get("_assignee") == "worker-17",
          "the workflow event the platform gets carries the assignee", ev[0] if ev else "no workflow event")
    d.refresh()
    wait(d, row_with("worker-17"), 10, "assignee after reload")
    check(True, "…and after a reload (from the stored incident: GET incidents has assignee)")
    shot(d, "alarms-dispatched")

    # ---- incident page: timeline ---------------------------------------------
    d.get(URL + "/#/incident/" + inc_id)
    wait(d, lambda d: css(d, "#timeline .tl-item[data-event=acked]"), 10, "timeline with acked")
    items = d.execute_script("""return Array.prototype.map.call(document.querySelectorAll('#timeline .tl-item'),
        function (li) { return [li.dataset.event, li.textContent, li.querySelector('time').textContent]; });""")
    kinds = [i[0] for i in items]
    acked = [i for i in items if i[0] == "acked"]
    check(kinds[:1] == ["raised"] and "acked" in kinds, "incident timeline lists raised then acked", kinds)
    check(bool(acked) and op in acked[0][1] and "到现场查看" in acked[0][1], "…with who acked and the note", acked)
    check(any(ch.isdigit() for ch in items[0][2]) and "/" in items[0][2], "…with date and time", items[0])
    shot(d, "incident")

    # ---- device page: points and an SVG history chart ------------------------
    d.get(URL + "/#/device/" + ALARM_DEVICE)
    wait(d, lambda d: css(d, "table.points tr[data-point=alarm]"), 10, "points table")
    check(True, "device page lists the device's points")
    try:
        wait(d, lambda d: css(d, "#chart svg.chart path.chart-line") and
             int(css(d, "#chart")[0].get_attribute("data-samples") or 0) >= 2, 10, "history chart")
        check(True, "device page draws an SVG history chart from /history")
    except TimeoutException:
        check(False, "device page draws an SVG history chart from /history",
              css(d, "#chart")[0].text if css(d, "#chart") else "no chart box")
    wait(d, lambda d: css(d, "[data-incident-id='%s']" % inc_id), 10, "device incidents")
    check(True, "device page lists the device's incidents")
    shot(d, "device")

    # ---- devices page: text stays text ---------------------------------------
    d.get(URL + "/#/devices")
    row_text = wait(d, lambda d: css(d, "[data-device-id='%s']" % XSS_DEVICE) and
                    css(d, "[data-device-id='%s']" % XSS_DEVICE)[0].text, 10, "xss device row")
    check("<script>alert(1)</script>" in row_text, "a room named <script>alert(1)</script> is shown as text", row_text)
    check(no_alert(d) and not css(d, "#device-list script"), "…and runs nothing (no alert, no script element)")
    check(len(css(d, "[data-device-id]")) >= 3 and css(d, "section.bldg"), "devices are grouped by building")
    shot(d, "devices")
    flt = css(d, "#filter-text")[0]
    flt.send_keys(XSS_DEVICE)
    wait(d, lambda d: len(css(d, "[data-device-id]")) == 1, 5, "text filter")
    check(True, "the text filter narrows the list")
    flt.clear()
    flt.send_keys(" ")  # clear() fires no input event
    wait(d, lambda d: len(css(d, "[data-device-id]")) > 1, 5, "filter cleared")

    shelve_from_page(d)

    # ---- system page ----------------------------------------------------------
    d.get(URL + "/#/system")
    wait(d, lambda d: css(d, "#system .card"), 10, "system cards")
    txt = css(d, "#system")[0].text
    check("上级平台链路" in txt and "已连接" in txt, "system page shows the uplink connected", txt[:200])
    shot(d, "system")

    # ---- language switch --------------------------------------------------------
    d.get(URL + "/#/alarms")
    wait(d, lambda d: css(d, "#lang-switch"), 10, "lang switch")
    css(d, "#lang-switch")[0].click()
    wait(d, lambda d: css(d, "a[data-nav=alarms]") and css(d, "a[data-nav=alarms]")[0].text.startswith("Alarms"), 5, "English nav")
    check(d.execute_script("return document.documentElement.lang") == "en", "language switch turns the console English")
    d.refresh()
    wait(d, lambda d: css(d, "a[data-nav=alarms]"), 10, "nav after reload")
    wait(d, lambda d: css(d, "[data-incident-id='%s']" % inc_id), 10, "rows after reload")
    check(css(d, "a[data-nav=alarms]")[0].text.startswith("Alarms") and
          "Smoke alarm" in css(d, "[data-incident-id='%s']" % inc_id)[0].text, "…and the choice is remembered after a reload")
    shot(d, "alarms-en")
    css(d, "#lang-switch")[0].click()
    wait(d, lambda d: css(d, "a[data-nav=alarms]")[0].text.startswith("告警"), 5, "Chinese nav")
    check(True, "switching back gives Chinese")

    # ---- phone size -------------------------------------------------------------
    d.set_window_size(390, 844)
    wait(d, lambda d: css(d, "[data-incident-id]"), 10, "rows on phone")
    w = d.execute_script("return document.documentElement.scrollWidth")
    check(w <= 392, "the Alarms page fits a phone's width (no sideways scrolling)", w)
    shot(d, "phone-alarms")
    d.set_window_size(1366, 900)

    # ---- viewer: no buttons, forged POST refused ---------------------------------
    css(d, "#logout")[0].click()
    login(d, "viewer")
    wait(d, lambda d: css(d, "[data-incident-id]"), 10, "viewer alarms")
    check(not css(d, "[data-action]"), "a viewer sees no Ack/Shelve buttons on the Alarms page")
    d.get(URL + "/#/devices")
    wait(d, lambda d: css(d, "[data-device-id]"), 10, "viewer devices")
    check(not css(d, "[data-action]"), "…nor on the Devices page")
    d.get(URL + "/#/device/" + ALARM_DEVICE)
    wait(d, lambda d: css(d, "table.points"), 10, "viewer device")
    check(not css(d, "[data-action]"), "…nor on a Device page")
    status = fetch_post(d, "/api/v1/incidents/%s/ack" % inc_id, {"note": "forged"}, True)
    check(status == 403, "a forged Ack POST with the viewer's session and CSRF token gets 403", status)
    status = fetch_post(d, "/api/v1/devices/%s/shelve" % ALARM_DEVICE, {"for": "1h"}, True)
    check(status == 403, "a forged Shelve POST by the viewer gets 403", status)
    n_acked = len([e for e in platform_events() if e.get("id") == inc_id and e.get("event") == "acked"])
    check(n_acked == 1, "the forged POSTs changed nothing (still one acked event)", n_acked)
    check(not css(d, "a[data-nav=commission]"), "a viewer has no Commissioning link")
    status = fetch_get(d, "/api/v1/devices/%s/read" % ALARM_DEVICE)
    check(status == 403, "a live read by the viewer gets 403", status)

    # ---- operator: no live read -----------------------------------------------------
    css(d, "#logout")[0].click()
    login(d, "operator")
    wait(d, lambda d: css(d, "#incident-list"), 10, "operator alarms")
    check(not css(d, "a[data-nav=commission]"), "an operator has no Commissioning link")
    status = fetch_get(d, "/api/v1/devices/%s/read" % ALARM_DEVICE)
    check(status == 403, "a live read by the operator gets 403", status)
    d.get(URL + "/#/device/" + ALARM_DEVICE)
    wait(d, lambda d: css(d, "table.points"), 10, "operator device")
    check(css(d, "[data-action=shelve]") and not css(d, "[data-action=read]"),
          "an operator's Device page has Shelve but no Live read button")

    installer(d)


def fetch_get(d, path):
    return d.execute_async_script("""
        var done = arguments[arguments.length - 1];
        fetch(arguments[0], {credentials: 'same-origin'}).then(function (r) { done(r.status); }, function (e) { done('error ' + e); });
    """, path)


def api_get(d, path):
    return d.execute_async_script("""
        var done = arguments[arguments.length - 1];
        fetch(arguments[0], {credentials: 'same-origin'}).then(function (r) { return r.json(); })
            .then(function (j) { done(j); }, function (e) { done(null); });
    """, path)


def shelve_from_page(d):
    """Operator shelves a device for 2 h from the Devices page: the dialog,
    then the row shows it shelved with its expiry, and the API agrees."""
    dev = "smoke-b"
    d.get(URL + "/#/devices")
    btn = "[data-device-id='%s'] [data-action=shelve]" % dev
    wait(d, lambda d: css(d, btn), 10, "shelve button")
    click_fresh(d, btn)
    dlg = wait(d, lambda d: css(d, "dialog[open]"), 5, "shelve dialog")[0]
    sel = dlg.find_element(By.NAME, "for")
    check(sel.get_attribute("value") == "2h" and "2 小时" in dlg.text and "屏蔽" in dlg.text,
          "the Shelve dialog opens in Chinese with 2 hours preselected", dlg.text)
    shot(d, "shelve-dialog")
    t0 = time.time()
    dlg.find_element(By.CSS_SELECTOR, "[data-role=confirm]").click()
    row = "[data-device-id='%s']" % dev
    try:
        txt = wait(d, lambda d: css(d, row) and "屏蔽至" in css(d, row)[0].text and css(d, row)[0].text, 10, "shelved row")
        check(True, "after Shelve the device row shows 屏蔽至 (its expiry)")
    except TimeoutException:
        txt = css(d, row)[0].text if css(d, row) else ""
        check(False, "after Shelve the device row shows 屏蔽至 (its expiry)", txt)
    check(css(d, row + " [data-action=unshelve]") and not css(d, row + " [data-action=shelve]"),
          "…and offers Unshelve instead of Shelve")
    info = api_get(d, "/api/v1/devices/" + dev)
    until = info and info.get("device", {}).get("shelved_until")
    ms = d.execute_script("return Date.parse(arguments[0])", until) if until else None
    left = (ms / 1000.0 - t0) if ms else None
    check(left is not None and 7200 - 60 <= left <= 7200 + 5, "the device is shelved for 2 h (%s left)" %
          ("%.0f s" % left if left is not None else "nothing"), until)
    hhmm = d.execute_script("return GW.fmt.short(arguments[0])", until) if until else "?"
    check(hhmm in txt, "the row's expiry is the server's shelved_until (%s)" % hhmm, txt)
    # A detector test while shelved: the alarm is suppressed (never reported)
    # and the console shows it, so the technician sees the test worked.
    before = len([e for e in platform_events() if e.get("device") == dev])
    d.get(URL + "/#/alarms")
    shelved = "#shelved-list [data-device-id='%s']" % dev
    wait(d, lambda d: css(d, shelved), 10, "shelved list")
    check("屏蔽期间无告警" in css(d, shelved)[0].text, "the Alarms page lists the shelved device, nothing suppressed yet",
          css(d, shelved)[0].text)
    sim("set", dev, "alarm", "1")
    try:
        txt = wait(d, lambda d: css(d, shelved + " .suppressed .chip") and "烟感报警" in css(d, shelved)[0].text and
                   "仍在报警" in css(d, shelved)[0].text and css(d, shelved)[0].text, 15, "suppressed alarm shown")
        check(True, "a test alarm while shelved shows there within 15 s: 烟感报警 · 仍在报警 (not reported)")
    except TimeoutException:
        txt = css(d, shelved)[0].text if css(d, shelved) else ""
        check(False, "a test alarm while shelved shows there within 15 s: 烟感报警 · 仍在报警 (not reported)", txt)
    check(not any(dev in e.text for e in css(d, "#incident-list .inc")), "…and is not an incident on the page")
    shot(d, "alarms-shelved-test")
    sim("set", dev, "alarm", "0")
    d.get(URL + "/#/device/" + dev)
    wait(d, lambda d: css(d, ".dev-detail-head") and "屏蔽至" in css(d, ".dev-detail-head")[0].text, 10, "device page shelved")
    check(True, "the Device page shows it shelved with the expiry too")
    try:
        wait(d, lambda d: css(d, ".dev-detail-head .suppressed") and "烟感报警" in css(d, ".dev-detail-head .suppressed")[0].text
             and "仍在报警" not in css(d, ".dev-detail-head .suppressed")[0].text, 15, "device page suppressed")
        check(True, "…with the suppressed alarm, no longer in alarm once the test smoke is gone")
    except TimeoutException:
        check(False, "…with the suppressed alarm, no longer in alarm once the test smoke is gone",
              css(d, ".dev-detail-head")[0].text)
    after = len([e for e in platform_events() if e.get("device") == dev])
    check(after == before, "the test alarm reached the platform as nothing (%d events before, %d after)" % (before, after))
    shot(d, "device-shelved")
    click_fresh(d, ".dev-detail-head [data-action=unshelve]")
    dlg = wait(d, lambda d: css(d, "dialog[open]"), 5, "unshelve dialog")[0]
    dlg.find_element(By.CSS_SELECTOR, "[data-role=confirm]").click()
    wait(d, lambda d: css(d, ".dev-detail-head [data-action=shelve]"), 10, "unshelved")
    info = api_get(d, "/api/v1/devices/" + dev)
    check(info and info["device"]["shelved_until"] is None, "Unshelve from the page ends it (shelved_until null)")


def installer(d):
    """The installer's commissioning page and live read with raw registers."""
    sim("set", "smoke-b", "smoke", "0.123")
    sim("set", "smoke-b", "battery", "77")
    css(d, "#logout")[0].click()
    login(d, "installer")
    wait(d, lambda d: css(d, "a[data-nav=commission]"), 10, "commissioning link")
    check(True, "an installer has the Commissioning link (调试)")
    css(d, "a[data-nav=commission]")[0].click()
    wait(d, lambda d: css(d, "#commission-devices tr[data-device-id='smoke-b']"), 10, "commissioning devices")
    txt = css(d, "#commission-devices")[0].text
    check("lan · 单元 2" in txt and "MQTT nb" in txt, "the page lists devices with bus and unit (or MQTT source)", txt[:300])
    wait(d, lambda d: css(d, "#config-warnings"), 10, "warnings")
    n_warn = int(css(d, "#config-warnings")[0].get_attribute("data-count") or -1)
    check(n_warn >= 0, "the running config's check warnings are shown (%d)" % n_warn, css(d, "#config-warnings")[0].text)
    click_fresh(d, "#commission-devices tr[data-device-id='smoke-b'] [data-action=read]")
    try:
        wait(d, lambda d: css(d, "#live-read[data-state=done] .read-table"), 10, "live read")
        rows = d.execute_script("""var o = {}; document.querySelectorAll('#live-read tr[data-point]').forEach(function (tr) {
            o[tr.dataset.point] = tr.querySelector('.read-raw').textContent + ' | ' + tr.querySelector('.pt-value').textContent; });
            return o;""")
        check("(123)" in rows.get("smoke", "") and "0.123" in rows.get("smoke", ""),
              "live read shows the raw register the simulator serves (smoke 0x007b (123) -> 0.123)", rows)
        check("(77)" in rows.get("battery", ""), "…and battery raw 77", rows.get("battery"))
        check("总线 lan 单元 2" in css(d, "#live-read")[0].text, "…read on bus lan, unit 2, said in Chinese")
    except TimeoutException:
        check(False, "live read from the Commissioning page", css(d, "#live-read")[0].text if css(d, "#live-read") else "")
    shot(d, "commission")
    d.set_window_size(390, 844)
    wait(d, lambda d: css(d, "#commission-devices"), 10, "commissioning on a phone")
    w = d.execute_script("return document.documentElement.scrollWidth")
    check(w <= 392, "the Commissioning page (four nav links) fits a phone's width", w)
    shot(d, "phone-commission")
    d.set_window_size(1366, 900)
    # Notification channel test: the fake robot's answer shown in the row.
    click_fresh(d, "#commission-notify tr[data-channel=wy-wecom] [data-action=test]")
    try:
        res = wait(d, lambda d: css(d, ".test-result[data-channel=wy-wecom][data-ok]") and
                   css(d, ".test-result[data-channel=wy-wecom]")[0], 15, "notify test result")
        check(res.get_attribute("data-ok") == "1" and "已送达" in res.text,
              "Send test on a channel shows the API's answer (已送达)", res.text)
    except TimeoutException:
        check(False, "Send test on a channel shows the API's answer", css(d, "#commission-notify")[0].text)
    # An MQTT device: its last message, no registers, said so.
    click_fresh(d, "#commission-devices tr[data-device-id='mc-1'] [data-action=read]")
    try:
        wait(d, lambda d: css(d, "#live-read[data-state=done] .read-result[data-live='0']"), 10, "mqtt read")
        check("没有寄存器可读" in css(d, "#live-read")[0].text, "an MQTT device's read says it has no registers (last message)")
    except TimeoutException:
        check(False, "an MQTT device's read says it has no registers", css(d, "#live-read")[0].text)
    # The Device page's own Live read button.
    d.get(URL + "/#/device/" + ALARM_DEVICE)
    wait(d, lambda d: css(d, ".dev-detail-head [data-action=read]"), 10, "read button")
    click_fresh(d, ".dev-detail-head [data-action=read]")
    try:
        wait(d, lambda d: css(d, "#live-read[data-state=done] .read-table tr[data-point=alarm]"), 10, "device live read")
        raw = css(d, "#live-read tr[data-point=alarm] .read-raw")[0].text
        check(raw.startswith("0x"), "the Device page's Live read shows raw registers (alarm: %s)" % raw)
    except TimeoutException:
        check(False, "the Device page's Live read shows raw registers", css(d, "#live-read")[0].text)
    shot(d, "device-read")


def english_browser():
    d = start_browser("en-US", size=(1366, 900))
    try:
        d.get(URL + "/")
        wait(d, lambda d: css(d, "#login-submit"), 15, "login form")
        check(d.execute_script("return document.documentElement.lang") == "en" and
              "Sign in" in css(d, "#login-submit")[0].text, "a browser that prefers English gets English")
    finally:
        d.quit()


if __name__ == "__main__":
    main()
    # Failures are FAIL lines; a non-zero status means the script itself broke.
    sys.exit(0)
