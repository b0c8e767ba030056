"""Issue 15 point 13: the admin endpoints under ``/_simulator/`` and the CLI options that let a DAG with a
sensor finish under ``airflow standalone`` (seeded contacts, auto-replies, a ``reply`` command)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from simulator_helpers import HEADERS, SPAIN, Api
from test_simulator_cli_plugin import free_port

CLI = [sys.executable, "-m", "airflow_provider_wapiflow.testing"]


def test_admin_reply_stores_a_customer_message(api: Api) -> None:
    sim = api.sim
    sim.add_contact("Ana", "Ruiz", *SPAIN)
    answer = requests.post(
        f"{sim.url}/_simulator/reply", data={"mobile_code": "34", "mobile": "600111222", "text": "Yes"}, timeout=5
    )
    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "ok"
    assert body["conversation"]["contact"]["mobile"] == "600111222"
    assert body["conversation"]["last_message_at"] is not None
    (message,) = sim.messages(direction="received")
    assert (message["message"], message["mobile"]) == ("Yes", "600111222")

    by_phone = requests.post(f"{sim.url}/_simulator/reply", json={"phone": "+34600111222", "text": "Again"}, timeout=5)
    assert by_phone.status_code == 200
    assert [m["message"] for m in sim.messages(direction="received")] == ["Yes", "Again"]
    assert sim.requests() == []  # admin calls are not WapiFlow API requests
    assert sim.deliveries() == []  # a reply is inbound: nothing reached a phone


@pytest.mark.parametrize(
    ("payload", "status", "error"),
    [
        ({"mobile_code": "34", "mobile": "600000000"}, 404, "+34 600000000 is not a contact"),
        ({"text": "Yes"}, 400, "give mobile_code and mobile (or phone, in E.164 form)"),
        ({"phone": "+34 600-111"}, 400, "'phone' must be an E.164 number such as +34600111222, got '+34 600-111'"),
        ({"phone": "+34699999999"}, 404, "+34699999999 is not a contact"),
    ],
)
def test_admin_reply_errors(api: Api, payload: dict[str, str], status: int, error: str) -> None:
    api.sim.add_contact("Ana", "Ruiz", *SPAIN)
    answer = requests.post(f"{api.sim.url}/_simulator/reply", data=payload, timeout=5)
    assert answer.status_code == status
    assert error in answer.json()["error"]
    assert api.sim.messages() == []


def test_admin_reads_and_bypasses_throttles(api: Api) -> None:
    sim = api.sim
    sim.add_contact("Ana", "Ruiz", *SPAIN)
    api.json("POST", "inbox/send-message", data={"mobile_code": "34", "mobile": "600111222", "message": "Hi"})
    sim.storm(60)
    assert api.get("contact/list").status_code == 429
    deliveries = requests.get(f"{sim.url}/_simulator/deliveries", timeout=5)
    assert deliveries.status_code == 200
    assert deliveries.json() == {"deliveries": sim.deliveries()}
    assert requests.post(f"{sim.url}/_simulator/reply", data={"phone": "+34600111222"}, timeout=5).status_code == 200
    messages = requests.get(f"{sim.url}/_simulator/messages", timeout=5).json()["messages"]
    assert [(m["direction"], m["message"]) for m in messages] == [("sent", "Hi"), ("received", "Yes")]
    unknown = requests.get(f"{sim.url}/_simulator/nothing", timeout=5)
    assert unknown.status_code == 404
    assert "POST /_simulator/reply" in unknown.json()["error"]


class Cli:
    def __init__(self, process: subprocess.Popen[str], port: int) -> None:
        self.process = process
        self.site = f"http://127.0.0.1:{port}"
        self.base_url = f"{self.site}/external-api"
        self.output: list[str] = []

    def messages(self) -> list[dict[str, Any]]:
        return list(requests.get(f"{self.site}/_simulator/messages", timeout=5).json()["messages"])


@pytest.fixture
def cli() -> Iterator[Cli]:
    port = free_port()
    args = [
        *CLI,
        "--port",
        str(port),
        "--contact",
        "+34600111222:Ana:Ruiz",
        "--contact",
        "+525512345678",
        "--seed-contacts",
        "2",
        "--auto-reply-after",
        "0.5",
        "--auto-reply-text",
        "Got it, thanks",
    ]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    running = Cli(process, port)
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            running.output.append(line)
            if "Ctrl-C" in line:
                break
        yield running
    finally:
        process.terminate()
        process.communicate(timeout=15)
    assert process.returncode == 0


def test_cli_seeds_contacts_and_auto_replies(cli: Cli) -> None:
    output = "".join(cli.output)
    assert "contacts:      4" in output
    assert "auto-reply:    'Got it, thanks', 0.5 s after each delivered message" in output
    assert f"curl -d mobile_code=34 -d mobile=600111222 -d text=Yes {cli.site}/_simulator/reply" in output
    contacts = requests.get(f"{cli.base_url}/contact/list", headers=HEADERS, timeout=5).json()["data"]["contacts"]
    by_mobile = {c["mobile"]: c for c in contacts["data"]}
    assert contacts["total"] == 4
    assert (by_mobile["600111222"]["firstname"], by_mobile["600111222"]["lastname"]) == ("Ana", "Ruiz")
    assert by_mobile["5512345678"]["mobile_code"] == "52"

    sent = requests.post(
        f"{cli.base_url}/inbox/send-message",
        headers=HEADERS,
        data={"mobile_code": "34", "mobile": "600111222", "message": "Your order shipped"},
        timeout=5,
    )
    assert sent.json()["status"] == "success"
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not any(m["direction"] == "received" for m in cli.messages()):
        time.sleep(0.1)
    received = [m for m in cli.messages() if m["direction"] == "received"]
    assert [(m["mobile"], m["message"]) for m in received] == [("600111222", "Got it, thanks")]


def test_cli_reply_command(cli: Cli) -> None:
    done = subprocess.run(
        [*CLI, "reply", "--url", cli.site, "+525512345678", "Hola"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("reply stored in conversation ")
    received = [m for m in cli.messages() if m["direction"] == "received"]
    assert [(m["mobile_code"], m["mobile"], m["message"]) for m in received] == [("52", "5512345678", "Hola")]

    refused = subprocess.run(
        [*CLI, "reply", "--url", cli.site, "+34699999999"], capture_output=True, text=True, timeout=60
    )
    assert refused.returncode == 1
    assert "reply failed: +34699999999 is not a contact" in refused.stderr


def test_cli_reply_without_a_simulator() -> None:
    done = subprocess.run([*CLI, "reply", "--port", str(free_port()), "+34600111222"], capture_output=True, text=True)
    assert done.returncode == 1
    assert "no simulator at http://127.0.0.1:" in done.stderr


def test_cli_refuses_a_bad_contact() -> None:
    done = subprocess.run([*CLI, "--port", "0", "--contact", "600111222"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "--contact '600111222'" in done.stderr


def test_cli_rate_limit() -> None:
    port = free_port()
    process = subprocess.Popen(
        [*CLI, "--port", str(port), "--rate-limit", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        while "Ctrl-C" not in process.stdout.readline():
            pass
        url = f"http://127.0.0.1:{port}/external-api/contact/list"
        with requests.Session() as session:
            statuses = [session.get(url, headers=HEADERS, timeout=5) for _ in range(3)]
        assert [r.status_code for r in statuses][:2] == [200, 200]
        assert statuses[2].status_code == 429
        assert statuses[2].headers["x-ratelimit-limit"] == "2"
    finally:
        process.terminate()
        process.communicate(timeout=15)
    assert process.returncode == 0
