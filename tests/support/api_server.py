"""Helpers for the API tests: a real uvicorn server on a free loopback port, keys, an example run.

Imported by the ``test_api*.py`` modules (this module holds no tests itself).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn

from api.app import create_app
from api.keys import KeyStore
from api.settings import ApiSettings
from lomsong.testing import make_example_run, reference_communes


@contextmanager
def live_server(app) -> Iterator[str]:
    """Run ``app`` with uvicorn in a thread on a free 127.0.0.1 port; yield its base URL; stop it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))  # bound before the server starts: no race for the port
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the API server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


@dataclass
class ApiServer:
    """A running API with its folders and one key per role."""

    url: str
    settings: ApiSettings
    keys: dict[str, str] = field(default_factory=dict)

    def headers(self, who: str) -> dict[str, str]:
        """Headers carrying the key of ``who`` (admin, viettel, vinaphone, reader)."""
        return {"X-API-Key": self.keys[who]}


def make_keys(settings: ApiSettings) -> dict[str, str]:
    """Create an admin, a reader and two operator keys; return their secrets by name."""
    store = KeyStore(settings.keys_db)
    return {
        "admin": store.add("admin", name="department")[1],
        "reader": store.add("reader", name="analyst")[1],
        "viettel": store.add("operator", operator="viettel", name="Viettel engineer")[1],
        "vinaphone": store.add("operator", operator="VNPT", name="VNPT engineer")[1],
    }


def example_settings(folder: Path, **options) -> ApiSettings:
    """Settings over a fresh example run in ``folder`` (run, store and keys inside it)."""
    make_example_run(reference_communes(), folder / "run")
    return ApiSettings(
        run_folder=folder / "run",
        store_dir=folder / "store",
        keys_db=folder / "keys.sqlite",
        **options,
    )


@contextmanager
def running_api(folder: Path, runner=None, **options) -> Iterator[ApiServer]:
    """Start the API over an example run in ``folder``; yield an :class:`ApiServer`."""
    settings = example_settings(folder, **options)
    keys = make_keys(settings)
    with live_server(create_app(settings, runner=runner)) as url:
        yield ApiServer(url=url, settings=settings, keys=keys)
