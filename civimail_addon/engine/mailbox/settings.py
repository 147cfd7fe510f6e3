"""What the reader needs to know about one mailbox, and its sanity checks."""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import Phrase, fail

REMOTE_PROTOCOLS = ("imap", "pop3")
LOCAL_PROTOCOLS = ("maildir", "directory")
PROTOCOLS = REMOTE_PROTOCOLS + LOCAL_PROTOCOLS
SECURITIES = ("ssl", "starttls", "none")


@dataclass(frozen=True)
class MailboxSettings:
    """Connection and reading settings; the password never appears in repr()."""

    protocol: str  # "imap" | "pop3" | "maildir" | "directory"
    host: str = ""
    port: int = 0  # 0 -> default_port(protocol, security)
    username: str = ""
    password: str = field(default="", repr=False)
    security: str = "ssl"  # "ssl" | "starttls" | "none"
    verify_certificate: bool = True  # False accepts self-signed or any certificate
    cafile: str | None = None  # None = the system trust store
    folder: str = "INBOX"  # IMAP source folder; "." or "/" as separator both work
    path: str = ""  # maildir / directory path
    timeout: float = 60.0
    max_message_size: int = 25 * 1024 * 1024
    batch_size: int = 100
    # Optional: a batch also ends before its bodies exceed this many bytes, so
    # a run of large messages cannot hold batch_size x max_message_size in memory.
    max_batch_bytes: int = 64 * 1024 * 1024

    @property
    def effective_port(self) -> int:
        return self.port or default_port(self.protocol, self.security)

    @property
    def is_remote(self) -> bool:
        return self.protocol in REMOTE_PROTOCOLS

    @property
    def where(self) -> str:
        """host:port or the path, as error messages and steps name it."""
        if self.is_remote:
            return f"{self.host}:{self.effective_port}"
        return self.path


def default_port(protocol: str, security: str) -> int:
    """The IANA port: implicit TLS (993/995) for "ssl", else 143/110; 0 for local."""
    if protocol == "imap":
        return 993 if security == "ssl" else 143
    if protocol == "pop3":
        return 995 if security == "ssl" else 110
    return 0


def validate(settings: MailboxSettings) -> None:
    """Raise MailboxError(step="settings") for settings no server could accept."""
    problem = _problem(settings)
    if problem:
        raise fail(settings, "settings", "settings_invalid", problem=problem)


def _problem(settings: MailboxSettings) -> Phrase | None:  # noqa: PLR0911 - one check per line
    if settings.protocol not in PROTOCOLS:
        return Phrase("problem_protocol", protocol=repr(settings.protocol),
                      expected=", ".join(PROTOCOLS))
    if settings.batch_size < 1:
        return Phrase("problem_batch_size")
    if settings.max_message_size < 1:
        return Phrase("problem_message_size")
    if settings.max_batch_bytes < 1:
        return Phrase("problem_batch_bytes")
    if settings.protocol in LOCAL_PROTOCOLS:
        if settings.path.strip():
            return None
        kind = "Maildir" if settings.protocol == "maildir" else Phrase("kind_directory")
        return Phrase("problem_path", kind=kind)
    if not settings.host.strip():
        return Phrase("problem_host", protocol=settings.protocol.upper())
    if settings.security not in SECURITIES:
        return Phrase("problem_security", security=repr(settings.security),
                      expected=", ".join(SECURITIES))
    if not 0 <= settings.port <= 65535:
        return Phrase("problem_port", port=settings.port)
    if not settings.timeout or settings.timeout <= 0:
        return Phrase("problem_timeout")
    if not settings.username:
        return Phrase("problem_username")
    return None
