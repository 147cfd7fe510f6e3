"""Real mail servers (Postfix, Exim, OpenSMTPD, Sendmail) as the bounce generator runs them.

Debian's packages of these MTAs conflict (each provides mail-transport-agent),
so tools/setup.sh unpacks them, uninstalled, under ``.data/mta/<package>``;
each class here writes a configuration of its own into a work folder and runs
the unpacked binaries from there. They are meant to run inside the private
network namespace of ``harness.bounce_generator`` (port 25 on a loopback
address of their own, DNS from the namespace's /etc/resolv.conf), as root.
Postfix also runs beside other programs (tests/test_mailing_life.py): on
another port, in a private mount namespace only, where /etc/resolv.conf names
the test's DNS server (``nameserver``), so its MX lookups are real too.

Every MTA is set up alike: it accepts mail from 127.0.0.0/8 on
``<address>:<port>`` (25 by default), relays every domain by its MX records,
retries deferred mail every second, warns of delays after ``delay_warning``
seconds (``Action: delayed``; Postfix, as by default, not at all with 0) and
gives up after ``lifetime`` seconds, so timeouts and queue expiry happen within
a test. Nothing is delivered locally: their bounces go, like any mail, to the
MX of the sender's domain.
"""

import grp
import os
import pwd
import shutil
import socket
import subprocess
from pathlib import Path

from harness import HarnessError, log_tail, pid_alive, read_pid, terminate_pid, wait_until

REPO_ROOT = Path(__file__).resolve().parent.parent
PACKAGES_DIR = REPO_ROOT / ".data" / "mta"
DELAY_WARNING = 3  # seconds before a "delayed" DSN
CONNECT_TIMEOUT = 2  # seconds, each SMTP step of the client


def _require_file(path, what):
    if not Path(path).exists():
        raise HarnessError(f"{what} not found at {path}: run tools/setup.sh (make setup) first")
    return str(path)


def _require_user(name, why):
    try:
        pwd.getpwnam(name)
    except KeyError:
        raise HarnessError(
            f"the system user {name!r} ({why}) does not exist: run tools/setup.sh as root"
        ) from None


class Mta:
    """One MTA instance: ``start()``, ``flush()`` (retry the queue now), ``stop()``."""

    name = ""
    package = ""
    # Catalogue entries this MTA cannot play within a test, and why.
    skips = {}

    def __init__(self, workdir, address, hostname, lifetime=12, *, port=25,
                 delay_warning=DELAY_WARNING):
        self.workdir = Path(workdir)
        self.address = address
        self.port = port
        self.hostname = hostname
        self.lifetime = lifetime
        self.delay_warning = delay_warning
        self.root = PACKAGES_DIR / self.package
        self.process = None

    log_file = property(lambda self: self.workdir / "mta.log")

    def _run(self, argv, **kwargs):
        result = subprocess.run(argv, capture_output=True, text=True, env=self.env(), check=False,
                                **kwargs)
        if result.returncode:
            raise HarnessError(
                f"{self.name}: {' '.join(map(str, argv))} failed ({result.returncode}): "
                f"{(result.stderr or result.stdout).strip()[-2000:]}" + log_tail(self.log_file)
            )
        return result

    def env(self):
        return {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C"}

    def _wait_listening(self, timeout=15.0):
        def listening():
            if self.process is not None and self.process.poll() is not None:
                raise HarnessError(
                    f"{self.name} exited with status {self.process.returncode}"
                    + log_tail(self.log_file)
                )
            with socket.socket() as probe:
                probe.settimeout(0.2)
                return probe.connect_ex((self.address, self.port)) == 0

        wait_until(listening, timeout, f"{self.name} to listen on {self.address}:{self.port}",
                   interval=0.05, log_file=self.log_file)

    def flush(self):
        """Retry every queued message now (the queue runners are slow to start)."""

    def stop(self):
        if self.process is not None:
            terminate_pid(self.process.pid, what=self.name)
            self.process.wait(timeout=10)
            self.process = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()


class Postfix(Mta):
    name = "postfix"
    package = "postfix"

    def __init__(self, *args, nameserver=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.nameserver = nameserver

    def env(self):
        return {**super().env(), "LD_LIBRARY_PATH": str(self.root / "usr/lib/postfix"),
                "MAIL_CONFIG": str(self.workdir / "etc")}

    def configure(self):
        _require_file(self.root / "usr/sbin/postfix", "Postfix (unpacked Debian package)")
        _require_user("postfix", "Postfix's mail_owner")
        try:
            grp.getgrnam("postdrop")
        except KeyError:
            raise HarnessError("the group 'postdrop' (Postfix's setgid_group) does not exist: "
                               "run tools/setup.sh as root") from None
        etc = self.workdir / "etc"
        etc.mkdir(parents=True, exist_ok=True)
        for folder in ("queue", "data"):
            (self.workdir / folder).mkdir(exist_ok=True)
        shutil.chown(self.workdir / "data", "postfix")
        lifetime = f"{self.lifetime}s"
        (etc / "main.cf").write_text(f"""\
# harness/mta.py: a Postfix relaying by MX, quick retries, short queue lifetime
compatibility_level = 3.6
myhostname = {self.hostname}
myorigin = $myhostname
mydestination =
inet_interfaces = {self.address}
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
queue_directory = {self.workdir / "queue"}
data_directory = {self.workdir / "data"}
command_directory = {self.root / "usr/sbin"}
daemon_directory = {self.root / "usr/lib/postfix/sbin"}
shlib_directory = {self.root / "usr/lib/postfix"}
meta_directory = {self.root / "etc/postfix"}
mail_owner = postfix
setgid_group = postdrop
import_environment = MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ LANG=C LD_LIBRARY_PATH
maillog_file = {self.log_file}
maillog_file_prefixes = {self.workdir}
alias_maps =
alias_database =
biff = no
smtp_tls_security_level = none
smtpd_tls_security_level = none
smtputf8_enable = no
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
delay_warning_time = {self.delay_warning}s
maximal_queue_lifetime = {lifetime}
bounce_queue_lifetime = {lifetime}
smtp_connect_timeout = {CONNECT_TIMEOUT}s
smtp_helo_timeout = {CONNECT_TIMEOUT}s
smtp_mail_timeout = {CONNECT_TIMEOUT}s
smtp_rcpt_timeout = {CONNECT_TIMEOUT}s
smtp_data_init_timeout = {CONNECT_TIMEOUT}s
smtp_data_done_timeout = {CONNECT_TIMEOUT}s
""")
        master = (self.root / "usr/share/postfix/master.cf.dist").read_text()
        # Not chrooted: the daemons then read the namespace's resolv.conf.
        lines = []
        for line in master.splitlines():
            fields = line.split()
            if len(fields) >= 8 and not line.startswith((" ", "\t", "#")):
                fields[4] = "n"
                if fields[0] == "smtp" and fields[1] == "inet":
                    fields[0] = f"{self.address}:{self.port}"
                lines.append(" ".join(fields))
            else:
                lines.append(line)
        (etc / "master.cf").write_text("\n".join(lines) + "\n")

    def start(self):
        self.configure()
        self.log_file.touch()
        command = [self.root / "usr/sbin/postfix", "-c", self.workdir / "etc", "start"]
        if self.nameserver:
            command = self._in_own_resolver(command)
        self._run(command)
        self._wait_listening()
        return self

    def _in_own_resolver(self, command):
        """``command`` in a private mount namespace whose /etc/resolv.conf names
        ``nameserver`` only: the daemons it starts inherit it, the host's DNS
        is untouched. Root only (unshare)."""
        if os.geteuid() != 0:
            raise HarnessError("Postfix with a DNS server of its own needs root "
                               "(unshare --mount)")
        resolv = self.workdir / "resolv.conf"
        resolv.write_text(f"nameserver {self.nameserver}\noptions attempts:1 timeout:1\n")
        resolv.chmod(0o644)
        # The bind mount goes on the file itself (/etc/resolv.conf may be a link).
        target = os.path.realpath("/etc/resolv.conf")
        return ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
                'mount --bind "$1" "$2" && shift 2 && exec "$@"', "sh", str(resolv), target,
                *map(str, command)]

    def flush(self):
        self._run([self.root / "usr/sbin/postqueue", "-c", self.workdir / "etc", "-f"])

    def stop(self):
        pid = read_pid(self.workdir / "queue/pid/master.pid")
        if pid and pid_alive(pid):
            subprocess.run([self.root / "usr/sbin/postfix", "-c", self.workdir / "etc", "stop"],
                           env=self.env(), capture_output=True, check=False)
            wait_until(lambda: not pid_alive(pid), 10, "Postfix to stop")


class Exim(Mta):
    name = "exim"
    package = "exim4-daemon-light"

    config = property(lambda self: self.workdir / "exim.conf")
    binary = property(lambda self: self.workdir / "exim4")

    def configure(self):
        _require_file(self.root / "usr/sbin/exim4", "Exim (unpacked Debian package)")
        _require_user("Debian-exim", "Exim's exim_user, compiled in")
        # Exim re-executes itself, also as Debian-exim, who may not reach the
        # checkout (e.g. under /root): run a copy from the work folder.
        self.workdir.mkdir(parents=True, exist_ok=True)
        shutil.copy2(self.root / "usr/sbin/exim4", self.binary)
        spool = self.workdir / "spool"
        spool.mkdir(parents=True, exist_ok=True)
        for folder in (self.workdir, spool):  # its logs and spool are written as that user
            shutil.chown(folder, "Debian-exim", "Debian-exim")
        self.config.write_text(f"""\
# harness/mta.py: an Exim relaying by MX, quick retries, short queue lifetime
primary_hostname = {self.hostname}
exim_path = {self.binary}
exim_user = Debian-exim
exim_group = Debian-exim
never_users =
spool_directory = {spool}
log_file_path = {self.workdir}/%slog
pid_file_path = {self.workdir}/exim.pid
local_interfaces = {self.address}
daemon_smtp_ports = {self.port}
host_lookup =
rfc1413_hosts =
dsn_advertise_hosts = *
acl_smtp_rcpt = acl_check_rcpt
delay_warning = {self.delay_warning}s
keep_environment =
tls_advertise_hosts =

begin acl
acl_check_rcpt:
  accept hosts = 127.0.0.0/8
  deny message = relay not permitted

begin routers
dnslookup:
  driver = dnslookup
  transport = remote_smtp
  no_more

begin transports
remote_smtp:
  driver = smtp
  connect_timeout = {CONNECT_TIMEOUT}s
  command_timeout = {CONNECT_TIMEOUT}s
  data_timeout = {CONNECT_TIMEOUT}s
  hosts_avoid_tls = *

begin retry
*  *  F,{self.lifetime}s,1s
""")
        os.chmod(self.config, 0o644)

    def start(self):
        self.configure()
        self.log_file.touch()
        with open(self.log_file, "ab") as log:
            self.process = subprocess.Popen(
                [self.binary, "-C", self.config, "-bdf", "-q1s"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=self.env(),
                cwd=self.workdir, start_new_session=True)
        self._wait_listening()
        return self

    def flush(self):
        self._run([self.binary, "-C", self.config, "-qf"])


class OpenSmtpd(Mta):
    name = "opensmtpd"
    package = "opensmtpd"
    skips = {"timeout": "its SMTP client waits 5 minutes for a greeting (compiled in)"}

    config = property(lambda self: self.workdir / "smtpd.conf")

    def configure(self):
        _require_file(self.root / "usr/sbin/smtpd", "OpenSMTPD (unpacked Debian package)")
        for user in ("opensmtpd", "opensmtpq"):
            _require_user(user, "OpenSMTPD's privilege separation")
        _require_file("/var/lib/opensmtpd/empty", "OpenSMTPD's empty chroot folder")
        # smtpctl talks to the daemon only when set-gid to its queue user, as
        # the package installs it (unpacking drops that bit).
        smtpctl = self.root / "usr/sbin/smtpctl"
        os.chown(smtpctl, 0, grp.getgrnam("opensmtpq").gr_gid)
        smtpctl.chmod(0o2555)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config.write_text(f"""\
# harness/mta.py: an OpenSMTPD relaying by MX, short queue lifetime
queue ttl {self.lifetime}s
bounce warn-interval {self.delay_warning}s
listen on {self.address} port {self.port} hostname {self.hostname}
action "relay" relay helo {self.hostname}
match from src 127.0.0.0/8 for any action "relay"
match from local for any action "relay"
""")

    def start(self):
        self.configure()
        # Its spool (/var/spool/smtpd) and control socket (/run/smtpd.sock)
        # are compiled in: the namespace gives it private ones (tmpfs).
        with open(self.log_file, "ab") as log:
            self.process = subprocess.Popen(
                [self.root / "usr/sbin/smtpd", "-d", "-f", self.config],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=self.env(),
                cwd=self.workdir, start_new_session=True)
        self._wait_listening()
        return self

    def flush(self):
        self._run([self.root / "usr/sbin/smtpctl", "schedule", "all"])


class Sendmail(Mta):
    name = "sendmail"
    package = "sendmail-bin"

    binary = property(lambda self: self.root / "usr/libexec/sendmail/sendmail")
    config = property(lambda self: self.workdir / "sendmail.cf")

    def configure(self):
        _require_file(self.binary, "Sendmail (unpacked Debian package sendmail-bin)")
        cf_dir = PACKAGES_DIR / "sendmail-cf/usr/share/sendmail/cf"
        _require_file(cf_dir / "m4/cf.m4",
                      "Sendmail's m4 files (unpacked Debian package sendmail-cf)")
        m4 = shutil.which("m4")
        if m4 is None:
            raise HarnessError("m4 not found (it builds sendmail.cf): apt-get install m4")
        queue = self.workdir / "queue"
        queue.mkdir(parents=True, exist_ok=True)
        queue.chmod(0o700)
        timeouts = "".join(
            f"define(`confTO_{name}', `{CONNECT_TIMEOUT}s')dnl\n"
            for name in ("CONNECT", "ICONNECT", "INITIAL", "HELO", "MAIL", "RCPT", "DATAINIT",
                         "DATABLOCK", "DATAFINAL", "COMMAND"))
        (self.workdir / "sendmail.mc").write_text(f"""\
divert(-1)
# harness/mta.py: a Sendmail relaying by MX, quick retries, short queue lifetime
divert(0)dnl
include(`{cf_dir}/m4/cf.m4')dnl
OSTYPE(`linux')dnl
define(`confDOMAIN_NAME', `{self.hostname}')dnl
define(`QUEUE_DIR', `{queue}')dnl
define(`confPID_FILE', `{self.workdir}/sendmail.pid')dnl
define(`STATUS_FILE', `{self.workdir}/sendmail.st')dnl
define(`ALIAS_FILE', `')dnl
define(`confTO_QUEUEWARN', `{self.delay_warning}s')dnl
define(`confTO_QUEUERETURN', `{self.lifetime}s')dnl
define(`confMIN_QUEUE_AGE', `0')dnl
{timeouts}DAEMON_OPTIONS(`Port={self.port},Addr={self.address},Name=MTA')dnl
FEATURE(`promiscuous_relay')dnl
MAILER(`smtp')dnl
""")
        with open(self.config, "w") as config:
            # m4 warns on stderr that promiscuous_relay makes an open relay:
            # this one listens on the namespace's loopback only.
            subprocess.run([m4, self.workdir / "sendmail.mc"], stdout=config,
                           stderr=subprocess.DEVNULL, check=True)

    def start(self):
        self.configure()
        with open(self.log_file, "ab") as log:
            self.process = subprocess.Popen(
                [self.binary, "-C", self.config, "-bD", "-q1s", "-L", "sm-mta"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=self.env(),
                cwd=self.workdir, start_new_session=True)
        self._wait_listening()
        return self

    def flush(self):
        self._run([self.binary, "-C", self.config, "-q"])


MTAS = {cls.name: cls for cls in (Postfix, Exim, OpenSmtpd, Sendmail)}
