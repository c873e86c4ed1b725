"""HTTPS for a region: the server's TLS settings, on the same port as ever.

With ``--tls-cert FILE --tls-key FILE`` the one port speaks TLS only. ALPN offers
``h2`` and ``http/1.1``: clients that ask for ``h2`` (the JS SDK v3, the Java SDK
v2 for SubscribeToShard) get HTTP/2, every other client HTTP/1.1 (boto3, the AWS
CLI). Over TLS nothing is sniffed: RFC 9113 §3.2 makes ALPN the only way to agree
on HTTP/2 there.

TLS 1.2 is the oldest version accepted, as on AWS's endpoints since 2023, with
Python's default cipher choice (forward-secret AEAD suites only).

Error handling: a certificate or key that cannot be read, or that do not belong
together, raise ``TlsConfigError`` naming the files, before the port is opened.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

from shardline.errors import ShardlineError

ALPN_PROTOCOLS = ["h2", "http/1.1"]


class TlsConfigError(ShardlineError):
    """The certificate or key given to ``shardline serve`` is unusable (fix the files)."""


@dataclass(frozen=True)
class TlsFiles:
    """A PEM certificate chain and its private key. Example::

    TlsFiles(Path("certs/server.pem"), Path("certs/server-key.pem"))
    """

    cert: Path
    key: Path


def server_context(files: TlsFiles) -> ssl.SSLContext:
    """The SSL context a region serves with (module docstring)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(files.cert, files.key)
    except (OSError, ssl.SSLError) as exc:
        raise TlsConfigError(
            f"cannot serve TLS with certificate {files.cert} and key {files.key}: {exc}. "
            "Give a PEM certificate chain and its matching private key "
            "(`shardline certs create DIR` makes a local pair)."
        ) from exc
    context.set_alpn_protocols(ALPN_PROTOCOLS)
    return context
