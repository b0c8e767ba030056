"""The CLI (``python -m airflow_provider_wapiflow.testing``) and the pytest plugin, each in a subprocess."""

from __future__ import annotations

import importlib.metadata
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import requests
from simulator_helpers import HEADERS

PLUGIN = "airflow_provider_wapiflow.testing.pytest_plugin"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_cli_serves_until_sigterm() -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_wapiflow.testing", "--port", str(port), "--seed-contacts", "3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "Ctrl-C" in line:
                break
        output = "".join(lines)
        base_url = f"http://127.0.0.1:{port}/external-api"
        assert f"base URL:      {base_url}" in output
        assert "client-id:     wapiflow-test-client" in output
        assert "client-secret: wapiflow-test-secret" in output
        export = next(line for line in lines if "export AIRFLOW_CONN_WAPIFLOW_DEFAULT=" in line)
        connection = json.loads(shlex.split(export.split("=", 1)[1])[0])
        assert (connection["host"], connection["login"]) == (base_url, "wapiflow-test-client")
        assert "curl -H 'client-id: wapiflow-test-client'" in output

        body = requests.get(f"{base_url}/contact/list", headers=HEADERS, timeout=5).json()
        assert (body["remark"], body["data"]["contacts"]["total"]) == ("contact-list", 3)
        search = requests.get(f"{base_url}/contact/list", headers=HEADERS, params={"search": "Ana"}, timeout=5)
        assert search.json()["remark"] == "exception"  # real-server mode by default
    finally:
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=15)
    assert process.returncode == 0, stderr
    assert "WapiFlow simulator stopped." in stdout


def test_cli_patched_mode_and_help() -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_wapiflow.testing", "--port", str(port), "--patched", "--latency", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        while "Ctrl-C" not in process.stdout.readline():
            pass
        base_url = f"http://127.0.0.1:{port}/external-api"
        search = requests.get(f"{base_url}/contact/list", headers=HEADERS, params={"search": "x"}, timeout=5)
        assert search.json()["remark"] == "contact-list"
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=15)
    assert process.returncode == 0
    usage = subprocess.run(
        [sys.executable, "-m", "airflow_provider_wapiflow.testing", "--help"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    for option in ("--seed-contacts", "--contact", "--auto-reply-after", "--auto-reply-text", "--rate-limit"):
        assert option in usage.stdout
    reply_usage = subprocess.run(
        [sys.executable, "-m", "airflow_provider_wapiflow.testing", "reply", "--help"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert "Make a contact of a running simulator reply" in reply_usage.stdout


def _plugin_installed() -> bool:
    return any(ep.value == PLUGIN for ep in importlib.metadata.entry_points(group="pytest11"))


def test_pytest_plugin_fixtures_and_marker(tmp_path: Path) -> None:
    test_file = tmp_path / "test_uses_plugin.py"
    test_file.write_text(
        textwrap.dedent(
            """
            import json
            import os

            import pytest
            import requests

            HEADERS = {"client-id": "wapiflow-test-client", "client-secret": "wapiflow-test-secret"}
            STARTED = []


            def test_default_is_the_real_server(wapiflow_simulator):
                assert wapiflow_simulator.base_url.startswith("http://127.0.0.1:")
                assert not wapiflow_simulator.patched
                STARTED.append(wapiflow_simulator)
                r = requests.get(wapiflow_simulator.base_url + "/contact/list", headers=HEADERS, timeout=5)
                assert r.json()["remark"] == "contact-list"


            def test_the_simulator_was_stopped():
                assert not STARTED[0].running


            @pytest.mark.wapiflow_simulator(patched=True, server_version="1.8", latency=0.01)
            def test_marker_arguments(wapiflow_simulator):
                assert wapiflow_simulator.patched
                assert wapiflow_simulator.server_version == "1.8"
                assert wapiflow_simulator.latency == 0.01


            def test_connection(wapiflow_connection):
                conn = json.loads(os.environ["AIRFLOW_CONN_WAPIFLOW_DEFAULT"])
                assert conn["host"] == wapiflow_connection.base_url
                assert conn["conn_type"] == "wapiflow"


            def test_connection_env_is_restored():
                assert "AIRFLOW_CONN_WAPIFLOW_DEFAULT" not in os.environ
            """
        )
    )
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--strict-markers", str(test_file)]
    if not _plugin_installed():
        args[3:3] = ["-p", PLUGIN]
    env = {k: v for k, v in os.environ.items() if k != "AIRFLOW_CONN_WAPIFLOW_DEFAULT"}
    result = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, timeout=120, env=env, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "5 passed" in result.stdout
