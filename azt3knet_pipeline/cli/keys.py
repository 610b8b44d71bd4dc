"""`azt3knet keys rotate|generate`: the Fernet keys of SECRET_KEY_FOR_KV_ENC. Imports inside functions: see
cli/common.py."""

from __future__ import annotations

import sys

import typer

from azt3knet_pipeline.cli.common import handle_errors, out

keys_app = typer.Typer(help="Encryption keys (SECRET_KEY_FOR_KV_ENC).", no_args_is_help=True)


@keys_app.command("rotate")
@handle_errors
def keys_rotate(
    dry_run: bool = typer.Option(False, "--dry-run", help="Check every ciphertext and report; change nothing."),
) -> None:
    """Re-encrypt every stored secret and bundle under the first key of SECRET_KEY_FOR_KV_ENC, all or nothing.

    Every ciphertext must decrypt first; on any failure nothing changes (exit 2, naming what failed)."""
    from azt3knet_pipeline.services.populations import open_store, rotate_keys
    from azt3knet_pipeline.settings import get_settings

    settings = get_settings()
    report = rotate_keys(store=open_store(settings), settings=settings, dry_run=dry_run)
    counts = ", ".join(f"{report[kind]} {kind}" for kind in ("kv_secret", "agent_mailbox", "bundles"))
    older = f"{report['under_older_keys']} still under an older key"
    if dry_run:
        out.print(f"would re-encrypt {counts} ({older}); nothing changed (dry run)", highlight=False)
    else:
        out.print(f"re-encrypted {counts} (were {older})", highlight=False)


@keys_app.command("generate")
def keys_generate() -> None:
    """Print a new Fernet key (prepend it to SECRET_KEY_FOR_KV_ENC, then run `keys rotate`)."""
    from cryptography.fernet import Fernet

    sys.stdout.write(Fernet.generate_key().decode() + "\n")
