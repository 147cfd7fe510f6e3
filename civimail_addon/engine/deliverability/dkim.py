"""DKIM public keys (RFC 6376 3.6.1): is the key of each selector published?

The key record at ``<selector>._domainkey.<domain>`` must parse, name a known
key type, and carry a base64 key; an empty ``p=`` means the key was revoked.
Tag lists and RSA keys are read by dkimpy (``dkim.util.parse_tag_value``,
``dkim.crypto.parse_public_key``), the library mail servers verify DKIM with.
Kept here: the DNS lookup (dkimpy's ``get_txt`` takes the first TXT record
and reads SERVFAIL as "no key", where we need "several records" and "could
not check"), and the Ed25519 check, a key length (dkimpy needs PyNaCl, a
compiled library, only to say the same).
"""

from __future__ import annotations

import base64
import binascii
import re

from dkim.crypto import UnparsableKeyError, parse_public_key
from dkim.util import DuplicateTag, InvalidTagSpec, parse_tag_value

from . import dnsquery
from .dnsquery import DnsTempError
from .results import ERROR, OK, UNKNOWN, WARNING, _lt, build

MIN_RSA_BITS = 1024  # RFC 8301: smaller keys must not be accepted
GOOD_RSA_BITS = 2048
_BASE64 = re.compile(r"^[A-Za-z0-9+/]*={0,2}$")

#: (message, fix) per outcome; {subject} is the domain, {selector} the selector.
MESSAGES = {
    "ok": (_lt("The DKIM key of selector {selector} for {subject} is published ({details})."), ""),
    "weak": (
        _lt("The DKIM key of selector {selector} for {subject} has only {bits} bits, which some "
            "receivers consider weak."),
        _lt("Generate a 2048-bit RSA key, publish it under a new selector and sign with it."),
    ),
    "too_weak": (
        _lt("The DKIM key of selector {selector} for {subject} has only {bits} bits, so receivers "
            "ignore its signatures."),
        _lt("Generate a 2048-bit RSA key, publish it under a new selector and sign with it."),
    ),
    "testing": (
        _lt("The DKIM key of selector {selector} for {subject} is flagged as testing (t=y), so "
            "receivers may treat signed mail as unsigned."),
        _lt("Remove t=y from the key record once signing works."),
    ),
    "missing": (
        _lt("No DKIM key is published for selector {selector} of {subject}, so receivers cannot "
            "verify its signatures."),
        _lt("Publish the public key as a TXT record at {name}, as given by your mail server or "
            "provider."),
    ),
    "revoked": (
        _lt("The DKIM key of selector {selector} for {subject} is revoked (empty p=), so its "
            "signatures fail."),
        _lt("Sign with a current key and publish its public key at {name}."),
    ),
    "invalid": (
        _lt("The DKIM key record of selector {selector} for {subject} is invalid: {problem}."),
        _lt("Publish the record again at {name} exactly as your mail server or provider gives it."),
    ),
    "dns": (
        _lt("The DKIM key of selector {selector} for {subject} could not be checked ({problem})."),
        _lt("Check again later; if this persists, make sure the DNS servers of {subject} answer."),
    ),
    "no_selector": (
        _lt("No DKIM selector is configured for {subject}, so its DKIM keys were not checked."),
        _lt("Enter the DKIM selector your mail server or provider signs with for {subject}."),
    ),
}


def parse_tags(text):
    """``{tag: value}`` of a DKIM tag list (lower-case tags, no whitespace in values).

    None if it is not a tag list; raises DuplicateTag if a tag appears twice.
    """
    try:
        tags = parse_tag_value(text.encode("utf-8", "replace"))
    except InvalidTagSpec:
        return None
    return {name.decode("ascii", "replace").lower(): re.sub(r"\s+", "", value.decode(
        "utf-8", "replace")) for name, value in tags.items()}


def rsa_key_bits(key):
    """Modulus size of a DER RSA key (SubjectPublicKeyInfo or PKCS#1); None if unreadable."""
    try:
        return parse_public_key(key)["modulus"].bit_length()
    except (UnparsableKeyError, IndexError, KeyError, TypeError, ValueError):
        return None


def check_selector(resolver, domain, selector):
    """CheckResult for one selector's key record."""
    name = f"{selector}._domainkey.{domain}"

    def result(status, key, value="", **fields):
        return build("dkim", domain, status, value, key, messages=MESSAGES, selector=selector,
                     name=name, **fields)

    try:
        records = dnsquery.txt_strings(resolver, name + ".")
    except DnsTempError as error:
        return result(UNKNOWN, "dns", problem=str(error))
    keys = []
    for text in records:
        try:
            tags = parse_tags(text)
        except DuplicateTag:
            return result(ERROR, "invalid", text, problem=_lt("a tag appears twice"))
        if tags is not None and "p" in tags:
            keys.append((text, tags))
    if not keys:
        if records:
            return result(ERROR, "invalid", records[0], problem=_lt("it has no p= tag"))
        return result(ERROR, "missing")
    if len(keys) > 1:
        return result(ERROR, "invalid", " | ".join(text for text, _tags in keys),
                      problem=_lt("several key records are published at the same name"))
    text, tags = keys[0]
    return _judge(result, text, tags)


def _judge(result, text, tags):  # noqa: PLR0911 - one exit per rule of RFC 6376
    version = tags.get("v", "DKIM1")
    key_type = tags.get("k", "rsa").lower()
    if version != "DKIM1":
        return result(ERROR, "invalid", text, problem=f"v={version} instead of v=DKIM1")
    if key_type not in ("rsa", "ed25519"):
        return result(ERROR, "invalid", text, problem=f"unknown key type k={key_type}")
    if not tags["p"]:
        return result(ERROR, "revoked", text)
    if not _BASE64.match(tags["p"]):
        return result(ERROR, "invalid", text, problem=_lt("p= is not valid base64"))
    try:
        key = base64.b64decode(tags["p"], validate=True)
    except (binascii.Error, ValueError):
        return result(ERROR, "invalid", text, problem=_lt("p= is not valid base64"))
    if key_type == "ed25519":
        if len(key) != 32:
            return result(ERROR, "invalid", text, problem=_lt("an Ed25519 key must be 32 bytes"))
        details = "ed25519"
    else:
        bits = rsa_key_bits(key)
        if bits is None:
            return result(ERROR, "invalid", text, problem=_lt("p= is not an RSA public key"))
        if bits < MIN_RSA_BITS:
            return result(ERROR, "too_weak", text, bits=bits)
        if bits < GOOD_RSA_BITS:
            return result(WARNING, "weak", text, bits=bits)
        details = f"rsa, {bits} bits"
    if "y" in tags.get("t", "").lower().split(":"):
        return result(WARNING, "testing", text)
    return result(OK, "ok", text, details=details)


def check_dkim(resolver, domain, selectors):
    """One CheckResult per selector (one "unknown" result when none is configured)."""
    domain = dnsquery.normalize_domain(domain) or str(domain)
    selectors = [s.strip().strip(".") for s in selectors or () if s and s.strip().strip(".")]
    if not selectors:
        return [build("dkim", domain, UNKNOWN, "", "no_selector", messages=MESSAGES)]
    return [check_selector(resolver, domain, selector) for selector in dict.fromkeys(selectors)]
