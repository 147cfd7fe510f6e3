"""What every check returns: one ``CheckResult`` per finding."""

from __future__ import annotations

from dataclasses import dataclass, field

OK = "ok"
WARNING = "warning"
ERROR = "error"
UNKNOWN = "unknown"  # could not check (timeout, SERVFAIL, refused): never a failure
STATUSES = (OK, WARNING, ERROR, UNKNOWN)


@dataclass(frozen=True)
class CheckResult:
    check: str  # spf, dkim, dmarc, mx, reverse_dns, ip_blocklist, domain_blocklist
    subject: str  # the domain or IP address checked
    status: str  # one of STATUSES
    value: str  # what was found (a record, a name, a return code), "" if nothing
    message: str  # one plain English sentence: what this means
    fix: str  # one sentence: what to do ("" when nothing is needed)
    # The (message, fix) templates and their values, so a caller can render
    # the sentences again in another language.
    template: tuple[str, str] = field(default=("", ""), compare=False)
    params: dict = field(default_factory=dict, compare=False, hash=False)


def build(check, subject, status, value, template, **fields) -> CheckResult:
    """A result from a ``(message, fix)`` pair of format strings.

    Each check module keeps its pairs in one ``MESSAGES`` dict, so the Odoo
    side can translate the templates before the fields are filled in.
    """
    message, fix = template
    params = {"subject": subject, "value": value, **fields}
    return CheckResult(
        check=check,
        subject=subject,
        status=status,
        value=value,
        message=message.format(**params),
        fix=fix.format(**params),
        template=template,
        params=params,
    )
