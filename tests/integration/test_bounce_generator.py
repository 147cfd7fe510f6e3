"""The generated bounce corpus: real MTAs write the DSNs the catalogue implies.

``harness.bounce_generator`` runs Postfix, Exim, OpenSMTPD and Sendmail (unpacked by
tools/setup.sh) in a private network namespace; here it plays a few catalogue
entries, one per kind of failure, and each DSN must name the recipient the
message was sent to and carry the refusal the remote MX made. The stored
corpus (tests/data/generated) must match the catalogue it was made from.
"""

import email
import email.policy
import json
from pathlib import Path

import pytest

from harness.bounce_generator import (
    enhanced_status,
    load_catalogue,
    recipient_of,
    reply_of,
)
from harness.mta import MTAS

GENERATED = Path(__file__).resolve().parents[1] / "data" / "generated"
CATALOGUE = {entry["id"]: entry for entry in load_catalogue()}
# One entry per way a mail fails: refused at RCPT (a valid colleague in Cc
# accepted), after DATA, the sender at MAIL, at the greeting, temporarily
# until the queue lifetime ends, a domain that does not exist; and a success
# notice (NOTIFY=SUCCESS).
SUBSET = ["gmail-nosuchuser-cc", "yahoo-nouser", "webde-sender", "proofpoint-blocked",
          "orange-overquota", "nxdomain", "success"]


def _groups(path):
    """The per-recipient groups of a DSN, and its whole text unfolded."""
    raw = path.read_bytes()
    message = email.message_from_bytes(raw, policy=email.policy.compat32)
    groups = [group for part in message.walk()
              if part.get_content_type() == "message/delivery-status"
              for group in part.get_payload() if group.get("Action")]
    return groups, " ".join(raw.decode("utf-8", "replace").split())


def _address(field):
    return field.split(";", 1)[1].strip().lower()


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    from harness.bounce_generator import generate  # noqa: PLC0415

    out = tmp_path_factory.mktemp("generated")
    labels = generate(out, tuple(MTAS), only=SUBSET, lifetime=8, timeout=60)
    return out, labels


@pytest.mark.parametrize("mta", list(MTAS))
def test_each_failure_comes_back_as_a_dsn_for_its_recipient(generated, mta):
    out, labels = generated
    for entry_id in SUBSET:
        entry = CATALOGUE[entry_id]
        if entry_id in MTAS[mta].skips:
            continue
        path = out / mta / f"{entry_id}.eml"
        assert path.is_file(), f"{mta} wrote no final DSN for {entry_id}: {sorted(labels[mta])}"
        groups, text = _groups(path)
        assert [_address(g["Final-Recipient"]) for g in groups] == [recipient_of(entry)]
        # Sendmail: "relayed (to non-DSN-aware mailer)".
        action, status = groups[0]["Action"].split()[0], groups[0]["Status"].strip()
        label = labels[mta][path.name]
        assert label["recipient"] == recipient_of(entry)
        if entry["stage"] == "success":
            assert action in ("delivered", "relayed") and status.startswith("2.")
            assert label["bounce"] is False
            continue
        # OpenSMTPD says "delayed" (4.4.7, expired) for mail it gave up on.
        assert action == "failed" or status[1:] == ".4.7", (mta, entry_id, action, status)
        assert label["bounce"] is True
        assert label["expect"][0]["recipient"] == recipient_of(entry)
        if entry["stage"] in ("mail", "rcpt", "data") and entry["code"] >= 500:
            assert status.startswith("5."), (mta, entry_id, status)
            first_line = reply_of(entry).split("\n")[0]
            assert f"{entry['code']}" in text and " ".join(first_line.split()[1:4]) in text
            if mta == "postfix" and enhanced_status(entry):
                assert status == enhanced_status(entry)  # Postfix keeps the remote's code


@pytest.mark.parametrize("mta", list(MTAS))
def test_a_temporary_refusal_is_warned_as_delayed_first(generated, mta):
    out, labels = generated
    groups, _text = _groups(out / mta / "orange-overquota.delayed.eml")
    assert [g["Action"].split()[0] for g in groups] == ["delayed"]
    assert _address(groups[0]["Final-Recipient"]) == recipient_of(CATALOGUE["orange-overquota"])
    assert labels[mta]["orange-overquota.delayed.eml"]["bounce"] is False


@pytest.mark.parametrize("mta", list(MTAS))
def test_stored_corpus_matches_the_catalogue(mta):
    labels = json.loads((GENERATED / mta / "labels.json").read_text())
    assert sorted(path.name for path in (GENERATED / mta).glob("*.eml")) == sorted(labels)
    finals = {label["catalogue"]: label for name, label in labels.items()
              if label["action"] in ("failed", "delivered", "relayed")}
    played = {entry_id for entry_id in CATALOGUE if entry_id not in MTAS[mta].skips}
    assert set(finals) == played
    for entry_id, label in finals.items():
        entry = CATALOGUE[entry_id]
        assert label["recipient"] == recipient_of(entry)
        if entry["stage"] == "success":
            assert label == {**label, "bounce": False, "expect": []}
            continue
        (expect,) = label["expect"]
        if "note" in label:  # expired, and the DSN does not say why
            assert (expect["type"], expect["hard"]) == ("host", False)
        else:
            assert (expect["type"], expect["hard"]) == (entry["type"], entry["hard"])
