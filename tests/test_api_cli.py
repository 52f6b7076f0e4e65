"""``lomsong serve`` and ``lomsong keys`` as a user runs them (subprocesses)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx

from coverage.testing import make_example_run, reference_communes

LOMSONG = [sys.executable, "-m", "coverage"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_keys_commands_and_serve_subprocess(tmp_path):
    make_example_run(reference_communes(), tmp_path / "run")
    config = tmp_path / "api.toml"
    config.write_text(
        '[api]\nrun_folder = "run"\nstore_dir = "store"\nkeys_db = "keys.sqlite"\nmax_upload_mb = 5\n',
        encoding="utf-8",
    )
    env = {**os.environ, "COLUMNS": "200"}

    added = subprocess.run(
        [*LOMSONG, "keys", "add", "--role", "operator", "--operator", "viettel", "--config", str(config)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert added.returncode == 0, added.stderr
    secret = next(line for line in added.stdout.splitlines() if line.startswith("lsk_"))
    refused = subprocess.run(
        [*LOMSONG, "keys", "add", "--role", "operator", "--config", str(config)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert refused.returncode != 0 and "--operator" in refused.stderr and "Traceback" not in refused.stderr

    port = free_port()
    server = subprocess.Popen(
        [*LOMSONG, "serve", "--host", "127.0.0.1", "--port", str(port), "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        health = None
        for _ in range(300):
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).json()
                break
            except httpx.TransportError:
                assert server.poll() is None, server.stdout.read()
                time.sleep(0.1)
        assert health is not None and health["results_loaded"] and health["synthetic"] is True
        listing = httpx.get(f"http://127.0.0.1:{port}/measurements", headers={"X-API-Key": secret}).json()
        assert listing == {"items": []}

        listed = subprocess.run(
            [*LOMSONG, "keys", "list", "--config", str(config)], capture_output=True, text=True, env=env, timeout=60
        )
        assert "viettel" in listed.stdout and secret not in listed.stdout
        key_id = secret.split("_")[1]
        revoked = subprocess.run(
            [*LOMSONG, "keys", "revoke", key_id, "--config", str(config)],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert revoked.returncode == 0
        after = httpx.get(f"http://127.0.0.1:{port}/measurements", headers={"X-API-Key": secret})
        assert after.status_code == 401 and after.json()["code"] == "invalid_key"
    finally:
        server.terminate()
        server.wait(timeout=30)
