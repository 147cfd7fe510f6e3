"""Real servers for tests: Dovecot (IMAP/POP3), an SMTP sink and NSD (DNS).

Every server runs as its own process on 127.0.0.1 with a free high port and
keeps all its files in one folder, so that another process (the Odoo test
runner) can attach to it through ``from_description()``.  This module holds
the small helpers they share.
"""

import contextlib
import errno
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

HOST = "127.0.0.1"

# Which Debian package provides each program the harness starts.
DEBIAN_PACKAGES = {
    "dovecot": "dovecot-imapd dovecot-pop3d",
    "nsd": "nsd",
    "nsd-checkzone": "nsd",
    "openssl": "openssl",
}


class HarnessError(RuntimeError):
    """A test server could not be started, stopped or controlled."""


def require_program(name):
    """Return the absolute path of ``name``; raise with the package to install."""
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin:/usr/bin")
    if path is None:
        package = DEBIAN_PACKAGES.get(name, name)
        raise HarnessError(
            f"program {name!r} not found: install the Debian package(s) "
            f"'{package}' (apt-get install {package}, or run tools/setup.sh)"
        )
    return path


def free_ports(count=1, udp_too=False):
    """Return ``count`` distinct ports free on 127.0.0.1 (TCP, and UDP if asked).

    The sockets are held open together so the ports are distinct; there is a
    small window before the server binds them, acceptable for tests.
    """
    ports, held = [], []
    try:
        while len(ports) < count:
            tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            held.append(tcp)
            tcp.bind((HOST, 0))
            port = tcp.getsockname()[1]
            if udp_too:
                udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                held.append(udp)
                try:
                    udp.bind((HOST, port))
                except OSError:
                    continue
            ports.append(port)
    finally:
        for sock in held:
            sock.close()
    return ports


def tcp_port_open(port, host=HOST):
    """True if something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_until(predicate, timeout, what, interval=0.01, log_file=None):
    """Poll ``predicate`` until true; raise HarnessError naming ``what`` otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return
        if time.monotonic() > deadline:
            raise HarnessError(
                f"timed out after {timeout}s waiting for {what}" + log_tail(log_file)
            )
        time.sleep(interval)


def log_tail(path, lines=20):
    """The end of a log file, formatted for an error message (empty if none)."""
    if not path:
        return ""
    try:
        with open(path, errors="replace") as handle:
            text = "".join(handle.readlines()[-lines:])
    except OSError:
        return ""
    return f"\n--- last lines of {path} ---\n{text}"


def read_pid(pid_file):
    """The pid written in ``pid_file``, or None if missing/empty."""
    try:
        with open(pid_file) as handle:
            return int(handle.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def pid_alive(pid):
    """True if process ``pid`` exists and is not a zombie."""
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    if state == "Z":
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        return False
    return True


def terminate_pid(pid, timeout=5.0, what="process"):
    """SIGTERM ``pid`` and wait until it is gone; SIGKILL after ``timeout``."""
    if not pid_alive(pid):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            wait_until(lambda: not pid_alive(pid), 2.0, f"{what} (pid {pid}) to die")
            return
        time.sleep(0.005)


def make_traversable(path, uid=None, gid=None):
    """chmod 0755 (and chown if root) so daemons' unprivileged users can read it."""
    os.chmod(path, 0o755)  # noqa: S103 - daemons run as other users and must read it
    if uid is not None and os.geteuid() == 0:
        os.chown(path, uid, gid if gid is not None else -1)


def remove_tree(path):
    """Remove a folder, ignoring that it may already be gone."""
    try:
        shutil.rmtree(path)
    except OSError as exc:
        if exc.errno != errno.ENOENT:
            raise


def process_group_alive(pgid):
    """True while some non-zombie process of group ``pgid`` exists."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def kill_process_group(pgid, what="process group", timeout=5.0):
    """SIGKILL every process of group ``pgid`` (a daemon started in its own
    session) and wait until none is left, zombies aside: PID 1 of some
    containers reaps orphans only every few seconds, and zombies hold no ports.
    """
    if pgid is None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
    wait_until(lambda: not process_group_alive(pgid), timeout, f"{what} (group {pgid}) to die")


def pids_running(program, config_file):
    """Pids of live ``program`` processes started with ``config_file`` (by cmdline).

    A fallback for when a pid file is missing, so stop() never leaves a daemon.
    """
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                argv = handle.read().split(b"\0")
        except OSError:
            continue
        if (
            argv
            and os.path.basename(argv[0]) == program.encode()
            and str(config_file).encode() in argv
            and pid_alive(int(entry))
        ):
            found.append(int(entry))
    return found


# Runs a daemon in its own session and, as "child subreaper", reaps every
# process of it (the daemon's orphaned children included) before exiting with
# the daemon's status: killed daemons leave no zombies even when PID 1 (as in
# many containers) does not reap orphans.
_REAPER = r"""
import ctypes, os, sys
ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
pid = os.fork()
if pid == 0:
    os.setsid()
    os.execv(sys.argv[1], sys.argv[1:])
status = 1
while True:
    try:
        child, code = os.wait()
    except ChildProcessError:
        break
    if child == pid:
        status = os.waitstatus_to_exitcode(code)
sys.exit(status)
"""


_SPAWNED = []  # reapers started by this process, waited for by reap_spawned()


def reap_spawned():
    """Collect reapers whose daemon is gone, wherever it was stopped from.

    A controller in one process may restart a daemon another process stops
    later; this keeps the exited reaper from lingering as a zombie.
    """
    for process in list(_SPAWNED):
        if process.poll() is None:
            try:
                with open(f"/proc/{process.pid}/task/{process.pid}/children") as handle:
                    busy = bool(handle.read().split())
            except OSError:
                busy = False
            if busy:
                continue
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=1)
        if process.returncode is not None:
            _SPAWNED.remove(process)


def spawn_daemon(argv, log_file):
    """Start ``argv`` (absolute program path first) in a new session under a
    reaper; return the reaper's Popen.  The daemon's pid is its process group."""
    with open(log_file, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", _REAPER, *argv],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    _SPAWNED.append(process)
    return process
