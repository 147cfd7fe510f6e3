"""A throw-away CA and a ``localhost`` server certificate for one test run.

Tests keep certificate verification ON: clients trust ``ca_file`` and check
the server name, exactly as in production.  A client given no ``ca_file``
sees an unknown CA and must fail the handshake, which tests also exercise.
"""

import datetime
import ipaddress
import os
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.backends import default_backend
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class TlsFiles:
    """Paths of the PEM files of one run (the key is unencrypted)."""

    ca_file: str
    cert_file: str
    key_file: str

    def client_context(self):
        """An SSL context that trusts only this run's CA (hostname checked)."""
        return ssl.create_default_context(cafile=self.ca_file)

    def describe(self):
        return {"ca_file": self.ca_file, "cert_file": self.cert_file, "key_file": self.key_file}

    @classmethod
    def from_description(cls, description):
        return cls(description["ca_file"], description["cert_file"], description["key_file"])

    # Allows ``ca_file, cert_file, key_file = make_tls_files(...)``.
    def __iter__(self):
        return iter((self.ca_file, self.cert_file, self.key_file))


def _name(common_name):
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "civimail test harness"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _new_key():
    # P-256 keys are generated in microseconds, unlike RSA; every client we use accepts them.
    return ec.generate_private_key(ec.SECP256R1(), default_backend())


def _write_pem(path, data, mode=0o644):
    path.write_bytes(data)
    os.chmod(path, mode)


def make_tls_files(folder, hostname="localhost"):
    """Write ca.pem, server.pem and server.key into ``folder``; return TlsFiles.

    The server certificate covers ``hostname``, ``localhost`` and 127.0.0.1.
    Files are world-readable on purpose: daemons read them after dropping root.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o755)  # noqa: S103 - read by daemons running as other users
    now = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=1)
    later = now + datetime.timedelta(days=30)
    backend = default_backend()

    ca_key = _new_key()
    ca_name = _name("civimail test CA")
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(later)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256(), backend)
    )

    server_key = _new_key()
    names = [x509.DNSName(hostname)]
    if hostname != "localhost":
        names.append(x509.DNSName("localhost"))
    names.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(_name(hostname))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(later)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256(), backend)
    )

    pem = serialization.Encoding.PEM
    ca_file, cert_file, key_file = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    _write_pem(ca_file, ca_cert.public_bytes(pem))
    _write_pem(cert_file, server_cert.public_bytes(pem))
    _write_pem(
        key_file,
        server_key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    )
    return TlsFiles(str(ca_file), str(cert_file), str(key_file))
