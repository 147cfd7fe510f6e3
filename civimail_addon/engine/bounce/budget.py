"""A time budget for the analysis of one message.

Every pattern of the engine is linear and every text it reads is capped, so a
message costs time in proportion to the capped sizes. What no code review can
bound is a manager's own bounce pattern, or a path nobody foresaw on some
hostile message; so :func:`analysis` gives each message a deadline that the
analyzer checks at its steps (:func:`check`) and the pattern matcher honours
(a pattern that ran out of time is skipped for the rest of the message and
named in :attr:`Budget.slow_patterns`). Past the deadline the analysis stops
with :class:`BudgetExceeded` and the caller sets the message aside.

The budget lives in a context variable, so concurrent analyses in threads
(Odoo's cron workers) each see their own.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

#: Seconds one message may take, when the caller gives no budget.
DEFAULT_SECONDS = 5.0


class BudgetExceeded(BaseException):
    """The analysis of one message ran out of time.

    A BaseException, like KeyboardInterrupt: the analyzer's tolerant
    ``except Exception`` blocks (a broken part, a choking detector) must not
    swallow it.
    """


@dataclass
class Budget:
    seconds: float
    deadline: float
    slow_patterns: list[str] = field(default_factory=list)

    def remaining(self) -> float:
        return self.deadline - time.monotonic()


_current: ContextVar[Budget | None] = ContextVar("civimail_analysis_budget", default=None)


@contextmanager
def analysis(seconds: float | None = DEFAULT_SECONDS) -> Iterator[Budget]:
    """Give the analysis run inside the block ``seconds`` (None: no deadline)."""
    limit = float("inf") if seconds is None else max(float(seconds), 0.0)
    budget = Budget(limit, time.monotonic() + limit)
    token = _current.set(budget)
    try:
        yield budget
    finally:
        _current.reset(token)


def current() -> Budget | None:
    return _current.get()


def check() -> None:
    """Raise :class:`BudgetExceeded` when the current message is out of time."""
    budget = _current.get()
    if budget is not None and budget.remaining() <= 0:
        raise BudgetExceeded(f"analysis stopped after {budget.seconds:g} s")
