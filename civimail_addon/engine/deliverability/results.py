"""What every check returns: one ``CheckResult`` per finding.

The engine's sentences are written once, in the ``MESSAGES`` dict of each
check module, each template wrapped in ``_lt``.  ``_lt`` does nothing here
(the engine never imports Odoo and speaks English); it is the name Odoo's
translation export looks for in every ``.py`` file of the module, so the
templates land in the module's ``.pot``/``fr.po`` as they are.  A result
keeps its template key and placeholder values, and the Odoo side renders
the translated template in the reader's language.
"""

from __future__ import annotations

from dataclasses import dataclass, field

OK = "ok"
WARNING = "warning"
ERROR = "error"
UNKNOWN = "unknown"  # could not check (timeout, SERVFAIL, refused): never a failure
STATUSES = (OK, WARNING, ERROR, UNKNOWN)

#: Placeholders whose value may be one of the engine's own ``_lt`` phrases
#: (a DNS failure, a DKIM problem, a blocklist refusal, a DMARC action);
#: every other placeholder holds data (names, addresses, records).
PHRASE_PARAMS = ("action", "meaning", "problem")


def _lt(text):
    """Mark ``text`` for Odoo's translation export; the engine keeps it as is."""
    return text


@dataclass(frozen=True)
class CheckResult:
    check: str  # spf, dkim, dmarc, mx, reverse_dns, ip_blocklist, domain_blocklist, sending_ip
    subject: str  # the domain or IP address checked
    status: str  # one of STATUSES
    value: str  # what was found (a record, a name, a return code), "" if nothing
    message: str  # one plain English sentence: what this means
    fix: str  # one sentence: what to do ("" when nothing is needed)
    # The key of the check module's MESSAGES template and the values of its
    # placeholders, so a caller can render the sentences in another language.
    key: str = field(default="", compare=False)
    params: dict = field(default_factory=dict, compare=False, hash=False)


def build(check, subject, status, value, key, *, messages, **fields) -> CheckResult:
    """A result from the ``(message, fix)`` templates ``messages[key]``."""
    message, fix = messages[key]
    params = {"subject": subject, "value": value, **fields}
    return CheckResult(
        check=check,
        subject=subject,
        status=status,
        value=value,
        message=message.format(**params),
        fix=fix.format(**params),
        key=key,
        params=params,
    )
