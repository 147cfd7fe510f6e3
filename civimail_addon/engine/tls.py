"""TLS contexts of CiviMail's clients (mailboxes, SMTP): the certificate is verified
against the system's trust store (or ``cafile``) unless the user chose, for one
server, to accept any certificate."""

import ssl


def client_context(verify=True, cafile=None):
    """A client context checking the certificate and host name, or one accepting any."""
    context = ssl.create_default_context(cafile=cafile or None)
    if not verify:
        # The user chose to accept a self-signed (or any) certificate for this server.
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context
