"""DKIM public keys (RFC 6376 3.6.1): is the key of each selector published?

The key record at ``<selector>._domainkey.<domain>`` must parse, name a known
key type, and carry a base64 key; an empty ``p=`` means the key was revoked.
The RSA key size is read from the DER structure with the standard library.
"""

from __future__ import annotations

import base64
import binascii
import re

from . import dnsquery
from .dnsquery import DnsTempError
from .results import ERROR, OK, UNKNOWN, WARNING, _lt, build

MIN_RSA_BITS = 1024  # RFC 8301: smaller keys must not be accepted
GOOD_RSA_BITS = 2048
_TAG = re.compile(r"^\s*([A-Za-z][A-Za-z0-9_]*)\s*=(.*)$", re.DOTALL)
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
    """``{tag: value}`` of a DKIM tag list; None if it is not one."""
    tags = {}
    for part in text.split(";"):
        if not part.strip():
            continue
        found = _TAG.match(part)
        if not found:
            return None
        tags.setdefault(found.group(1).lower(), re.sub(r"\s+", "", found.group(2)))
    return tags


def rsa_key_bits(key):
    """Modulus size of a DER RSA key (SubjectPublicKeyInfo or PKCS#1); None if unreadable."""
    try:
        items = _der_sequence(key)
        if len(items) == 2 and items[0][0] == 0x30 and items[1][0] == 0x03:
            items = _der_sequence(items[1][1][1:])  # BIT STRING: skip the unused-bits byte
        tag, modulus = items[0]
    except (ValueError, IndexError):
        return None
    if tag != 0x02:
        return None
    return int.from_bytes(modulus, "big").bit_length()


def _der_sequence(data):
    """[(tag, content), ...] of the DER SEQUENCE that ``data`` starts with."""
    tag, content, _rest = _der_item(data)
    if tag != 0x30:
        raise ValueError("not a SEQUENCE")
    items = []
    while content:
        tag, value, content = _der_item(content)
        items.append((tag, value))
    return items


def _der_item(data):
    tag, length, offset = data[0], data[1], 2
    if length & 0x80:
        count = length & 0x7F
        if not 0 < count <= 4:
            raise ValueError("bad length")
        length = int.from_bytes(data[2:2 + count], "big")
        offset += count
    if offset + length > len(data):
        raise ValueError("truncated")
    return tag, data[offset:offset + length], data[offset + length:]


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
    keys = [(text, parse_tags(text)) for text in records]
    keys = [(text, tags) for text, tags in keys if tags is not None and "p" in tags]
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
