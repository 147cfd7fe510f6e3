"""The analyzer on mail written for this project (``tools/gen_test_mail.py``):
what else reaches a bounce mailbox, and bounces of many MTAs, one or more for
each kind of error of issue 13."""

import json
from pathlib import Path

import pytest

from civimail_addon.engine.bounce import analyze
from civimail_addon.engine.bounce.classify import find_reply, find_status

DATA = Path(__file__).resolve().parents[1] / "data"
NEGATIVES = json.loads((DATA / "negatives" / "labels.json").read_text())
WRITTEN = json.loads((DATA / "written" / "labels.json").read_text())


def _report(folder, name):
    return analyze((DATA / folder / name).read_bytes())


def test_the_negatives_cover_what_lands_in_a_bounce_mailbox():
    kinds = {label["kind"] for label in NEGATIVES.values()}
    assert len(NEGATIVES) >= 80 and kinds == {"not_bounce", "autoreply", "challenge", "delay"}


@pytest.mark.parametrize("name", sorted(n for n, label in NEGATIVES.items()
                                        if label["kind"] == "not_bounce"))
def test_ordinary_mail_is_no_bounce(name):
    report = _report("negatives", name)
    assert (report.kind, report.bounces) == ("not_bounce", []), report.reason


@pytest.mark.parametrize("name", sorted(n for n, label in NEGATIVES.items()
                                        if label["kind"] == "autoreply"))
def test_auto_replies_are_away(name):
    report = _report("negatives", name)
    assert report.kind == "autoreply"
    assert [(b.type, b.hard) for b in report.bounces] == [("away", False)]


@pytest.mark.parametrize("name", sorted(n for n, label in NEGATIVES.items()
                                        if label["kind"] == "challenge"))
def test_challenge_response_is_its_own_kind(name):
    # Never a bounce, never a hold: the sender is named apart, for the managers.
    report = _report("negatives", name)
    assert (report.kind, report.bounces) == ("challenge", [])
    assert [c.type for c in report.challenges] == ["challenge"]


@pytest.mark.parametrize("name", sorted(n for n, label in NEGATIVES.items()
                                        if label["kind"] == "delay"))
def test_delays_are_never_hard(name):
    report = _report("negatives", name)
    assert report.kind in ("bounce", "not_bounce")
    assert not [b for b in report.bounces if b.hard], report.bounces


@pytest.mark.parametrize("name", sorted(n for n, label in NEGATIVES.items()
                                        if label.get("prose_codes")))
def test_no_status_code_is_taken_from_prose(name):
    report = _report("negatives", name)
    assert not [b.status for b in report.bounces if b.status]


@pytest.mark.parametrize("prose", [
    "The attachment is fine: RFC 2046, 5.1.5, but is not illegal either.",
    "We had 550 members at the meeting and 421 stayed for dinner.",
    "Version 4.4.7 fixes a bug where a message could not be delivered twice.",
])
def test_codes_in_a_sentence_are_no_reply(prose):
    assert (find_status(prose), find_reply(prose)) == ("", "")


@pytest.mark.parametrize("reply, status", [
    ("host mx.example.com[192.0.2.1] said: 550 5.1.1 <a@b.example>: User unknown", "5.1.1"),
    ("Remote Server returned '550 5.4.1 Recipient address rejected: Access denied'", "5.4.1"),
    ("            <ex2003.example.com #5.1.1>", "5.1.1"),
    ("<<< 552 5.2.2 Mailbox full", "5.2.2"),
    ("The error that the other server returned was: 554 554 5.7.0 Header error", "5.7.0"),
])
def test_codes_in_reply_lines_are_read(reply, status):
    assert find_status(reply) == status


@pytest.mark.parametrize("name", sorted(WRITTEN))
def test_written_bounce(name):
    expect = WRITTEN[name]
    report = _report("written", name)
    assert report.kind == "bounce", report.reason
    assert [(b.email, b.type, b.hard, b.status) for b in report.bounces] == [
        (expect["email"], expect["type"], expect["hard"], expect["status"])]


def test_every_kind_of_error_has_written_bounces():
    assert {label["issue_kind"] for label in WRITTEN.values()} == {1, 2, 3, 6, 7}
