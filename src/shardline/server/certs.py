"""A local certificate authority and one server certificate, for HTTPS without a PKI.

``create_local_certificates(DIR)`` writes, as numbered steps:

1. A fresh CA: an EC P-256 key and a self-signed certificate (``ca.pem``) allowed
   to sign server certificates only (``pathlen 0``). Clients trust this file:
   boto3 ``verify="ca.pem"``, the AWS CLI ``--ca-bundle ca.pem``, Node
   ``NODE_EXTRA_CA_CERTS=ca.pem``, the topology's ``ca_bundle = "ca.pem"``.
2. A server key (``server-key.pem``) and a certificate (``server.pem``) signed by
   the CA, valid for ``localhost``, ``127.0.0.1`` and ``::1`` plus any names and
   addresses given, for TLS server authentication only.
3. The CA's private key is never written: once it has signed the one certificate
   it is gone, so a copy of the directory cannot vouch for any other name.

The key and certificate files are mode 0600 whatever the umask; ``ca.pem`` holds
nothing secret and is 0644.

Error handling: existing files are never overwritten unless ``replace`` is set;
``CertificateExistsError`` names them.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from shardline.errors import ShardlineError

#: How long the CA and the server certificate are valid. 825 days is the longest
#: a server certificate may be valid for Apple's TLS clients; the CA, which only
#: ever signed this one certificate, lives as long.
VALIDITY = dt.timedelta(days=825)
LOOPBACK_NAMES = ("localhost",)
LOOPBACK_ADDRESSES = ("127.0.0.1", "::1")


class CertificateExistsError(ShardlineError):
    """The directory already holds certificates; pass ``--replace`` to make new ones."""


@dataclass(frozen=True)
class LocalCertificates:
    """The files ``create_local_certificates`` wrote."""

    ca: Path
    cert: Path
    key: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write(path: Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        os.fchmod(handle.fileno(), mode)
        handle.write(data)


def _ca(key: ec.EllipticCurvePrivateKey, now: dt.datetime) -> x509.Certificate:
    """Step 1: a CA that may sign end-entity certificates only."""
    public = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(_name("Shardline local CA"))
        .issuer_name(_name("Shardline local CA"))
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
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
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )


def _server(
    ca: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    key: ec.EllipticCurvePrivateKey,
    names: list[x509.GeneralName],
    now: dt.datetime,
) -> x509.Certificate:
    """Step 2: a TLS server certificate for ``names``, signed by the CA."""
    ca_ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )


def create_local_certificates(
    directory: Path,
    dns_names: tuple[str, ...] = (),
    ip_addresses: tuple[str, ...] = (),
    replace: bool = False,
) -> LocalCertificates:
    """Write ``ca.pem``, ``server.pem`` and ``server-key.pem`` into ``directory``."""
    files = LocalCertificates(
        directory / "ca.pem", directory / "server.pem", directory / "server-key.pem"
    )
    existing = [p for p in (files.ca, files.cert, files.key) if p.exists()]
    if existing and not replace:
        raise CertificateExistsError(
            f"{', '.join(map(str, existing))} already exist; pass --replace to make new ones "
            "(clients must then trust the new ca.pem)"
        )
    names: list[x509.GeneralName] = [
        x509.DNSName(n) for n in dict.fromkeys((*LOOPBACK_NAMES, *dns_names))
    ]
    names += [
        x509.IPAddress(ipaddress.ip_address(a))
        for a in dict.fromkeys((*LOOPBACK_ADDRESSES, *ip_addresses))
    ]
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _ca(ca_key, now)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _server(ca, ca_key, key, names, now)
    directory.mkdir(parents=True, exist_ok=True)
    _write(files.ca, ca.public_bytes(serialization.Encoding.PEM), 0o644)
    _write(files.cert, cert.public_bytes(serialization.Encoding.PEM), 0o600)
    _write(files.key, _pem(key), 0o600)
    return files
