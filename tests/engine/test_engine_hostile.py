"""Hostile mail: the analyzer never raises, never stalls, and sets a message aside
when its time is up (issue 13). Timings are printed by ``bench/bench_hostile.py``;
these tests assert behaviour only."""

import json
import logging
import random
from email import message_from_bytes
from pathlib import Path

import pytest
from hostile_mail import HOSTILE_MESSAGES, VERP_TO

from civimail_addon.engine.bounce import analyze
from civimail_addon.engine.bounce.patterns import PatternSet
from civimail_addon.engine.bounce.seed_patterns import DEFAULT_PATTERNS
from civimail_addon.engine.verp import VerpCodec

CORPUS = Path(__file__).resolve().parents[1] / "data" / "bounces"
KINDS = {"bounce", "autoreply", "challenge", "complaint", "not_bounce", "unprocessable"}


@pytest.mark.parametrize("name", sorted(HOSTILE_MESSAGES))
def test_hostile_shapes_are_analysed(name):
    # 1 MB of each shape that once cost quadratic time: analysed within the
    # default per-message budget (a stalled analysis would be set aside instead).
    report = analyze(HOSTILE_MESSAGES[name](1024 * 1024))
    assert report.kind in KINDS - {"unprocessable"}, report.reason


def test_many_recipients_are_capped_and_still_read():
    report = analyze(HOSTILE_MESSAGES["5,000 recipients"](0))
    assert report.kind == "bounce"
    assert len(report.bounces) == 500
    assert {b.type for b in report.bounces} == {"invalid"}


def test_nested_comments_do_not_hide_the_verp_address():
    # getaddresses() recursed on nested comments and the RecursionError dropped
    # a real bounce; the token is now found by a linear scan of the header.
    codec = VerpCodec("return+", "example.org", ["s"])
    msg = message_from_bytes(f"To: {'(' * 5000}{VERP_TO}{')' * 5000}\n\nx".encode())
    [token] = codec.find_tokens(msg)
    assert (token.trace_id, token.digest) == (42, "0123456789abcdef")


def _mutations(raw: bytes, rng: random.Random):
    """A few hostile edits of one real bounce."""
    cut = rng.randrange(1, max(len(raw), 2))
    line_start = raw.rfind(b"\n", 0, cut) + 1
    yield raw[:cut]  # truncated anywhere, a MIME boundary included
    yield raw[:cut] + b"(" * 20000 + raw[cut:]
    yield raw[:line_start] + b"\n" * 20000 + raw[line_start:]
    yield raw[:cut] + bytes(rng.randrange(256) for _ in range(64)) + raw[cut:]
    yield raw.replace(b"\n", b"\n>>> RCPT TO:<a@b.example>\n<<< 550 ", 200)
    yield raw.replace(b"@", b"@" * 50)


def test_mutated_corpus_messages_never_raise():
    names = sorted(json.loads((CORPUS / "labels.json").read_text()))
    rng = random.Random(13)  # noqa: S311 - fixed seed: the same mutations on every run
    analysed = 0
    for name in rng.sample(names, 25):
        for mutated in _mutations((CORPUS / name).read_bytes(), rng):
            report = analyze(mutated)
            assert report.kind in KINDS - {"unprocessable"}, (name, report.reason)
            analysed += 1
    assert analysed == 25 * 6


def test_slow_manager_pattern_is_bounded_per_message_and_named():
    slow = r"(a|aa)+$"  # catastrophic backtracking on "aaaa...b"
    patterns = PatternSet([("spam", slow), *DEFAULT_PATTERNS], timeout=0.05)
    raw = (b"From: MAILER-DAEMON@mx.example.net\nTo: news@example.org\n"
           b"Subject: Undelivered Mail\nContent-Type: multipart/report; "
           b"report-type=delivery-status; boundary=b\n\n--b\nContent-Type: text/plain\n\n"
           b"failed\n--b\nContent-Type: message/delivery-status\n\n"
           + b"".join(b"Final-Recipient: rfc822; u%d@example.net\nAction: failed\n"
                      b"Status: 5.0.0\nDiagnostic-Code: smtp; 550 %s\n\n" % (n, b"a" * 40 + b"b")
                      for n in range(40))
           + b"--b--\n")
    report = analyze(raw, patterns=patterns)
    # 40 recipients, one timeout: the slow pattern is skipped for the rest of
    # the message, the defaults still classify, and the manager is told which.
    assert report.kind == "bounce" and len(report.bounces) == 40
    assert report.slow_patterns == [slow]


def test_message_over_its_budget_is_set_aside():
    report = analyze(HOSTILE_MESSAGES["5,000 recipients"](0), seconds=0)
    assert report.kind == "unprocessable"
    assert report.bounces == [] and "stopped" in report.reason


def test_library_tracebacks_stay_out_of_the_output(monkeypatch, capfd):
    # flufl.bounce logs a traceback when one of its detectors raises; a job that
    # ran fine must print nothing (system cron mails whatever is printed).
    from flufl.bounce._detectors.simplematch import SimpleMatch  # noqa: PLC0415

    def choke(_self, _msg):
        raise RuntimeError("detector choked")

    monkeypatch.setattr(SimpleMatch, "process", choke)
    raw = (b"From: MAILER-DAEMON@mx.example.net\nTo: news@example.org\n"
           b"Subject: Undelivered Mail\n\nYour message could not be delivered.\n")
    seen = []  # what the host's log (the root logger's handlers) would receive
    handler = logging.Handler()
    handler.emit = seen.append
    logging.getLogger().addHandler(handler)
    try:
        report = analyze(raw)
    finally:
        logging.getLogger().removeHandler(handler)
    assert report.kind == "bounce"
    assert capfd.readouterr() == ("", "")
    assert not [r for r in seen if r.name.startswith("flufl")]
