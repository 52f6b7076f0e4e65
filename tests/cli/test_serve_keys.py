"""``lomsong serve`` and ``lomsong keys`` as a user runs them (subprocesses)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx

from lomsong.testing import make_example_run, reference_communes

LOMSONG = [sys.executable, "-m", "lomsong"]


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


def _add_key(config, *args) -> str:
    added = subprocess.run(
        [*LOMSONG, "keys", "add", *args, "--config", str(config)], capture_output=True, text=True, timeout=60
    )
    assert added.returncode == 0, added.stderr
    return next(line for line in added.stdout.splitlines() if line.startswith("lsk_"))


def test_serve_with_two_worker_processes_shares_runs_and_results(tmp_path, communes, population_surface):
    """`lomsong serve --workers 2`: a run started through one process is seen, and served, by both."""
    from lomsong.simulate.demo import simulate
    from lomsong.simulate.writers import write_generic_csv

    make_example_run(reference_communes(), tmp_path / "run")
    config = tmp_path / "api.toml"
    config.write_text('[api]\nrun_folder = "run"\nstore_dir = "store"\nkeys_db = "keys.sqlite"\n', encoding="utf-8")
    admin = _add_key(config, "--role", "admin")
    csv = write_generic_csv(
        simulate(communes, population_surface, n_points=8_000, seed=3, n_gnettrack_devices=0),
        tmp_path / "drive_test_synthetic.csv",
    )
    port = free_port()
    server = subprocess.Popen(
        [*LOMSONG, "serve", "--port", str(port), "--workers", "2", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"

    def fresh_get(path: str, **kwargs) -> httpx.Response:
        # a new connection each time, so the requests spread over both processes
        with httpx.Client(base_url=url, timeout=60) as http:
            return http.get(path, **kwargs)

    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if fresh_get("/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.3)
        before = fresh_get("/gaps", params={"limit": 1}).json()["numberMatched"]
        with httpx.Client(base_url=url, timeout=120) as http, open(csv, "rb") as handle:
            # the simulated file has every operator's rows: only the department (admin) may upload it
            uploaded = http.post("/measurements", headers={"X-API-Key": admin}, files={"file": (csv.name, handle)})
            assert uploaded.status_code in (200, 201), uploaded.text
            started = http.post("/runs", headers={"X-API-Key": admin})
            assert started.status_code == 202, started.text
        run_id = started.json()["id"]
        states = []
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            answer = fresh_get(f"/runs/{run_id}", headers={"X-API-Key": admin})
            assert answer.status_code == 200, answer.text  # every process knows the run
            states.append(answer.json()["state"])
            if states[-1] in ("done", "failed"):
                break
            time.sleep(0.3)
        assert states[-1] == "done", states
        # each process looks for a new run.json at most once a second: give the other one time
        deadline = time.monotonic() + 30
        while True:
            after = {fresh_get("/gaps", params={"limit": 1}).json()["numberMatched"] for _ in range(8)}
            if (after != {before} and len(after) == 1) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert after != {before} and len(after) == 1  # both processes serve the new run
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=60)
    assert "Traceback" not in output, output[-3000:]
