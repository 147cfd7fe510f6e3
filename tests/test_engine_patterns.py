"""Bounce patterns: validation, timeouts, coverage of every type."""

import time

import pytest

from civimail_addon.engine.patterns import (
    DEFAULT_PATTERNS,
    TYPE_CODES,
    PatternError,
    PatternSet,
    compile_pattern,
)


def test_bad_regex_is_refused_by_name():
    with pytest.raises(PatternError) as caught:
        PatternSet([("invalid", "user (unknown")])
    assert "user (unknown" in str(caught.value)
    with pytest.raises(PatternError):
        compile_pattern("")


def test_catastrophic_pattern_times_out():
    patterns = PatternSet([("spam", r"(a+)+$"), ("quota", r"mailbox full")], timeout=0.05,
                          max_text=100_000)
    started = time.perf_counter()
    result = patterns.match("a" * 50_000 + "b mailbox full")
    assert time.perf_counter() - started < 1.0
    assert result == ("quota", "mailbox full")
    assert patterns.timed_out == [r"(a+)+$"]


def test_default_codes_are_project_codes():
    assert {code for code, _source in DEFAULT_PATTERNS} <= set(TYPE_CODES)
    assert "complaint" not in {code for code, _source in DEFAULT_PATTERNS}
    PatternSet(DEFAULT_PATTERNS)  # every default compiles


@pytest.mark.parametrize(("line", "expected"), [
    ("550 5.1.1 <jane@example.org>: Recipient address rejected: User unknown in virtual "
     "mailbox table", "invalid"),
    ("550 5.2.1 The email account that you tried to reach is disabled.", "inactive"),
    ("Host or domain name not found. Name service error for name=example.invalid", "dns"),
    ("connect to mx.example.org[192.0.2.1]:25: Connection timed out", "host"),
    ("554 5.7.1 <jane@example.org>: Relay access denied", "relay"),
    ("552 5.2.2 Mailbox full: quota exceeded", "quota"),
    ("554 5.7.1 Message rejected because it looks like SPAM", "spam"),
    ("550 5.7.1 Service unavailable; client host [192.0.2.9] blocked using zen.spamhaus.org",
     "blocked"),
    ("550 5.7.26 This message does not pass authentication checks (SPF and DKIM both fail)",
     "blocked"),
    ("500 5.5.2 Syntax error, command unrecognized", "syntax"),
    ("554 5.4.6 Hop count exceeded - possible mail loop", "loop"),
    ("I am on vacation until Monday and will reply when I return.", "away"),
    ("The mail server could not tell us anything useful", None),
])
def test_realistic_lines(line, expected):
    assert PatternSet().classify(line) == expected


def test_text_is_bounded():
    patterns = PatternSet([("quota", "mailbox full")], max_text=100)
    assert patterns.classify("x" * 200 + "mailbox full") is None
