"""Start/stop, the connection JSON, seeding and inspection helpers, inbound replies and auto-replies."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
import requests
from simulator_helpers import HEADERS, MEXICO, SPAIN, Api, template_id

from airflow_provider_wapiflow.testing import WapiFlowSimulator


def test_start_stop_really_stops_and_can_restart() -> None:
    sim = WapiFlowSimulator()
    with pytest.raises(RuntimeError, match="not running"):
        _ = sim.base_url
    sim.start()
    url = sim.base_url
    assert url.startswith("http://127.0.0.1:")
    assert url.endswith("/external-api")
    assert sim.running
    with pytest.raises(RuntimeError, match="already running"):
        sim.start()
    assert requests.get(f"{url}/contact/list", headers=HEADERS, timeout=5).status_code == 200
    sim.stop()
    assert not sim.running
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{url}/contact/list", headers=HEADERS, timeout=5)
    sim.stop()  # twice is fine
    with sim:  # and it starts again, keeping its state
        assert requests.get(f"{sim.base_url}/contact/list", headers=HEADERS, timeout=5).status_code == 200
    assert not sim.running


def test_context_manager_and_fixed_port() -> None:
    with WapiFlowSimulator() as first:
        port = first.bound_port
        with pytest.raises(OSError, match="in use"), WapiFlowSimulator(port=port):
            pass
    with WapiFlowSimulator(port=port) as again:
        assert again.url == f"http://127.0.0.1:{port}"
        assert "real" in repr(again)


def test_invalid_server_version() -> None:
    with pytest.raises(ValueError, match="server_version"):
        WapiFlowSimulator(server_version="3.0")


def test_connection_json(sim: WapiFlowSimulator) -> None:
    assert json.loads(sim.connection_json()) == {
        "conn_type": "wapiflow",
        "host": sim.base_url,
        "login": "wapiflow-test-client",
        "password": "wapiflow-test-secret",
        "extra": {"timeout": 10, "max_retries": 3, "backoff_base": 0.05, "backoff_max": 0.5},
    }
    extra = json.loads(sim.connection_json("other", timeout=1, proxy="none"))["extra"]
    assert extra == {"timeout": 1, "max_retries": 3, "backoff_base": 0.05, "backoff_max": 0.5, "proxy": "none"}
    assert (sim.client_id, sim.client_secret, sim.patched, sim.server_version) == (
        "wapiflow-test-client",
        "wapiflow-test-secret",
        False,
        "2.3",
    )


def test_custom_credentials() -> None:
    with WapiFlowSimulator(client_id="id-1", client_secret="s3cret") as sim:
        headers = {"client-id": "id-1", "client-secret": "s3cret"}
        assert requests.get(f"{sim.base_url}/contact/list", headers=headers, timeout=5).status_code == 200
        assert requests.get(f"{sim.base_url}/contact/list", headers=HEADERS, timeout=5).status_code == 401
        assert json.loads(sim.connection_json())["login"] == "id-1"


def test_importing_the_package_is_cheap() -> None:
    code = (
        "import sys, airflow_provider_wapiflow.testing as t, airflow_provider_wapiflow.testing.pytest_plugin;"
        "heavy = [m for m in ('uvicorn', 'starlette') if m in sys.modules];"
        "assert not heavy, heavy; print(t.WapiFlowSimulator.__name__, t.Fault.__name__)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["WapiFlowSimulator", "Fault"]


def test_seeding_and_inspection(sim: WapiFlowSimulator) -> None:
    contact = sim.add_contact("Ana", "Ruiz", *SPAIN, city="Madrid")
    assert contact["address"]["city"] == "Madrid"
    with pytest.raises(ValueError, match="already exists"):
        sim.add_contact("Ana", "Ruiz", *SPAIN)
    with pytest.raises(ValueError, match="not a contact"):
        sim.add_conversation(*MEXICO)
    conversation = sim.add_conversation(*SPAIN, status=3, last_message_at="2026-05-01T08:00:00Z")
    assert (conversation["status"], conversation["last_message_at"]) == (3, "2026-05-01T08:00:00.000000Z")
    with pytest.raises(ValueError, match="already has a conversation"):
        sim.add_conversation(*SPAIN)
    assert sim.set_contact_blocked(contact["id"])["is_blocked"] == 1
    assert sim.contacts()[0]["blocked_by"] == 1
    with pytest.raises(ValueError, match="blocked"):
        sim.simulate_reply(*SPAIN)
    assert [c["id"] for c in sim.conversations()] == [conversation["id"]]
    returned = sim.contacts()
    returned[0]["firstname"] = "changed"  # deep copies
    assert sim.contacts()[0]["firstname"] == "Ana"
    assert len(sim.seed_contacts(3, mobile_code="52")) == 3
    assert sim.snapshot()["contacts"][-1]["mobile_code"] == "52"


def test_templates_seed(sim: WapiFlowSimulator) -> None:
    by_name = {t["name"]: t for t in sim.templates()}
    assert by_name["order_shipped"]["body"] == "Hi {{1}}, your order {{2}} has shipped."
    assert by_name["order_shipped"]["status"] == 1
    assert "{{" not in by_name["welcome"]["body"]
    assert by_name["order_update"]["header_format"] == "TEXT"
    assert [by_name[n]["status"] for n in ("summer_sale", "free_money", "old_newsletter")] == [0, 2, 3]
    with WapiFlowSimulator(seed_templates=False) as bare:
        assert bare.templates() == []
        added = bare.add_template("hello", "Hi {{1}}", header="Hello {{1}}")
        assert (added["id"], added["header"], added["header_format"]) == (1, {"text": "Hello {{1}}"}, "TEXT")


def test_reset_state_goes_back_to_the_seed(sim: WapiFlowSimulator) -> None:
    sim.add_contact("Ana", "Ruiz", *SPAIN)
    sim.add_template("extra", "x")
    sim.set_plan("expired")
    sim.contact_limit = 3
    sim.meta_outage = True
    sim.has_whatsapp_account = False
    sim.user_active = False
    sim.maintenance = True
    sim.reset_state()
    assert sim.contacts() == []
    assert len(sim.templates()) == 8
    knobs = {name: getattr(sim, name) for name in ("plan", "contact_limit", "meta_outage", "has_whatsapp_account")}
    assert knobs == {"plan": "active", "contact_limit": None, "meta_outage": False, "has_whatsapp_account": True}
    assert (sim.user_active, sim.maintenance) == (True, False)


def test_simulate_reply_is_an_inbound_message(api: Api) -> None:
    sim = api.sim
    with pytest.raises(ValueError, match="not a contact"):
        sim.simulate_reply(*SPAIN)
    sim.add_contact("Ana", "Ruiz", *SPAIN)
    conversation = sim.simulate_reply(*SPAIN, text="hola")
    assert conversation["contact"]["firstname"] == "Ana"
    assert conversation["last_message_at"] is not None
    (message,) = sim.messages(direction="received")
    assert (message["type"], message["message"], message["conversation_id"]) == (2, "hola", conversation["id"])
    listed = api.json("GET", "inbox/conversation-list")["data"]["conversation"]["data"]
    assert listed[0]["last_message_at"] == conversation["last_message_at"]


def test_auto_reply_right_after_a_send(api: Api) -> None:
    sim = api.sim
    sim.add_contact("Ana", "Ruiz", *SPAIN)
    sim.add_contact("Eva", "Gil", *MEXICO)
    sim.auto_reply(*SPAIN, text="Yes please")
    data = {"template_id": template_id(sim, "welcome")}
    api.post("inbox/send-template-message", data={**data, "mobile_code": SPAIN[0], "mobile": SPAIN[1]})
    api.post("inbox/send-template-message", data={**data, "mobile_code": MEXICO[0], "mobile": MEXICO[1]})
    assert [(m["mobile"], m["message"]) for m in sim.messages(direction="received")] == [(SPAIN[1], "Yes please")]
    # A failed send gets no reply.
    sim.meta_outage = True
    api.post("inbox/send-message", data={"message": "x", "mobile_code": SPAIN[0], "mobile": SPAIN[1]})
    assert len(sim.messages(direction="received")) == 1
    with pytest.raises(ValueError, match="both"):
        sim.auto_reply(mobile_code="34")


def test_auto_reply_to_anyone_after_a_delay(api: Api) -> None:
    sim = api.sim
    sim.add_contact("Ana", "Ruiz", *SPAIN)
    sim.auto_reply(text="STOP", delay=0.15)
    api.post("inbox/send-message", data={"message": "hi", "mobile_code": SPAIN[0], "mobile": SPAIN[1]})
    assert sim.messages(direction="received") == []
    deadline = time.monotonic() + 3
    while not sim.messages(direction="received") and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [m["message"] for m in sim.messages(direction="received")] == ["STOP"]
    sim.clear_auto_replies()
    api.post("inbox/send-message", data={"message": "hi", "mobile_code": SPAIN[0], "mobile": SPAIN[1]})
    time.sleep(0.2)
    assert len(sim.messages(direction="received")) == 1


def test_stop_cancels_pending_auto_replies() -> None:
    with WapiFlowSimulator() as sim:
        sim.add_contact("Ana", "Ruiz", *SPAIN)
        sim.auto_reply(text="late", delay=0.3)
        data = {"message": "hi", "mobile_code": SPAIN[0], "mobile": SPAIN[1]}
        assert requests.post(f"{sim.base_url}/inbox/send-message", headers=HEADERS, data=data, timeout=5).ok
    time.sleep(0.4)
    assert sim.messages(direction="received") == []


def test_agent_side_helpers(sim: WapiFlowSimulator) -> None:
    sim.add_contact("Ana", "Ruiz", *SPAIN)
    conversation = sim.add_conversation(*SPAIN)
    assert sim.set_conversation_status(conversation["id"], 1)["status"] == 1
    assert sim.add_note(conversation["id"], "done")["notes"][0]["note"] == "done"
    with pytest.raises(ValueError, match="no conversation"):
        sim.add_note(99, "x")
