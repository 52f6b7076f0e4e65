"""Commands of the API: ``serve`` and ``keys add|list|revoke``."""

from __future__ import annotations

import logging
from pathlib import Path

import typer
from rich.table import Table

from lomsong.cli._app import app, console, fail

keys_app = typer.Typer(
    help="API keys: add, list, revoke (stored hashed in data/api_keys.sqlite).", no_args_is_help=True
)
app.add_typer(keys_app, name="keys")


def _settings(config: Path | None):
    from api.settings import ApiSettings, SettingsError

    try:
        return ApiSettings.load(config)
    except SettingsError as exc:
        fail(str(exc))


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (0.0.0.0: every interface)."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="TCP port."),
    config: Path = typer.Option(None, "--config", help="TOML file with an [api] table (else $LOMSONG_API_CONFIG)."),
    run_folder: Path = typer.Option(None, "--run", help="Run folder to serve (default: maps/ or the config's)."),
    workers: int = typer.Option(
        1, "--workers", min=1, max=64, help="Server processes (each holds the results in memory; use about one a core)."
    ),
) -> None:
    """Serve the gaps, OGC API - Features, map pages and uploads over HTTP (uvicorn)."""
    import os

    import uvicorn

    from api.app import create_app

    settings = _settings(config)
    if run_folder is not None:
        settings = settings.with_options(run_folder=run_folder)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    console.print(
        f"serving {settings.run_folder} on http://{host}:{port}/ with {workers} process(es) "
        f"(docs: /docs, OGC API: /, reads {'need a key' if settings.read_requires_key else 'are open'})"
    )
    if workers == 1:
        uvicorn.run(create_app(settings), host=host, port=port, log_level="info")
        return
    # Worker processes build their own app from the environment: hand them these settings.
    if config is not None:
        os.environ["LOMSONG_API_CONFIG"] = str(Path(config).resolve())
    os.environ["LOMSONG_API_RUN_FOLDER"] = str(Path(settings.run_folder).resolve())
    uvicorn.run("api.app:create_app", factory=True, host=host, port=port, workers=workers, log_level="info")


@keys_app.command("add")
def keys_add(
    role: str = typer.Option(..., "--role", help="admin, operator or reader."),
    operator: str = typer.Option(None, "--operator", help="Operator of an operator key (viettel, vinaphone, …)."),
    name: str = typer.Option(None, "--name", help="Who the key is for."),
    config: Path = typer.Option(None, "--config", help="TOML file with an [api] table."),
) -> None:
    """Create a key and print it once (only its salted hash is kept)."""
    from api.keys import KeyRequestError, KeyStore

    settings = _settings(config)
    try:
        key, secret = KeyStore(settings.keys_db).add(role, operator=operator, name=name)
    except KeyRequestError as exc:
        fail(str(exc))
    console.print(f"key {key.id} ({key.role}{', ' + key.operator if key.operator else ''}, {key.name}):")
    # The key alone on its line so scripts can take it; it is not shown again.
    print(secret)
    console.print("[dim]Keep it now: it is stored hashed and cannot be shown again. Send it as header X-API-Key.[/]")


@keys_app.command("list")
def keys_list(config: Path = typer.Option(None, "--config", help="TOML file with an [api] table.")) -> None:
    """List the keys (never their secrets)."""
    from api.keys import KeyStore

    settings = _settings(config)
    keys = KeyStore(settings.keys_db).list()
    table = Table("id", "name", "role", "operator", "created", "revoked")
    for key in keys:
        table.add_row(str(key.id), key.name, key.role, key.operator or "", key.created_at, key.revoked_at or "")
    console.print(table)
    console.print(
        f"{sum(k.active for k in keys)} active, {sum(not k.active for k in keys)} revoked ({settings.keys_db})"
    )


@keys_app.command("revoke")
def keys_revoke(
    key_id: int = typer.Argument(..., help="Key id (from `lomsong keys list`)."),
    config: Path = typer.Option(None, "--config", help="TOML file with an [api] table."),
) -> None:
    """Revoke a key: requests with it are refused from now on."""
    from api.keys import KeyStore

    settings = _settings(config)
    if not KeyStore(settings.keys_db).revoke(key_id):
        fail(f"no active key with id {key_id}; see `lomsong keys list`")
    console.print(f"key {key_id} revoked")
