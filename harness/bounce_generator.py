"""Bounces written by real MTAs, with a ground truth nobody labelled by hand.

Each entry of ``tests/data/mta_catalogue.json`` (a refusal as a provider
publishes it, or a DNS or network failure) becomes one message that each MTA
(``harness.mta``: Postfix, Exim, OpenSMTPD, Sendmail) relays to a loopback "remote MX"
replaying that refusal; the DSN the MTA writes back to the sender is kept with
the recipient, type and hard flag the entry means.

Everything runs in private network, mount and host name namespaces
(``unshare``, as root): its own loopback, where every server listens on port 25 of an address
of its own and NSD answers on 127.0.0.1:53 for the zone ``test.``, which the
namespace's /etc/resolv.conf names, so the MTAs resolve MX records for real:

* ``origin.test``: the senders' domain, ``<mta>+<entry>@origin.test``; its MX
  is a recording SMTP sink (the bounce mailbox) that keeps every DSN;
* ``<entry>.test``, one domain per entry: its MX (an address of its own) is
  an SMTP sink refusing the recipient at the stage and with the reply of the
  entry (``harness.smtp_sink`` rules), or greeting with the refusal (connection
  time); or the domain does not exist, has no MX nor address, a null MX
  (RFC 7505), an MX refusing connections, or an MX that never answers.

Soft failures are retried every second until the MTAs' short queue lifetime
expires; on the way they send delay warnings (``Action: delayed``), which are
kept too, as are the success DSNs of ``NOTIFY=SUCCESS``.

Usage (root): ``.venv/bin/python -m harness.bounce_generator --out DIR
[--mta postfix,exim,opensmtpd] [--only ID,ID]``. DIR gets ``<mta>/*.eml`` and
``<mta>/labels.json`` in the format of the bounce corpus (tests/data/bounces),
each label also naming its ``recipient``, ``catalogue`` entry, ``mta`` and the
DSN's ``action``.
"""

import argparse
import email
import email.policy
import json
import os
import re
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from email.message import EmailMessage
from pathlib import Path

from harness import HarnessError, remove_tree
from harness.dns_server import DnsServer
from harness.mta import MTAS
from harness.smtp_sink import SmtpSink, reply_text

REPO_ROOT = Path(__file__).resolve().parent.parent
CATALOGUE = REPO_ROOT / "tests" / "data" / "mta_catalogue.json"
IN_NAMESPACE = "CIVIMAIL_BOUNCE_NAMESPACE"

SENDER_DOMAIN = "origin.test"
# The relays' own domain, apart from the senders' one: Sendmail looks hosts of
# its own domain up by their short name too, which a real resolver answers
# and NSD (authoritative for test. only) refuses.
RELAY_DOMAIN = "relay.test"
NAMESPACE_HOST = f"host.{RELAY_DOMAIN}"
# The sending MTA's address as the remote's texts name it (TEST-NET-1).
SENDER_IP_TEXT = "192.0.2.25"
MTA_ADDRESSES = {"postfix": "127.0.0.2", "exim": "127.0.0.3", "opensmtpd": "127.0.0.4",
                 "sendmail": "127.0.0.5"}
MAILBOX_MX = "127.0.0.20"
SILENT_MX = "127.0.0.30"
CLOSED_MX = "127.0.0.31"  # nothing listens there
FINAL_ACTIONS = {"failed", "delivered", "relayed", "expanded"}
_ENHANCED = re.compile(r"\b([245]\.\d{1,3}\.\d{1,3})\b")


def load_catalogue(path=CATALOGUE):
    return json.loads(Path(path).read_text())["entries"]


def recipient_of(entry):
    """The address each entry's message is sent to: a domain of its own."""
    return f"{entry['id']}@{entry['id']}.test"


def _replays(entry):
    """True when the replaying sink answers for this entry."""
    return entry["stage"] in ("mail", "rcpt", "data", "success")


def colleague_of(entry):
    """A valid address at the recipient's domain, copied on entries with
    ``"cc": true``: the MX accepts it, so the DSN must name the other one only,
    though the returned message's To and Cc name both."""
    return f"colleague@{recipient_of(entry).split('@')[1]}" if entry.get("cc") else None


def enhanced_status(entry):
    match = _ENHANCED.search(entry["lines"][0]) if entry["lines"] else None
    return match.group(1) if match else ""


def reply_of(entry):
    """The reply the remote MX sends for ``entry``, placeholders filled."""
    rcpt = recipient_of(entry)
    values = {"{ip}": SENDER_IP_TEXT, "{rcpt}": rcpt, "{rcpt_domain}": rcpt.split("@")[1],
              "{domain}": SENDER_DOMAIN}
    text = "\n".join(entry["lines"])
    for key, value in values.items():
        text = text.replace(key, value)
    return text


def zone_text(entries):
    """The zone ``test.``: the senders' domain and a domain per entry, whose MX
    has an address of its own (one slow or refusing MX never holds back the
    others: MTAs queue and pace mail per destination)."""
    records = [
        "ns1 A 127.0.0.1", f"{NAMESPACE_HOST.removesuffix('.test')} A 127.0.0.1",
        "origin MX 10 mx.origin", f"mx.origin A {MAILBOX_MX}",
        f"mx.silent A {SILENT_MX}", f"mx.closed A {CLOSED_MX}",
    ]
    relay = RELAY_DOMAIN.removesuffix(".test")
    records += [f"mta-{name}.{relay} A {address}" for name, address in MTA_ADDRESSES.items()]
    for number, entry in enumerate(entries, start=1):
        domain = entry["id"]
        if entry["stage"] == "connect":
            records += [f"{domain} MX 10 mx.{domain}", f"mx.{domain} A 127.0.1.{number}"]
        elif _replays(entry):
            records += [f"{domain} MX 10 mx.{domain}", f"mx.{domain} A 127.0.2.{number}"]
        elif domain == "nomx":
            records.append(f'{domain} TXT "no mail here"')
        elif domain == "nullmx":
            records.append(f"{domain} MX 0 .")
        elif domain == "refused":
            records.append(f"{domain} MX 10 mx.closed")
        elif domain == "timeout":
            records.append(f"{domain} MX 10 mx.silent")
        # nxdomain: no record at all
    return "\n".join(records) + "\n"


def _message(mta, entry):
    message = EmailMessage()
    message["From"] = f"CiviMail test <{mta}+{entry['id']}@{SENDER_DOMAIN}>"
    message["To"] = recipient_of(entry)
    if colleague_of(entry):
        message["Cc"] = colleague_of(entry)
    message["Subject"] = f"Newsletter ({entry['id']})"
    message["Message-ID"] = f"<{mta}.{entry['id']}@{SENDER_DOMAIN}>"
    message["Date"] = email.utils.formatdate()
    message.set_content("Hello,\n\nthis is this month's newsletter.\n")
    return message.as_bytes(policy=email.policy.SMTP)


def _dsn_outcome(data):
    """What a DSN reports, from its per-recipient groups (RFC 3464): "failed",
    "delayed", "delivered", "relayed", "expanded", or "" for no report.

    OpenSMTPD 6.8 reports a message it gave up on (queue lifetime over) as
    ``Action: delayed`` with ``Status: 4.4.7`` (delivery time expired): the
    recipient never gets it, so that counts as failed.
    """
    parsed = email.message_from_bytes(data, policy=email.policy.compat32)
    outcomes = []
    for part in parsed.walk():
        if part.get_content_type() == "message/delivery-status":
            for group in part.get_payload() or ():
                # Sendmail: "relayed (to non-DSN-aware mailer)".
                action = " ".join((group.get("Action") or "").lower().split()[:1])
                if action == "delayed" and (group.get("Status") or "").strip()[1:] == ".4.7":
                    action = "failed"
                if action:
                    outcomes.append(action)
    return next((a for a in outcomes if a in FINAL_ACTIONS), outcomes[0] if outcomes else "")


# -- inside the namespace ---------------------------------------------------------


def _prepare_namespace(workdir):
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    # A host name the namespace's DNS knows: Sendmail sleeps a minute on one it
    # cannot qualify.
    socket.sethostname(NAMESPACE_HOST)
    # Postfix listens only on an address an interface has.
    for address in MTA_ADDRESSES.values():
        subprocess.run(["ip", "addr", "add", f"{address}/32", "dev", "lo"], check=True)
    # OpenSMTPD's spool and control socket paths are compiled in.
    for folder in ("/run", "/var/spool"):
        subprocess.run(["mount", "-t", "tmpfs", "tmpfs", folder], check=True)
    resolv = os.path.realpath("/etc/resolv.conf")
    content = "nameserver 127.0.0.1\noptions attempts:1 timeout:1\n"
    if resolv.startswith("/run/"):
        os.makedirs(os.path.dirname(resolv), exist_ok=True)
        Path(resolv).write_text(content)
    else:
        ours = Path(workdir) / "resolv.conf"
        ours.write_text(content)
        subprocess.run(["mount", "--bind", str(ours), resolv], check=True)


def _collect(mailbox, out_dir, entries, mtas):
    """Write each DSN of the bounce mailbox as ``<out>/<mta>/<entry>[.action].eml``."""
    by_id = {entry["id"]: entry for entry in entries}
    labels = {mta: {} for mta in mtas}
    for message in mailbox.messages():
        local = message.rcpt_tos[0].split("@")[0]
        mta, _, entry_id = local.partition("+")
        entry = by_id.get(entry_id)
        if mta not in labels or entry is None:
            continue
        action = _dsn_outcome(message.data)
        final = action in FINAL_ACTIONS
        name = f"{entry_id}.eml" if final else f"{entry_id}.{action or 'other'}.eml"
        if name in labels[mta]:
            continue  # a second delay warning says nothing new
        data = message.data.replace(b"\r\n", b"\n")
        folder = Path(out_dir) / mta
        folder.mkdir(parents=True, exist_ok=True)
        sender = message.mail_from.strip("<>")
        (folder / name).write_bytes(f"Return-Path: <{sender}>\n".encode() + data)
        label = {"bounce": action == "failed", "expect": [], "recipient": recipient_of(entry),
                 "catalogue": entry_id, "mta": mta, "action": action}
        if action == "failed":
            type_, hard = entry["type"], entry["hard"]
            if _expired_without_cause(message.data, entry):
                type_, hard = "host", False
                label["note"] = "queue lifetime expired; the DSN does not say why"
            label["expect"].append({
                "type": type_, "hard": hard, "status": enhanced_status(entry),
                "reply": str(entry["code"] or ""), "recipient": recipient_of(entry),
            })
        labels[mta][name] = label
    for mta, mta_labels in labels.items():
        folder = Path(out_dir) / mta
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "labels.json").write_text(json.dumps(dict(sorted(mta_labels.items())),
                                                       indent=1, sort_keys=True) + "\n")
    return labels


def _expired_without_cause(data, entry):
    """True for a DSN of mail given up on (status X.4.7, RFC 3463) that quotes
    neither the remote's reply nor any other cause: nobody can tell more from
    it than "expired" (type host)."""
    parsed = email.message_from_bytes(data, policy=email.policy.compat32)
    statuses = [group.get("Status", "").strip()
                for part in parsed.walk() if part.get_content_type() == "message/delivery-status"
                for group in part.get_payload() or ()]
    if not any(status[1:] == ".4.7" for status in statuses):
        return False
    if not entry["lines"]:
        return True
    words = " ".join(data.decode("ascii", "replace").split())
    return " ".join(reply_of(entry).split("\n")[0].split()[1:4]) not in words


def _played_by(mta, entries):
    return [entry for entry in entries if entry["id"] not in MTAS[mta].skips]


def _finished(mailbox, entries, mtas):
    """The ``<mta>+<entry>`` senders still waiting for their final DSN."""
    done = set()
    for message in mailbox.messages():
        if _dsn_outcome(message.data) in FINAL_ACTIONS:
            done.add(message.rcpt_tos[0].split("@")[0])
    expected = {f"{mta}+{entry['id']}" for mta in mtas for entry in _played_by(mta, entries)}
    return expected - done


def generate_here(entries, mtas, out_dir, workdir, *, lifetime, timeout):
    """Run servers and MTAs in the current (private) namespace; write the DSNs."""
    _prepare_namespace(workdir)
    workdir = Path(workdir)
    with ExitStack() as stack:
        dns = DnsServer(zones={"test": zone_text(entries)}, workdir=workdir / "nsd")
        dns.port = 53
        stack.enter_context(dns)
        mailbox = stack.enter_context(SmtpSink(host=MAILBOX_MX, port=25))
        replay_hosts = [f"127.0.2.{n}" for n, e in enumerate(entries, start=1) if _replays(e)]
        replay = stack.enter_context(SmtpSink(host=",".join(replay_hosts) or "127.0.2.1", port=25))
        stack.enter_context(SmtpSink(host=SILENT_MX, port=25, silent=True))
        for number, entry in enumerate(entries, start=1):
            if entry["stage"] == "connect":
                stack.enter_context(SmtpSink(host=f"127.0.1.{number}", port=25,
                                             greeting=reply_text(entry["code"], reply_of(entry))))
            elif entry["stage"] == "mail":
                replay.reject(f"*+{entry['id']}@{SENDER_DOMAIN}", entry["code"], reply_of(entry),
                              stage="mail")
            elif entry["stage"] in ("rcpt", "data") and entry["code"]:
                replay.reject(recipient_of(entry), entry["code"], reply_of(entry),
                              stage=entry["stage"])
            elif entry["id"] == "dropped":
                replay.drop_connection_on(recipient_of(entry), stage="rcpt")
        servers = []
        for name in mtas:
            server = MTAS[name](workdir / name, MTA_ADDRESSES[name],
                                f"mta-{name}.{RELAY_DOMAIN}", lifetime=lifetime)
            servers.append(stack.enter_context(server))
        for server in servers:
            with smtplib.SMTP(server.address, 25, local_hostname=f"client.{SENDER_DOMAIN}",
                              timeout=30) as client:
                for entry in _played_by(server.name, entries):
                    notify = ["NOTIFY=SUCCESS,FAILURE,DELAY"] if entry["stage"] == "success" else []
                    client.sendmail(f"{server.name}+{entry['id']}@{SENDER_DOMAIN}",
                                    [recipient_of(entry), *filter(None, [colleague_of(entry)])],
                                    _message(server.name, entry),
                                    rcpt_options=notify)
        deadline = time.monotonic() + timeout
        while (missing := _finished(mailbox, entries, mtas)) and time.monotonic() < deadline:
            time.sleep(1)
            for server in servers:
                server.flush()
        labels = _collect(mailbox, out_dir, entries, mtas)
        if missing:
            raise HarnessError(f"no final DSN within {timeout}s for: {', '.join(sorted(missing))}"
                               f" (MTA logs under {workdir})")
    return labels


# -- entry point --------------------------------------------------------------------


def generate(out_dir, mtas=tuple(MTAS), *, only=None, lifetime=12, timeout=90,
             keep_workdir=False):
    """Run the generator in a private namespace (re-executing this module)."""
    if os.geteuid() != 0:
        raise HarnessError("the bounce generator runs MTAs in a private network namespace "
                           "and needs root (unshare --net --mount)")
    workdir = Path(tempfile.mkdtemp(prefix="civimail-mta-"))
    workdir.chmod(0o755)  # the MTAs' unprivileged users reach their folders in it
    command = ["unshare", "--net", "--mount", "--uts", "--fork", "--", sys.executable, "-m",
               "harness.bounce_generator", "--out", str(out_dir), "--mta", ",".join(mtas),
               "--workdir", str(workdir), "--lifetime", str(lifetime), "--timeout", str(timeout)]
    if only:
        command += ["--only", ",".join(only)]
    python_path = [str(REPO_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, IN_NAMESPACE: "1", "PYTHONPATH": os.pathsep.join(python_path)}
    try:
        result = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                                timeout=timeout + 60, check=False)
        if result.returncode:
            raise HarnessError(f"bounce generator failed ({result.returncode}):\n"
                               f"{result.stderr.strip()[-4000:]}")
    finally:
        if not keep_workdir:
            remove_tree(workdir)
    return {mta: json.loads((Path(out_dir) / mta / "labels.json").read_text()) for mta in mtas}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="folder for <mta>/*.eml and labels.json")
    parser.add_argument("--mta", default=",".join(MTAS), help="comma-separated: " + ", ".join(MTAS))
    parser.add_argument("--only", help="comma-separated catalogue ids (default: all)")
    parser.add_argument("--lifetime", type=int, default=12, help="queue lifetime, seconds")
    parser.add_argument("--timeout", type=int, default=90, help="give up after, seconds")
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    parser.add_argument("--keep-workdir", action="store_true", help="keep MTA logs and spools")
    args = parser.parse_args(argv)
    mtas = [name for name in args.mta.split(",") if name]
    unknown = set(mtas) - set(MTAS)
    if unknown:
        parser.error(f"unknown MTA(s): {', '.join(sorted(unknown))}")
    entries = load_catalogue()
    if args.only:
        wanted = set(args.only.split(","))
        entries = [entry for entry in entries if entry["id"] in wanted]
        if len(entries) != len(wanted):
            parser.error("unknown catalogue id(s): "
                         + ", ".join(sorted(wanted - {e["id"] for e in entries})))
    if os.environ.get(IN_NAMESPACE) != "1":
        labels = generate(Path(args.out).resolve(), mtas,
                          only=args.only and args.only.split(","), lifetime=args.lifetime,
                          timeout=args.timeout, keep_workdir=args.keep_workdir)
        for mta, mta_labels in labels.items():
            sys.stdout.write(f"{mta}: {len(mta_labels)} DSN(s) in {Path(args.out) / mta}\n")
        return 0
    try:
        generate_here(entries, mtas, args.out, args.workdir, lifetime=args.lifetime,
                      timeout=args.timeout)
    except HarnessError as error:
        sys.stderr.write(f"{error}\n")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
