"""Measure the bounce analyzer against the labelled corpus.

Usage: ``.venv/bin/python bench/bench_analyzer.py [-v]`` (``-v`` lists misses).
Scoring (and how expected entries are paired with reported bounces, since the
labels carry no addresses) is documented in ``tests/test_engine_corpus.py``,
which this script imports so there is only one copy.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
import conftest  # noqa: E402, F401 - registers civimail_addon without Odoo

_spec = importlib.util.spec_from_file_location("corpus_scoring", ROOT / "tests" /
                                               "test_engine_corpus.py")
scoring = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(scoring)


def main() -> int:
    result = scoring.score()
    print(f"messages:               {result['messages']}")
    print(f"bounces (label entries): {result['entries']}")
    print(f"recipient found:        {result['found']:.1%}")
    print(f"type equal to label:    {result['type']:.1%}")
    print(f"hard equal to label:    {result['hard']:.1%}")
    print(f"false bounces on not-bounce messages: {result['false_bounces']}")
    print(f"messages/s:             {result['per_second']:.0f}")
    print("confusion (expected -> reported: count), mismatches only:")
    for (expected, got), count in sorted(result["confusion"].items()):
        if expected != got:
            print(f"  {expected:>9} -> {got:<9} {count}")
    if "-v" in sys.argv:
        print("\n".join(result["misses"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
