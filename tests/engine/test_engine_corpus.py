"""Accuracy of the bounce analyzer over the labelled corpus.

``bench/bench_analyzer.py`` scores ours and Sisimai alike on any corpus.

The labels carry no recipient address, so a message's expected entries are
paired with its reported bounces: each expected entry takes an unused report
of the same type if there is one, else the first unused report. An entry's
recipient is "found" when its paired report has a plausible address
(``local@domain.tld``); type and hard are compared on that pair (an entry with
no pair counts as wrong). Messages labelled ``bounce: false`` must report no
bounce at all.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from pathlib import Path

import pytest

from civimail_addon.engine.bounce import analyze

CORPUS = Path(__file__).resolve().parents[1] / "data" / "bounces"
_PLAUSIBLE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def score(corpus: Path = CORPUS) -> dict:
    labels = json.loads((corpus / "labels.json").read_text())
    entries = found = same_type = same_hard = false_bounces = 0
    confusion: Counter = Counter()
    misses: list[str] = []
    started = time.perf_counter()
    for name, label in sorted(labels.items()):
        report = analyze((corpus / name).read_bytes())
        unused = list(report.bounces)
        if not label["bounce"]:
            false_bounces += len(report.bounces)
            continue
        for expect in label["expect"]:
            entries += 1
            pair = next((b for b in unused if b.type == expect["type"]), None)
            pair = pair or (unused[0] if unused else None)
            if pair is None:
                confusion[(expect["type"], "(none)")] += 1
                misses.append(f"{name}: no bounce reported, expected {expect['type']}")
                continue
            unused.remove(pair)
            found += bool(_PLAUSIBLE.match(pair.email))
            same_type += pair.type == expect["type"]
            same_hard += pair.hard == expect["hard"]
            confusion[(expect["type"], pair.type)] += 1
            if pair.type != expect["type"] or pair.hard != expect["hard"]:
                misses.append(f"{name}: expected {expect['type']}/{expect['hard']} "
                              f"got {pair.type}/{pair.hard} {pair.email} | {pair.diagnostic[:90]}")
    elapsed = time.perf_counter() - started
    return {
        "messages": len(labels), "entries": entries,
        "found": found / entries, "type": same_type / entries, "hard": same_hard / entries,
        "false_bounces": false_bounces, "confusion": confusion, "misses": misses,
        "per_second": len(labels) / elapsed if elapsed else 0.0,
    }


# Floors just under the measured figures (found 98.6 %, type 89.1 %, hard 92.8 %,
# no false bounce): a regression guard. Nine entries of this corpus follow the
# labelling tool's convention that any "user unknown" refused after DATA or
# with an X.7.x code is a content filter (spam); issue 13 (kind 3) measured on
# unseen mail that this convention misses dead addresses, and the analyzer
# now keeps a reply that says the recipient does not exist invalid (see the
# classifier's docstring). Those nine are the difference from the earlier
# figures (type 92.4 %, hard 96.0 %).
FLOORS = {"found": 0.98, "type": 0.885, "hard": 0.925, "false_bounces": 0}


@pytest.fixture(scope="module")
def scores() -> dict:
    assert (CORPUS / "labels.json").is_file(), f"bounce corpus missing at {CORPUS}"
    return score()


def test_accuracy_floors(scores):
    assert scores["found"] >= FLOORS["found"]
    assert scores["type"] >= FLOORS["type"], "\n".join(scores["misses"])
    assert scores["hard"] >= FLOORS["hard"], "\n".join(scores["misses"])
    assert scores["false_bounces"] <= FLOORS["false_bounces"]
