"""Both hooks read the proxy (and CA-bundle) environment once per session, with the usual precedence."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from airflow_provider_wapiflow.hooks.wapiflow import WapiFlowAsyncHook, WapiFlowHook
from airflow_provider_wapiflow.testing import WapiFlowSimulator

ENV_NAMES = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy")
TEMPLATES = {"templates": {"current_page": 1, "data": [], "last_page": 1, "total": 0}}


class RecordingProxy:
    """A forward proxy stand-in on loopback: records the request lines it gets and answers a template page."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        recorded = self.lines

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                recorded.append(self.requestline)
                body = json.dumps({"remark": "inbox", "status": "success", "data": TEMPLATES}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def proxy() -> Iterator[RecordingProxy]:
    server = RecordingProxy()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*ENV_NAMES, "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)


def test_the_proxy_environment_is_honoured(
    wapiflow_connection: WapiFlowSimulator, proxy: RecordingProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    hook = WapiFlowHook()
    assert hook.test_connection()[0]
    assert proxy.lines == [f"GET {wapiflow_connection.base_url}/inbox/template-list?page=1&paginate=1 HTTP/1.1"]
    assert wapiflow_connection.request_count() == 0


def test_no_proxy_sends_directly(
    wapiflow_connection: WapiFlowSimulator, proxy: RecordingProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    assert WapiFlowHook().test_connection()[0]
    assert proxy.lines == []
    assert wapiflow_connection.request_count() == 1


def test_the_connection_proxy_wins_over_the_environment(
    wapiflow_connection: WapiFlowSimulator, proxy: RecordingProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = RecordingProxy()
    try:
        monkeypatch.setenv("HTTP_PROXY", other.url)
        monkeypatch.setenv("AIRFLOW_CONN_WAPIFLOW_DEFAULT", wapiflow_connection.connection_json(proxy=proxy.url))
        assert WapiFlowHook().test_connection()[0]
    finally:
        other.stop()
    assert len(proxy.lines) == 1
    assert other.lines == []


def test_the_environment_is_read_once_per_session(
    wapiflow_connection: WapiFlowSimulator, proxy: RecordingProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = WapiFlowHook()
    assert hook.test_connection()[0]
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    assert hook.test_connection()[0]  # same session: still direct
    assert proxy.lines == []
    hook.close()
    assert hook.test_connection()[0]  # a new session reads the environment again
    assert len(proxy.lines) == 1


def test_ca_bundle_from_the_environment(
    wapiflow_connection: WapiFlowSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    assert WapiFlowHook().session.verify == "/etc/ssl/certs/ca-certificates.crt"
    monkeypatch.setenv("AIRFLOW_CONN_WAPIFLOW_DEFAULT", wapiflow_connection.connection_json(verify_ssl=False))
    assert WapiFlowHook().session.verify is False


async def test_the_async_hook_honours_the_proxy_environment(
    wapiflow_connection: WapiFlowSimulator, proxy: RecordingProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    async with WapiFlowAsyncHook() as hook:
        assert (await hook.list_templates())["total"] == 0
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        await hook.list_templates()  # the session's proxy was read once, when it was opened
    assert proxy.lines == [f"GET {wapiflow_connection.base_url}/inbox/template-list?page=1&paginate=20 HTTP/1.1"] * 2
    assert wapiflow_connection.request_count() == 0
    async with WapiFlowAsyncHook() as hook:  # a new session: NO_PROXY now applies
        assert (await hook.list_templates())["total"] == len(wapiflow_connection.templates())
    assert len(proxy.lines) == 2


async def test_the_async_hook_prefers_the_connection_proxy(
    wapiflow_connection: WapiFlowSimulator, proxy: RecordingProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("AIRFLOW_CONN_WAPIFLOW_DEFAULT", wapiflow_connection.connection_json(proxy=proxy.url))
    async with WapiFlowAsyncHook() as hook:
        await hook.list_templates()
    assert len(proxy.lines) == 1


# --- issue 13.8 / 15.14: plain http and connection problems ----------------------------------------


def test_plain_http_to_a_remote_host_warns_once_naming_the_connection(
    monkeypatch: pytest.MonkeyPatch, debug_logs: Callable[[], str]
) -> None:
    conn = {"conn_type": "wapiflow", "host": "http://wapiflow.invalid/external-api", "login": "c", "password": "s"}
    monkeypatch.setenv("AIRFLOW_CONN_WAPIFLOW_REMOTE", json.dumps(conn))
    hook = WapiFlowHook("wapiflow_remote", max_retries=0)
    for _ in range(3):
        assert not hook.test_connection()[0]
    logs = debug_logs()
    assert logs.count("WapiFlow connection 'wapiflow_remote' uses plain http:// to http://wapiflow.invalid:80") == 1
    assert "client-secret travels in clear text" in logs


def test_plain_http_to_loopback_does_not_warn(
    wapiflow_connection: WapiFlowSimulator, debug_logs: Callable[[], str]
) -> None:
    assert WapiFlowHook().test_connection()[0]
    assert "plain http://" not in debug_logs()


@pytest.mark.parametrize("kind", ["refused", "dns"])
def test_connection_problems_name_the_connection_and_the_url(monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    host = f"http://127.0.0.1:{closed_port}/external-api" if kind == "refused" else "https://wapiflow.invalid"
    conn = {"conn_type": "wapiflow", "host": host, "login": "c", "password": "s", "extra": {"max_retries": 0}}
    monkeypatch.setenv("AIRFLOW_CONN_WAPIFLOW_BROKEN", json.dumps(conn))
    tried = f"http://127.0.0.1:{closed_port}" if kind == "refused" else "https://wapiflow.invalid:443"
    ok, message = WapiFlowHook("wapiflow_broken").test_connection()
    assert not ok
    assert "could not connect to WapiFlow" in message
    assert "connection 'wapiflow_broken'" in message
    assert f"tried {tried}" in message


async def test_async_connection_problems_name_the_connection_and_the_url(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    from airflow_provider_wapiflow.exceptions import WapiFlowConnectionError

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    conn = {"conn_type": "wapiflow", "host": f"http://127.0.0.1:{closed_port}", "login": "c", "password": "s",
            "extra": {"max_retries": 0}}  # fmt: skip
    monkeypatch.setenv("AIRFLOW_CONN_WAPIFLOW_BROKEN", json.dumps(conn))
    async with WapiFlowAsyncHook("wapiflow_broken") as hook:
        with pytest.raises(WapiFlowConnectionError) as caught:
            await hook.list_templates()
    assert f"connection 'wapiflow_broken' (Base URL http://127.0.0.1:{closed_port}/external-api" in str(caught.value)


def test_a_wrong_base_url_path_names_the_connection(
    wapiflow_simulator: WapiFlowSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    payload = json.loads(wapiflow_simulator.connection_json())
    payload["host"] = wapiflow_simulator.url + "/api"
    monkeypatch.setenv("AIRFLOW_CONN_WAPIFLOW_DEFAULT", json.dumps(payload))
    ok, message = WapiFlowHook().test_connection()
    assert not ok
    assert "HTTP 404" in message
    assert f"connection 'wapiflow_default' (Base URL {wapiflow_simulator.url}/api/external-api" in message


def test_a_uri_connection_that_lost_its_http_scheme_says_so(
    wapiflow_simulator: WapiFlowSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = wapiflow_simulator
    uri = f"wapiflow://{sim.client_id}:{sim.client_secret}@127.0.0.1:{sim.bound_port}/external-api?max_retries=0"
    monkeypatch.setenv("AIRFLOW_CONN_WAPIFLOW_DEFAULT", uri)
    ok, message = WapiFlowHook().test_connection()
    assert not ok  # https:// to a plain-HTTP server
    assert "https:// was assumed" in message
    assert "set the extra scheme=http" in message
    monkeypatch.setenv("AIRFLOW_CONN_WAPIFLOW_DEFAULT", uri + "&scheme=http")
    ok, message = WapiFlowHook().test_connection()
    assert ok, message
    assert message.startswith(f"Connected to WapiFlow at {sim.base_url}")
