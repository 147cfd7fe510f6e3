"""Take the Apps-store screenshots from the running demo database.

Usage: ``make run`` then ``.venv/bin/python tools/screenshots.py``
(``--url``, ``--db``, ``--login``, ``--password``, ``--out``).

Drives headless Chromium through the DevTools protocol, logged in as the
demo administrator, and writes one PNG per screen of ``SHOTS`` into
``civimail_addon/static/description/`` — real screens with the demo data,
in the size the Apps store shows them.
"""

import argparse
import base64
import itertools
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
import websocket

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "civimail_addon" / "static" / "description"
WIDTH, HEIGHT = 1440, 900
# A view is ready when its controller is in place and no RPC is pending.
READY = """
!!document.querySelector('.o_action_manager .o_view_controller, .o_action_manager .o_form_view')
&& !document.querySelector('.o_loading_indicator, .o_blockUI')
&& document.readyState === 'complete'
"""
DISMISS_TOASTS = "document.querySelectorAll('.o_notification').forEach(n => n.remove())"


def shots(rpc):
    """(file name, URL path) of each screen, records found in the demo data."""
    on_hold = rpc("res.partner", "search", [[("email_on_hold", "=", True)]], {"limit": 1})
    mailing = rpc("mailing.mailing", "search", [[("state", "=", "done")]], {"limit": 1})
    account = rpc("civimail.mail.account", "search", [[("usage", "=", "bounce")]], {"limit": 1})
    action = "/odoo/action-civimail_addon."
    return [
        ("civimail_bounces_over_time.png", f"{action}civimail_bounce_action_report"),
        ("civimail_mailing_funnel.png", f"{action}civimail_mailing_report_action"),
        ("civimail_bouncing_domains.png", f"{action}civimail_bounce_action_domain"),
        ("civimail_contact_on_hold.png", f"/odoo/contacts/{on_hold[0]}"),
        ("civimail_deliverability.png", f"{action}civimail_deliverability_check_action_dashboard"),
        ("civimail_job_status.png", f"{action}civimail_job_status_action"),
        ("civimail_mail_account.png", f"{action}civimail_mail_account_action/{account[0]}"),
        ("civimail_mailing.png",
         f"/odoo/action-mass_mailing.mailing_mailing_action_mail/{mailing[0]}"),
    ]


class Odoo:
    def __init__(self, url, db, login, password):
        self.url = url
        self.session = requests.Session()
        reply = self.call("/web/session/authenticate",
                          {"db": db, "login": login, "password": password})
        if not reply.get("uid"):
            raise SystemExit(f"could not log in to {url} as {login}")

    def call(self, path, params):
        response = self.session.post(f"{self.url}{path}", json={
            "jsonrpc": "2.0", "method": "call", "params": params}, timeout=60)
        response.raise_for_status()
        body = response.json()
        if "error" in body:
            raise SystemExit(f"{path}: {body['error']['data']['message']}")
        return body["result"]

    def rpc(self, model, method, args, kwargs=None):
        return self.call("/web/dataset/call_kw", {
            "model": model, "method": method, "args": args, "kwargs": kwargs or {}})


class Browser:
    """Headless Chromium driven over its DevTools websocket."""

    def __init__(self):
        binary = next(filter(None, map(shutil.which, (
            "chromium", "chromium-browser", "google-chrome"))), None)
        if not binary:
            raise SystemExit("Chromium not found: apt-get install chromium")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.profile = tempfile.mkdtemp(prefix="civimail-chromium-")
        self.process = subprocess.Popen(
            [binary, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             "--no-first-run", "--disable-extensions", f"--user-data-dir={self.profile}",
             f"--remote-debugging-port={port}", f"--window-size={WIDTH},{HEIGHT}",
             "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.ws = websocket.create_connection(self._page_socket(port), timeout=60)
        self.ids = itertools.count(1)
        self.send("Page.enable")
        self.send("Emulation.setDeviceMetricsOverride",
                  width=WIDTH, height=HEIGHT, deviceScaleFactor=1, mobile=False)

    @staticmethod
    def _page_socket(port):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                targets = requests.get(f"http://127.0.0.1:{port}/json/list", timeout=2).json()
                return next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")
            except (requests.RequestException, StopIteration):
                time.sleep(0.2)
        raise SystemExit("Chromium did not open its DevTools port")

    def send(self, method, **params):
        message_id = next(self.ids)
        self.ws.send(json.dumps({"id": message_id, "method": method, "params": params}))
        while True:  # events arrive between the replies
            reply = json.loads(self.ws.recv())
            if reply.get("id") == message_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def shoot(self, url, path, settle=1.5, timeout=60):
        self.send("Page.navigate", url=url)
        deadline = time.monotonic() + timeout
        while not self.send("Runtime.evaluate", expression=READY,
                            returnByValue=True)["result"].get("value"):
            if time.monotonic() > deadline:
                raise SystemExit(f"{url} did not finish loading")
            time.sleep(0.2)
        time.sleep(settle)  # charts animate in
        # Toasts of the session (e.g. "page out of date" after the module upgrade).
        self.send("Runtime.evaluate", expression=DISMISS_TOASTS)
        data = self.send("Page.captureScreenshot", format="png")["data"]
        path.write_bytes(base64.b64decode(data))

    def close(self):
        self.ws.close()
        self.process.terminate()
        self.process.wait()
        shutil.rmtree(self.profile, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default="http://localhost:8069")
    parser.add_argument("--db", default="civimail")
    parser.add_argument("--login", default="admin")
    parser.add_argument("--password", default="admin")
    parser.add_argument("--out", type=Path, default=OUT)
    options = parser.parse_args()
    odoo = Odoo(options.url, options.db, options.login, options.password)
    browser = Browser()
    try:
        browser.send("Network.enable")
        browser.send("Network.setCookie", name="session_id", url=options.url,
                     value=odoo.session.cookies["session_id"])
        for name, path in shots(odoo.rpc):
            browser.shoot(options.url + path, options.out / name)
            print(options.out / name)
    finally:
        browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
