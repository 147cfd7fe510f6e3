"""``make run`` / ``make stop``: Odoo with civimail_addon and demo data on localhost.

``start`` creates the database ``civimail`` (module installed, demo data) on
first use, upgrades the module on later starts, serves it in the background
and returns once the login page answers. ``stop`` stops that server and the
project's private PostgreSQL cluster.
"""

import argparse
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tools.odoo_driver import DATA, MODULE, Odoo  # noqa: E402

DBNAME = "civimail"
PIDFILE = DATA / "odoo-run.pid"
LOGFILE = DATA / "odoo-run.log"


def running_pid():
    try:
        pid = int(PIDFILE.read_text())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


def wait_for_login_page(url, process, timeout=600):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - localhost
                if response.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(1)
    return False


def start(http_port):
    url = f"http://localhost:{http_port}"
    if running_pid():
        print(f"Odoo is already running: {url}")
        return 0
    odoo = Odoo()
    first_run = not odoo.database_exists(DBNAME)
    print("Installing civimail_addon with demo data in database 'civimail' (first run)..."
          if first_run else "Upgrading civimail_addon in database 'civimail'...", flush=True)
    with LOGFILE.open("a") as log:
        process = subprocess.Popen(
            odoo.command(
                "-d", DBNAME, "--db-filter", f"^{DBNAME}$",
                "-i" if first_run else "-u", MODULE,
                f"--http-port={http_port}", "--http-interface=127.0.0.1",
            ),
            env=odoo.environ(),
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    PIDFILE.write_text(str(process.pid))
    if not wait_for_login_page(f"{url}/web/login", process):
        stop_server()
        tail = LOGFILE.read_text(errors="replace").splitlines()[-30:]
        print("\n".join(tail))
        print(f"Odoo did not start (log: {LOGFILE}).", file=sys.stderr)
        return 1
    print(f"Odoo is running: {url}  (login: admin, password: admin; database 'civimail')")
    print(f"Log: {LOGFILE}. Stop it with: make stop")
    return 0


def stop_server():
    pid = running_pid()
    if pid:
        os.killpg(pid, signal.SIGTERM)
        for _attempt in range(50):
            if not running_pid():
                break
            time.sleep(0.2)
        else:
            os.killpg(pid, signal.SIGKILL)
        print("Odoo stopped.")
    PIDFILE.unlink(missing_ok=True)


def stop_postgres():
    cluster = DATA / "postgres"
    if not (cluster / "PG_VERSION").exists():
        return  # the PG* variables named an outside server: not ours to stop
    bindir = subprocess.run(
        ["bash", "-c", "dirname $(command -v pg_ctl || ls /usr/lib/postgresql/*/bin/pg_ctl)"],
        capture_output=True, text=True, check=False,
    ).stdout.strip()
    command = [f"{bindir}/pg_ctl", "-D", str(cluster.resolve()), "-m", "fast", "stop"]
    if os.geteuid() == 0:
        command = ["su", "postgres", "-s", "/bin/sh", "-c", " ".join(command)]
    if subprocess.run(command, capture_output=True, check=False).returncode == 0:
        print("PostgreSQL stopped.")


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("action", choices=["start", "stop"])
    parser.add_argument("--http-port", type=int, default=8069)
    options = parser.parse_args()
    if options.action == "start":
        return start(options.http_port)
    stop_server()
    stop_postgres()
    return 0


if __name__ == "__main__":
    sys.exit(main())
