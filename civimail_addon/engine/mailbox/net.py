"""DNS, TCP and TLS as separate steps, so each failure names its own cause.

The protocol libraries would do all three in one call; connecting here and
handing them the ready socket is what lets a refused port ("tcp") be told
apart from an unknown host ("dns") or an untrusted certificate ("tls").
"""

from __future__ import annotations

import socket
import ssl

from ..tls import client_context
from .base import Step
from .errors import MailboxError, fail, os_reason, tls_reason
from .settings import MailboxSettings


def resolve(settings: MailboxSettings, steps: list[str]) -> list[tuple]:
    """getaddrinfo() for host:port; raise MailboxError("dns") if it fails."""
    host, port = settings.host.strip(), settings.effective_port
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        reason = exc.strerror or str(exc)
        raise fail(settings, "dns", "dns_unresolved", reason,
                   host=repr(host), reason=reason) from exc
    except (UnicodeError, ValueError) as exc:
        raise fail(settings, "dns", "dns_invalid", host=repr(host), reason=exc) from exc
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    steps.append(Step("resolved", host=host, addresses=", ".join(addresses)))
    return infos


def connect(settings: MailboxSettings, infos: list[tuple], steps: list[str]) -> socket.socket:
    """A TCP socket to the first address that answers, with the timeout set."""
    last_error: OSError | None = None
    for family, kind, proto, _name, address in infos:
        sock = socket.socket(family, kind, proto)
        sock.settimeout(settings.timeout)
        try:
            sock.connect(address)
        except OSError as exc:
            sock.close()
            last_error = exc
            continue
        steps.append(Step("connected", ip=address[0], port=address[1]))
        return sock
    reason = os_reason(last_error, settings.timeout)
    raise fail(
        settings, "tcp", "tcp_unreachable", reason, where=settings.where, reason=reason
    ) from last_error


def tls_context(settings: MailboxSettings) -> ssl.SSLContext:
    """Verifying context (system store or ``cafile``), or one accepting any certificate."""
    try:
        return client_context(settings.verify_certificate, settings.cafile)
    except (OSError, ssl.SSLError) as exc:
        raise fail(
            settings, "settings", "settings_cafile",
            cafile=repr(settings.cafile), reason=os_reason(exc, settings.timeout),
        ) from exc


def tls_failure(settings: MailboxSettings, exc: BaseException, starttls: bool) -> MailboxError:
    how = "STARTTLS" if starttls else "TLS"
    reason = tls_reason(exc, settings.effective_port, settings.timeout)
    return fail(
        settings, "tls", "tls_failed", reason, how=how, where=settings.where, reason=reason
    )


def tls_step(sock: ssl.SSLSocket, settings: MailboxSettings, starttls: bool) -> Step:
    key = "tls" if settings.verify_certificate else "tls_unverified"
    return Step(key, how="STARTTLS" if starttls else "TLS", version=sock.version())


def wrap(
    sock: socket.socket, settings: MailboxSettings, context: ssl.SSLContext, steps: list[str]
) -> ssl.SSLSocket:
    """Implicit TLS on a connected socket (closed on failure)."""
    try:
        tls = context.wrap_socket(sock, server_hostname=settings.host.strip())
    except (OSError, ssl.SSLError) as exc:
        sock.close()
        raise tls_failure(settings, exc, starttls=False) from exc
    steps.append(tls_step(tls, settings, starttls=False))
    return tls


def open_socket(settings: MailboxSettings, steps: list[str]) -> socket.socket:
    """Resolve, connect and (for security "ssl") negotiate TLS."""
    # A bad CA file is a settings problem: report it before touching the network.
    context = tls_context(settings) if settings.security != "none" else None
    sock = connect(settings, resolve(settings, steps), steps)
    if context is not None and settings.security == "ssl":
        return wrap(sock, settings, context, steps)
    return sock


def lost(settings: MailboxSettings, exc: BaseException, doing: str) -> MailboxError:
    """The connection broke (or timed out) in the middle of a session."""
    reason = os_reason(exc, settings.timeout)
    return fail(
        settings, "tcp", "tcp_lost", reason, where=settings.where, doing=doing, reason=reason
    )
