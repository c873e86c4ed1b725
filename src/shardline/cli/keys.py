"""``shardline keys``: access keys for ``shardline serve --credentials FILE``."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from shardline.server.auth.keys import CredentialsError, append_key, new_key
from shardline.server.auth.policy import PolicyError, parse_policy

DEFAULT_FILE = "shardline-credentials.toml"


@click.group()
def keys() -> None:
    """Manage the access keys a region accepts (its --credentials file)."""


@keys.command("create")
@click.option("--account", required=True, help="The 12-digit account id the key acts in.")
@click.option("--admin", is_flag=True, help="May also call the /_shardline/* admin endpoints.")
@click.option(
    "--policy",
    "policy_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="JSON file with an IAM identity policy limiting the key "
    "(default: full access to its own account).",
)
@click.option("--user", default=None, help="IAM user name in the key's ARN (default: the key id).")
@click.option(
    "--file",
    "path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=lambda: os.environ.get("SHARDLINE_CREDENTIALS", DEFAULT_FILE),
    show_default=f"$SHARDLINE_CREDENTIALS or ./{DEFAULT_FILE}",
    help="Credentials file to append to (created with mode 0600).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the new key as JSON.")
def create(
    account: str,
    admin: bool,
    policy_file: Path | None,
    user: str | None,
    path: Path,
    as_json: bool,
) -> None:
    """Append a fresh access key pair to the credentials file and print it.

    Restart `shardline serve` to start accepting it. The secret is shown once: store
    it where the client's credentials live (e.g. `aws configure`).
    """
    policy_text = policy_file.read_text() if policy_file is not None else None
    if policy_text is not None:
        try:
            parse_policy(policy_text, "identity")
        except PolicyError as exc:
            raise click.ClickException(f"{policy_file}: {exc}") from None
    try:
        key = new_key(account, admin=admin, user=user)
    except CredentialsError as exc:
        raise click.ClickException(str(exc)) from None
    append_key(path, key, policy_text)
    if as_json:
        fields = {
            "AccessKeyId": key.access_key_id,
            "SecretAccessKey": key.secret_access_key,
            "AccountId": key.account_id,
            "Arn": key.arn,
            "Admin": key.admin,
            "File": str(path),
        }
        click.echo(json.dumps(fields))
        return
    click.echo(f"access key id     : {key.access_key_id}")
    click.echo(f"secret access key : {key.secret_access_key}")
    click.echo(f"principal         : {key.arn}{' (admin)' if admin else ''}")
    click.echo(f"written to        : {path} (mode 0600)")
