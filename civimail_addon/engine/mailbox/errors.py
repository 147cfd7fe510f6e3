"""MailboxError and the wording of the reasons it carries.

Each error names the step that failed so the user knows what to fix: the
settings, the host name (DNS), the network (TCP), TLS, the credentials, the
folder, or the server's behaviour (protocol).
"""

from __future__ import annotations

import socket
import ssl

STEPS = ("settings", "dns", "tcp", "tls", "authentication", "folder", "protocol")

# OpenSSL X509_V_ERR_* codes worth their own wording.
_CERT_HAS_EXPIRED = 10
_HOSTNAME_MISMATCH = 62

SELF_SIGNED_HINT = (
    "If you trust this server (for example it uses a self-signed certificate), enable the "
    "'accept self-signed certificate' option or give the file of the CA that signed it."
)


class MailboxError(Exception):
    """Reading a mailbox failed at ``step`` (one of STEPS).

    ``str(error)`` is an English sentence naming the step, where (host:port or
    path) and the server's or the system's reason; ``reason`` is that reason
    alone. Neither ever contains the password.
    """

    def __init__(self, step: str, message: str, reason: str = ""):
        if step not in STEPS:
            raise ValueError(f"unknown step {step!r}")
        super().__init__(message)
        self.step = step
        self.reason = reason or message


def fail(settings, step: str, message: str, reason: str = "") -> MailboxError:
    """A MailboxError whose texts are scrubbed of the settings' password."""
    return MailboxError(step, redact(message, settings), redact(reason, settings))


def not_greeted(settings, protocol: str, tls_port: int, reason: str) -> MailboxError:
    """The server did not open an IMAP or POP3 session (wrong port or security)."""
    hint = ""
    if settings.security != "ssl" and settings.effective_port == tls_port:
        hint = f" Port {tls_port} normally expects SSL/TLS security."
    return fail(
        settings, "protocol",
        f"Protocol: {settings.where} did not greet like {protocol} server ({reason}).{hint}",
        reason,
    )


def login_refused(settings, reason: str) -> MailboxError:
    return fail(
        settings, "authentication",
        f"Authentication: {settings.where} refused the login of user "
        f"{settings.username!r}: {reason}",
        reason,
    )


def server_error(settings, doing: str, reason: str) -> MailboxError:
    return fail(
        settings, "protocol",
        f"Protocol: {settings.where} answered an error while {doing}: {reason}",
        reason,
    )


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
        return f"no answer within {timeout:g} seconds"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (is the server running and is the port right?)"
    if isinstance(exc, ConnectionResetError):
        return "connection reset by the server"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror[0].lower() + exc.strerror[1:]
    return text_of(exc) or type(exc).__name__


def tls_reason(exc: BaseException, port: int, timeout: float) -> str:
    """Why a TLS handshake failed, with the fix when there is an obvious one."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        detail = (exc.verify_message or text_of(exc)).rstrip(".")
        if exc.verify_code == _HOSTNAME_MISMATCH:
            what = f"the server's certificate does not match the host name ({detail})"
        elif exc.verify_code == _CERT_HAS_EXPIRED:
            what = "the server's certificate has expired"
        else:
            what = f"certificate not trusted ({detail})"
        return f"{what}. {SELF_SIGNED_HINT}"
    if isinstance(exc, ssl.SSLError):
        reason = exc.reason or text_of(exc)
        if reason in ("WRONG_VERSION_NUMBER", "UNKNOWN_PROTOCOL", "RECORD_LAYER_FAILURE"):
            return (
                f"the server did not answer with TLS ({reason}); port {port} may expect "
                "STARTTLS or no encryption instead of SSL/TLS"
            )
        return text_of(reason)
    return os_reason(exc, timeout)
