"""MailboxError and the wording of the reasons it carries.

Each error names the step that failed so the user knows what to fix: the
settings, the host name (DNS), the network (TCP), TLS, the credentials, the
folder, or the server's behaviour (protocol).

Its sentence is written once, in ``ERROR_TEXTS``, wrapped in ``_lt``: a
no-op here (the engine never imports Odoo and speaks English), it is the
name Odoo's translation export looks for, so the templates land in the
module's ``.pot``/``fr.po``. An error keeps its ``key`` and ``params``; the
Odoo module words them in the reader's language. The reasons given by a
server or the system stay in their own words.
"""

from __future__ import annotations

import socket
import ssl

STEPS = ("settings", "dns", "tcp", "tls", "authentication", "folder", "protocol")

# OpenSSL X509_V_ERR_* codes worth their own wording.
_CERT_HAS_EXPIRED = 10
_HOSTNAME_MISMATCH = 62


def _lt(text):
    """Mark ``text`` for Odoo's translation export; the engine keeps it as is."""
    return text


ERROR_TEXTS = {
    "settings_invalid": _lt("Invalid mailbox settings: %(problem)s."),
    # What is wrong with the settings (the "problem" above).
    "problem_protocol": _lt("unknown protocol %(protocol)s (expected one of %(expected)s)"),
    "problem_batch_size": _lt("the batch size must be at least 1"),
    "problem_message_size": _lt("the maximum message size must be positive"),
    "problem_batch_bytes": _lt("the maximum batch size in bytes must be positive"),
    "problem_path": _lt("the %(kind)s mailbox needs a path"),
    "problem_host": _lt("the %(protocol)s mailbox needs a host name"),
    "problem_security": _lt("unknown security %(security)s (expected one of %(expected)s)"),
    "problem_port": _lt("port %(port)s is outside 1..65535"),
    "problem_timeout": _lt("the timeout must be positive"),
    "problem_username": _lt("a user name is required"),
    "settings_cafile": _lt(
        "Invalid mailbox settings: the CA file %(cafile)s could not be loaded (%(reason)s)."),
    "dns_unresolved": _lt("DNS: the host name %(host)s could not be resolved (%(reason)s)."),
    "dns_invalid": _lt("DNS: %(host)s is not a valid host name (%(reason)s)."),
    "tcp_unreachable": _lt("TCP: could not connect to %(where)s: %(reason)s."),
    "tcp_lost": _lt("TCP: the connection to %(where)s failed while %(doing)s: %(reason)s."),
    "tls_failed": _lt("TLS: the %(how)s handshake with %(where)s failed: %(reason)s"),
    "tls_no_starttls": _lt(
        "TLS: %(where)s does not offer %(command)s; choose SSL/TLS security (port %(port)s) "
        "or no encryption."),
    "not_greeted": _lt(
        "Protocol: %(where)s did not send the %(protocol)s greeting (%(reason)s)."),
    "not_greeted_tls_port": _lt(
        "Protocol: %(where)s did not send the %(protocol)s greeting (%(reason)s). "
        "Port %(port)s normally expects SSL/TLS security."),
    "login_refused": _lt(
        "Authentication: %(where)s refused the login of user %(user)s: %(reason)s"),
    "server_error": _lt("Protocol: %(where)s answered an error while %(doing)s: %(reason)s"),
    "closed": _lt("Protocol: the mailbox is closed (%(doing)s)."),
    "list_gaps": _lt("Protocol: LIST skipped numbers."),
    "uidl_mismatch": _lt("Protocol: UIDL and LIST disagree."),
    "quit_failed_tcp": _lt(
        "TCP: QUIT failed on %(where)s (%(reason)s); the %(count)s message(s) marked in "
        "this session stay on the server and will be read again."),
    "quit_failed_protocol": _lt(
        "Protocol: QUIT failed on %(where)s (%(reason)s); the %(count)s message(s) marked in "
        "this session stay on the server and will be read again."),
    "folder_missing": _lt(
        "Folder: %(folder)s does not exist on %(where)s (the server's hierarchy separator "
        "is %(separator)s); existing folders: %(folders)s."),
    "folder_unopenable": _lt("Folder: %(folder)s on %(where)s cannot be opened: %(reason)s"),
    "folder_not_created": _lt(
        "Folder: %(folder)s could not be created on %(where)s: %(reason)s"),
    "path_missing": _lt("Folder: the %(kind)s %(path)s does not exist or is not a directory."),
    "path_no_access": _lt(
        "Folder: the %(kind)s %(path)s is not readable and writable by this process."),
    "path_unreadable": _lt("Folder: %(path)s cannot be read: %(reason)s."),
    "path_move_failed": _lt("Folder: could not move %(name)s to %(path)s: %(reason)s."),
    "path_create_failed": _lt("Folder: could not create %(path)s: %(reason)s."),
    "not_maildir": _lt("Folder: %(path)s is not a Maildir (no %(missing)s folder inside)."),
    # Reasons of our own wording (the system's and the servers' stay as they are).
    "reason_timeout": _lt("no answer within %(seconds)s seconds"),
    "reason_refused": _lt("connection refused (is the server running and is the port right?)"),
    "reason_reset": _lt("connection reset by the server"),
    "reason_hostname_mismatch": _lt(
        "the server's certificate does not match the host name (%(detail)s). "
        "%(hint)s"),
    "reason_cert_expired": _lt("the server's certificate has expired. %(hint)s"),
    "reason_cert_untrusted": _lt("certificate not trusted (%(detail)s). %(hint)s"),
    "reason_self_signed_hint": _lt(
        "If you trust this server (for example it uses a self-signed certificate), enable "
        "the 'accept self-signed certificate' option or give the file of the CA that "
        "signed it."),
    "reason_not_tls": _lt(
        "the server did not answer with TLS (%(detail)s); port %(port)s may expect STARTTLS "
        "or no encryption instead of SSL/TLS"),
    # What a session was doing when it failed (the "doing" above).
    "doing_login": _lt("logging in"),
    "doing_find_folder": _lt("looking up the folder"),
    "doing_count": _lt("counting messages"),
    "doing_sizes": _lt("fetching message sizes"),
    "doing_fetch_all": _lt("fetching messages"),
    "doing_fetch_one": _lt("fetching a message"),
    "doing_move": _lt("moving messages to %(folder)s"),
    "doing_create_folder": _lt("creating the folder %(folder)s"),
    "doing_list": _lt("listing messages"),
    "doing_retrieve": _lt("retrieving a message"),
    "doing_delete": _lt("deleting messages"),
    # What a local mailbox is, as the sentences above and the steps name it
    # ("Maildir" is a name, the same in every language).
    "kind_directory": _lt("directory"),
}


class Phrase(str):
    """An engine sentence in English that also keeps its ``key`` and ``params``."""

    key: str
    params: dict

    def __new__(cls, key: str, **params) -> Phrase:
        phrase = super().__new__(cls, ERROR_TEXTS[key] % params)
        phrase.key, phrase.params = key, params
        return phrase



class MailboxError(Exception):
    """Reading a mailbox failed at ``step`` (one of STEPS).

    ``str(error)`` is the English sentence of ``ERROR_TEXTS[key] % params``
    naming the step, where (host:port or path) and the server's or the
    system's reason; ``reason`` is that reason alone. None of them ever
    contains the password.
    """

    def __init__(self, step: str, key: str, params: dict, reason: str = ""):
        if step not in STEPS:
            raise ValueError(f"unknown step {step!r}")
        self.phrase = Phrase(key, **params)
        super().__init__(self.phrase)
        self.step = step
        self.key = key
        self.params = params
        self.reason = reason or self.phrase


def fail(settings, step: str, key: str, summary: str = "", **params) -> MailboxError:
    """A MailboxError of ``ERROR_TEXTS[key]``, scrubbed of the settings' password.

    ``summary`` is the error's short ``reason`` (default: the sentence).

    A parameter may be a Phrase (our own words, kept as they are) or any other
    value (a server's or the system's words, names, numbers: made a string).
    """
    params = {
        name: value if isinstance(value, Phrase) else redact(str(value), settings)
        for name, value in params.items()
    }
    return MailboxError(step, key, params, redact(summary, settings))


def not_greeted(settings, protocol: str, tls_port: int, reason: str) -> MailboxError:
    """The server did not open an IMAP or POP3 session (wrong port or security)."""
    key = "not_greeted"
    if settings.security != "ssl" and settings.effective_port == tls_port:
        key = "not_greeted_tls_port"
    return fail(settings, "protocol", key, reason,
                where=settings.where, protocol=protocol, reason=reason, port=tls_port)


def login_refused(settings, reason: str) -> MailboxError:
    return fail(settings, "authentication", "login_refused", reason,
                where=settings.where, user=repr(settings.username), reason=reason)


def server_error(settings, doing: str, reason: str) -> MailboxError:
    return fail(settings, "protocol", "server_error", reason,
                where=settings.where, doing=doing, reason=reason)


def redact(text: str, settings) -> str:
    # Servers do not echo passwords, but a misbehaving one could: never pass it on.
    # Very short passwords are left alone, as replacing them would garble the text.
    password = getattr(settings, "password", "") or ""
    if len(password) >= 4 and password in text:
        return text.replace(password, "********")
    return text


def text_of(value) -> str:
    """Server responses arrive as bytes, tuples or exceptions: make them a line."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace").strip()
    if isinstance(value, (list, tuple)):
        return " ".join(text_of(item) for item in value)
    text = str(value).strip()
    # imapclient wraps server answers as "b'[AUTHENTICATIONFAILED] ...'"
    if text.startswith(("b'", 'b"')) and text.endswith(text[1]):
        text = text[2:-1]
    return text


def os_reason(exc: BaseException | None, timeout: float) -> str:
    """Why a socket operation failed, in words."""
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return Phrase("reason_timeout", seconds=f"{timeout:g}")
    if isinstance(exc, ConnectionRefusedError):
        return Phrase("reason_refused")
    if isinstance(exc, ConnectionResetError):
        return Phrase("reason_reset")
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror[0].lower() + exc.strerror[1:]
    return text_of(exc) or type(exc).__name__


def tls_reason(exc: BaseException, port: int, timeout: float) -> str:
    """Why a TLS handshake failed, with the fix when there is an obvious one."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        detail = (exc.verify_message or text_of(exc)).rstrip(".")
        hint = Phrase("reason_self_signed_hint")
        if exc.verify_code == _HOSTNAME_MISMATCH:
            return Phrase("reason_hostname_mismatch", detail=detail, hint=hint)
        if exc.verify_code == _CERT_HAS_EXPIRED:
            return Phrase("reason_cert_expired", hint=hint)
        return Phrase("reason_cert_untrusted", detail=detail, hint=hint)
    if isinstance(exc, ssl.SSLError):
        reason = exc.reason or text_of(exc)
        if reason in ("WRONG_VERSION_NUMBER", "UNKNOWN_PROTOCOL", "RECORD_LAYER_FAILURE"):
            return Phrase("reason_not_tls", detail=reason, port=port)
        return text_of(reason)
    return os_reason(exc, timeout)
