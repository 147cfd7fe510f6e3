"""Bounce-reason patterns: the bounce types, and the matcher of their wording.

A :class:`PatternSet` compiles ``(type_code, regex)`` pairs with the ``regex``
module and matches them with a per-pattern timeout on bounded text, so an
administrator's badly written pattern can neither crash nor stall the analyzer.
The default set is CiviCRM's seed (:mod:`.seed_patterns`).
"""

from __future__ import annotations

from collections.abc import Iterable

import regex

from . import budget
from .seed_patterns import DEFAULT_PATTERNS

TYPE_CODES = (
    "invalid", "inactive", "dns", "host", "relay", "quota", "spam",
    "blocked", "syntax", "loop", "away", "complaint", "unknown", "challenge",
)

#: Bounce types that mean the address itself is dead (see the corpus README).
HARD_TYPES = frozenset({"invalid", "dns"})

MAX_TEXT = 8192  # characters of text a pattern ever sees
TIMEOUT = 0.05  # seconds per pattern and text



class PatternError(ValueError):
    """A bounce pattern is not a valid regular expression."""

    def __init__(self, source: str, detail: str):
        super().__init__(f"invalid bounce pattern {source!r}: {detail}")
        self.source = source
        self.detail = detail


class PatternSet:
    """Ordered, compiled bounce patterns; the first match gives the type."""

    def __init__(
        self,
        patterns: Iterable[tuple[str, str]] | None = None,
        timeout: float = TIMEOUT,
        max_text: int = MAX_TEXT,
    ):
        self.timeout = timeout
        self.max_text = max_text
        self.timed_out: list[str] = []  # sources that hit the timeout, for the admin
        self._compiled: list[tuple[str, str, regex.Pattern]] = []
        for type_code, source in DEFAULT_PATTERNS if patterns is None else patterns:
            self._compiled.append((type_code, source, compile_pattern(source)))

    def __len__(self) -> int:
        return len(self._compiled)

    def match(self, text: str) -> tuple[str, str] | None:
        """Return ``(type_code, matched text)`` of the first matching pattern.

        Each search is bounded by the pattern timeout and by what is left of
        the message's budget (:mod:`.budget`); a pattern that runs out of time
        counts as no match, is named in the budget and in :attr:`timed_out`,
        and is skipped for the rest of the message, so a slow pattern costs
        one timeout per message, not one per search.
        """
        if not text:
            return None
        text = text[: self.max_text]
        spent = budget.current()
        for type_code, source, compiled in self._compiled:
            timeout = self.timeout
            if spent is not None:
                if source in spent.slow_patterns:
                    continue
                budget.check()
                timeout = min(timeout, max(spent.remaining(), 0.001))
            try:
                found = compiled.search(text, timeout=timeout)
            except TimeoutError:
                if spent is not None:
                    spent.slow_patterns.append(source)
                if source not in self.timed_out:
                    self.timed_out.append(source)
                continue
            if found:
                return type_code, found.group(0)
        return None

    def classify(self, text: str) -> str | None:
        found = self.match(text)
        return found[0] if found else None


def compile_pattern(source: str) -> regex.Pattern:
    """Compile one pattern, raising :class:`PatternError` when it is invalid."""
    if not isinstance(source, str) or not source.strip():
        raise PatternError(str(source), "empty pattern")
    try:
        return regex.compile(source, regex.IGNORECASE | regex.VERSION0)
    except (regex.error, ValueError, TypeError, OverflowError) as exc:
        raise PatternError(source, str(exc)) from None


_default: PatternSet | None = None


def default_patterns() -> PatternSet:
    """The shared compiled default set (compiling once keeps analysis fast)."""
    global _default  # noqa: PLW0603 - a lazily built module-level cache
    if _default is None:
        _default = PatternSet(DEFAULT_PATTERNS)
    return _default
