"""``shardline certs create DIR``: a local CA and a server certificate for HTTPS."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import click

from shardline.server.certs import CertificateExistsError, create_local_certificates


@click.group()
def certs() -> None:
    """Certificates for serving a region over HTTPS (`shardline serve --tls-cert`)."""


def _ip(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> tuple[str, ...]:
    for value in values:
        try:
            ipaddress.ip_address(value)
        except ValueError:
            raise click.BadParameter(f"{value!r} is not an IP address") from None
    return values


@certs.command("create")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--dns", "dns_names", multiple=True, help="Another host name the server answers to.")
@click.option(
    "--ip", "ip_addresses", multiple=True, callback=_ip, help="Another address it listens on."
)
@click.option("--replace", is_flag=True, help="Overwrite certificates already in DIRECTORY.")
def create(
    directory: Path, dns_names: tuple[str, ...], ip_addresses: tuple[str, ...], replace: bool
) -> None:
    """Write a local CA (ca.pem) and a server certificate and key into DIRECTORY.

    The certificate is valid for localhost, 127.0.0.1 and ::1 (and any --dns/--ip).
    The CA's own key is not kept, so the CA vouches for this certificate only.
    Serve with `shardline serve --tls-cert DIRECTORY/server.pem --tls-key
    DIRECTORY/server-key.pem`; clients trust DIRECTORY/ca.pem.
    """
    try:
        files = create_local_certificates(directory, dns_names, ip_addresses, replace)
    except CertificateExistsError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"CA certificate (give to clients): {files.ca}")
    click.echo(f"server certificate:               {files.cert}")
    click.echo(f"server key (mode 0600):           {files.key}")
    click.echo(f"serve with: shardline serve --tls-cert {files.cert} --tls-key {files.key}")
