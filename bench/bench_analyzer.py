"""The bounce analyzer and Sisimai side by side, on the same labelled messages.

Usage: ``.venv/bin/python bench/bench_analyzer.py [-v] [CORPUS_DIR ...]``

A corpus is a folder of ``.eml`` files with a ``labels.json`` (the format of
tests/data/bounces/README.md), or a folder of such folders (the generated
corpus: one per MTA), or a folder of ``.eml`` without labels (negatives: none
is a bounce). By default: the labelled real bounces (tests/data/bounces),
the generated corpus (tests/data/generated) and the negatives
(tests/data/negatives).

Sisimai (Debian's ``libsisimai-perl``, installed here when missing; bench
only, never a dependency of the addon) reads each message through
``Sisimai->make``; its reasons become the project's types with the table of
the corpus README, and its own ``softbounce`` flag (0 = hard) gives "hard".
For both tools a reported recipient counts as a bounce unless it reports a
delivery or a delay, as the labels define a bounce (Sisimai: reason
``delivered``, or action ``delayed``, ``delivered``, ``relayed``, ``expanded``
but for reason ``expired``: Sisimai writes "delayed" for mail given up on).

Scores, per corpus and tool:

* recipient found / type / hard: over the labelled failed recipients. Each
  label entry is paired with a reported bounce: the one with its address when
  the label names it (generated corpus), else an unused report of the same
  type, else the first unused one (labels without addresses). "Found" needs
  the pair's address to be the labelled one, or plausible (``a@b.c``) when the
  label names none.
* wrongly hard: reported hard for an address the labels do not call hard
  (including, when the labels name every failed recipient, a hard report
  left over once they are paired, and any hard report on a message that is
  not a bounce).
* missed hard: a hard label entry without a hard report.
* ordinary mail as bounce: messages labelled not-a-bounce with any bounce
  reported (in brackets: with a hard one); delay warnings (``Action: delayed``)
  are not counted here.
* delay warnings reported: delay DSNs the generated corpus labels no bounce
  (the real corpus labels them soft bounces, and the analyzer follows it),
  reported as a bounce (in brackets: a hard one, which would be wrong).
* messages/s: analysis time only (Sisimai timed inside Perl, without start-up).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
import conftest  # noqa: E402, F401 - registers civimail_addon without Odoo

from civimail_addon.engine.bounce import analyze  # noqa: E402

_PLAUSIBLE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
NOT_BOUNCE_ACTIONS = {"delayed", "delivered", "relayed", "expanded"}
# tests/data/bounces/README.md: Sisimai reason -> project type.
SISIMAI_TYPES = {
    "userunknown": "invalid", "hasmoved": "inactive", "suspend": "inactive",
    "hostunknown": "dns", "notaccept": "dns",
    "mailboxfull": "quota", "mesgtoobig": "quota", "exceedlimit": "quota", "systemfull": "quota",
    "expired": "host", "networkerror": "host", "systemerror": "host", "toomanyconn": "host",
    "speeding": "host", "mailererror": "host",
    "norelaying": "relay",
    "filtered": "spam", "spamdetected": "spam", "contenterror": "spam", "virusdetected": "spam",
    "policyviolation": "spam",
    "blocked": "blocked", "badreputation": "blocked", "requireptr": "blocked",
    "authfailure": "blocked", "rejected": "blocked", "securityerror": "blocked",
    "syntaxerror": "syntax", "notcompliantrfc": "syntax",
    "vacation": "away", "feedback": "complaint", "undefined": "unknown", "onhold": "unknown",
}
SISIMAI_SCRIPT = r"""
use strict; use warnings;
use Sisimai; use JSON::PP; use Time::HiRes qw(time);
binmode STDOUT, ':encoding(UTF-8)';
my $json = JSON::PP->new->canonical;
my $spent = 0;
while (my $path = <STDIN>) {
    chomp $path;
    my $started = time;
    my $found = eval { Sisimai->make($path, 'delivered' => 1, 'vacation' => 1) } || [];
    my @rows = map { {
        'email' => $_->recipient->address, 'reason' => $_->reason,
        'soft' => $_->softbounce, 'action' => $_->action // '',
    } } @$found;
    $spent += time - $started;
    print $json->encode({'file' => $path, 'results' => \@rows}), "\n";
}
print $json->encode({'seconds' => $spent}), "\n";
"""


@dataclass
class Reported:
    email: str
    type: str
    hard: bool


@dataclass
class Score:
    messages: int = 0
    entries: int = 0
    found: int = 0
    same_type: int = 0
    same_hard: int = 0
    wrongly_hard: int = 0
    missed_hard: int = 0
    not_bounce: int = 0
    false_bounce: int = 0
    false_hard: int = 0
    delays: int = 0
    delays_reported: int = 0
    delays_hard: int = 0
    seconds: float = 0.0
    misses: list = field(default_factory=list)

    def row(self, corpus, tool):
        entries = self.entries or 1
        rate = self.messages / self.seconds if self.seconds else 0.0
        return (f"| {corpus} | {tool} | {self.messages} | {self.found / entries:.1%} | "
                f"{self.same_type / entries:.1%} | {self.same_hard / entries:.1%} | "
                f"{self.wrongly_hard} | {self.missed_hard} | "
                f"{self.false_bounce} of {self.not_bounce} ({self.false_hard} hard) | "
                f"{self.delays_reported} of {self.delays} ({self.delays_hard} hard) | "
                f"{rate:,.0f} |")


def load_corpus(folder: Path) -> dict[Path, dict]:
    """{message path: label} of a corpus folder (see the module's docstring)."""
    if (folder / "labels.json").is_file():
        labels = json.loads((folder / "labels.json").read_text())
        return {folder / name: label for name, label in sorted(labels.items())}
    subfolders = [sub for sub in sorted(folder.iterdir()) if (sub / "labels.json").is_file()]
    if subfolders:
        return {path: label for sub in subfolders for path, label in load_corpus(sub).items()}
    return {path: {"bounce": False, "expect": []} for path in sorted(folder.glob("*.eml"))}


def run_ours(paths):
    reports, started = {}, time.perf_counter()
    for path in paths:
        report = analyze(path.read_bytes())
        reports[path] = [Reported(b.email, b.type, b.hard) for b in report.bounces]
    return reports, time.perf_counter() - started


def ensure_sisimai():
    found = subprocess.run(["perl", "-MSisimai", "-e1"], capture_output=True, check=False)
    if found.returncode == 0:
        return
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    print("installing Debian's libsisimai-perl for the comparison (bench only)", file=sys.stderr)
    subprocess.run([*sudo, "apt-get", "install", "-y", "-q", "libsisimai-perl"], check=True,
                   stdout=subprocess.DEVNULL, env={"DEBIAN_FRONTEND": "noninteractive",
                                                   "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})


def run_sisimai(paths):
    result = subprocess.run(["perl", "-e", SISIMAI_SCRIPT],
                            input="\n".join(map(str, paths)) + "\n",
                            capture_output=True, text=True, check=True)
    reports, seconds = {}, 0.0
    for line in result.stdout.splitlines():
        row = json.loads(line)
        if "seconds" in row:
            seconds = row["seconds"]
            continue
        reports[Path(row["file"])] = [
            Reported(r["email"], SISIMAI_TYPES.get(r["reason"], "unknown"), r["soft"] == 0)
            for r in row["results"]
            if r["reason"] != "delivered" and (r["action"].lower() not in NOT_BOUNCE_ACTIONS
                                               or r["reason"] == "expired")
        ]
    return reports, seconds


def score(labels: dict[Path, dict], reports: dict[Path, list], seconds: float) -> Score:
    result = Score(messages=len(labels), seconds=seconds)
    for path, label in labels.items():
        unused = list(reports.get(path, []))
        if not label["bounce"] and label.get("action") == "delayed":
            # A delay warning: the labelled real corpus counts it a soft bounce,
            # the generated one no bounce. Counted apart; never hard.
            result.delays += 1
            result.delays_reported += bool(unused)
            result.delays_hard += any(b.hard for b in unused)
            result.wrongly_hard += sum(b.hard for b in unused)
            continue
        if not label["bounce"]:
            result.not_bounce += 1
            result.false_bounce += bool(unused)
            result.false_hard += any(b.hard for b in unused)
            result.wrongly_hard += sum(b.hard for b in unused)
            if unused:
                result.misses.append(f"{path}: not a bounce, reported "
                                     + ", ".join(f"{b.email} {b.type}/{b.hard}" for b in unused))
            continue
        for expect in label["expect"]:
            result.entries += 1
            address = (expect.get("recipient") or "").lower()
            if address:
                pair = next((b for b in unused if b.email.lower() == address), None)
            else:
                pair = next((b for b in unused if b.type == expect["type"]), None)
                pair = pair or (unused[0] if unused else None)
            if pair is None:
                result.missed_hard += expect["hard"]
                result.misses.append(f"{path}: no bounce for {address or 'an entry'}, "
                                     f"expected {expect['type']}/{expect['hard']}")
                continue
            unused.remove(pair)
            result.found += bool(_PLAUSIBLE.match(pair.email)) if not address else 1
            result.same_type += pair.type == expect["type"]
            result.same_hard += pair.hard == expect["hard"]
            result.wrongly_hard += pair.hard and not expect["hard"]
            result.missed_hard += expect["hard"] and not pair.hard
            if pair.type != expect["type"] or pair.hard != expect["hard"]:
                result.misses.append(f"{path}: expected {expect['type']}/{expect['hard']}, "
                                     f"got {pair.type}/{pair.hard} {pair.email}")
        if all(expect.get("recipient") for expect in label["expect"]):
            # Labels naming every failed recipient: a report left over names
            # an address that did not fail (a Cc, a list address...).
            result.wrongly_hard += sum(b.hard for b in unused)
            result.misses += [f"{path}: extra report {b.email} {b.type}/{b.hard}" for b in unused]
    return result


def default_corpora():
    return [(name, ROOT / "tests/data" / folder) for name, folder in
            (("shared", "bounces"), ("generated", "generated"), ("negatives", "negatives"))]


def main(argv=None) -> int:
    args = sys.argv[1:] if argv is None else argv
    verbose = "-v" in args
    folders = [Path(a) for a in args if a != "-v"]
    corpora = [(f.name, f) for f in folders] if folders else default_corpora()
    ensure_sisimai()
    print("| corpus | tool | messages | recipient found | type | hard | wrongly hard "
          "| missed hard | ordinary mail as bounce | delay warnings reported | messages/s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, folder in corpora:
        labels = load_corpus(folder)
        paths = list(labels)
        ours = score(labels, *run_ours(paths))
        theirs = score(labels, *run_sisimai(paths))
        print(ours.row(name, "civimail_addon"))
        print(theirs.row(name, "Sisimai 4.25"))
        if verbose:
            print("\n".join(f"  ours: {miss}" for miss in ours.misses))
            print("\n".join(f"  Sisimai: {miss}" for miss in theirs.misses))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
