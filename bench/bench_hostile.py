"""Time the bounce analyzer on hostile messages (issue 13: linear on hostile mail).

Usage: ``.venv/bin/python bench/bench_hostile.py``. Each message is about
5 MB: a DSN whose fields, notice and headers carry 100,000 ``(``, 100,000
blank lines, 5,000 recipients, deeply nested comments or long runs of address
characters, the shapes that made the earlier patterns quadratic. Prints the
time of each analysis (target: under a second each) and what was reported.
The fuzz test (``tests/engine/test_engine_hostile.py``) checks the same shapes never
raise and never run out of the per-message budget; the timings live here.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "engine")]
import conftest  # noqa: E402, F401 - registers civimail_addon without Odoo
from hostile_mail import HOSTILE_MESSAGES  # noqa: E402

from civimail_addon.engine.bounce import analyze  # noqa: E402
from civimail_addon.engine.verp import VerpCodec  # noqa: E402


def main() -> int:
    codec = VerpCodec("return+", "example.org", ["bench secret"])
    print(f"{'message':<34} {'size':>8} {'seconds':>8}  report")
    worst = 0.0
    for name, build in HOSTILE_MESSAGES.items():
        raw = build(5 * 1024 * 1024)
        started = time.perf_counter()
        report = analyze(raw, verp=codec, seconds=None)
        elapsed = time.perf_counter() - started
        worst = max(worst, elapsed)
        print(f"{name:<34} {len(raw) / 1e6:6.1f}MB {elapsed:8.3f}  "
              f"{report.kind}, {len(report.bounces)} recipient(s)")
    print(f"slowest: {worst:.3f} s (target: under 1 s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
