"""What the analysis of one message returns: a :class:`Report` naming its failed recipients."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..verp import VerpToken

MAX_DIAGNOSTIC = 500
#: Failed recipients reported for one message (a bounce names one, a few at most).
MAX_BOUNCES = 500


@dataclass
class BouncedRecipient:
    email: str
    type: str
    hard: bool
    status: str = ""
    diagnostic: str = ""
    verp: VerpToken | None = None

    def to_dict(self) -> dict:
        return {"email": self.email, "type": self.type, "hard": self.hard,
                "status": self.status, "diagnostic": self.diagnostic}


@dataclass
class Report:
    kind: str  # "bounce", "autoreply", "challenge", "complaint", "not_bounce", "unprocessable"
    reason: str
    bounces: list[BouncedRecipient] = field(default_factory=list)
    message_id: str = ""
    #: Who sent a challenge-response request (kind "challenge"): not bounces.
    challenges: list[BouncedRecipient] = field(default_factory=list)
    #: Bounce patterns that ran out of time on this message (named to the manager).
    slow_patterns: list[str] = field(default_factory=list)

    def to_dict(self, path: str | Path = "") -> dict:
        return {"file": str(path), "kind": self.kind,
                "bounces": [b.to_dict() for b in self.bounces]}


def one_line(text: str, limit: int = MAX_DIAGNOSTIC) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def render_table(reports: list[tuple[str, Report]], width: int = 60) -> str:
    """A fixed-width text table of ``(file, report)`` pairs for the command line."""
    rows = [("FILE", "KIND", "EMAIL", "TYPE", "HARD", "STATUS", "DIAGNOSTIC")]
    for path, report in reports:
        name = Path(str(path)).name
        if not report.bounces:
            rows.append((name, report.kind, "-", "-", "-", "-", one_line(report.reason, width)))
        for b in report.bounces:
            rows.append((name, report.kind, b.email or "-", b.type, "yes" if b.hard else "no",
                         b.status or "-", one_line(b.diagnostic, width) or "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    lines = []
    for row in rows:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines)
