"""Fault injection (error, html, drop before/after processing, delay), latency and the request log."""

from __future__ import annotations

import threading
import time

import pytest
import requests
from simulator_helpers import SPAIN, Api

from airflow_provider_wapiflow.testing import Fault, WapiFlowSimulator
from airflow_provider_wapiflow.testing.faults import FaultRegistry

NEW = {"firstname": "John", "lastname": "Doe", "mobile_code": SPAIN[0], "mobile": SPAIN[1]}


def test_error_fires_for_the_next_n_matching_requests(api: Api) -> None:
    fault = api.sim.inject("error", times=2, status=503, retry_after=3, path="inbox/template-list")
    assert isinstance(fault, Fault)
    assert api.get("contact/list").status_code == 200  # another path is not affected
    for _ in range(2):
        response = api.get("inbox/template-list")
        assert response.status_code == 503
        assert response.headers["retry-after"] == "3"
        assert response.json() == {"message": "Service Unavailable"}
    assert api.get("inbox/template-list").status_code == 200
    assert fault.fired == 2
    log = api.sim.requests()
    assert [(r["path"], r["status"], r["fault"], r["processed"]) for r in log] == [
        ("contact/list", 200, None, True),
        ("inbox/template-list", 503, "error", False),
        ("inbox/template-list", 503, "error", False),
        ("inbox/template-list", 200, None, True),
    ]
    assert [r["remark"] for r in log] == ["contact-list", None, None, "inbox"]


def test_429_with_retry_after(api: Api) -> None:
    api.sim.inject("error", status=429, retry_after=0.5, times=1)
    response = api.get("contact/list")
    assert (response.status_code, response.headers["retry-after"]) == (429, "0.5")
    assert response.json() == {"message": "Too Many Attempts."}
    api.sim.inject("error", status=500, times=1, body="oops")
    response = api.get("contact/list")
    assert (response.status_code, response.text) == (500, "oops")


def test_error_without_processing_changes_nothing(api: Api) -> None:
    api.sim.inject("error", status=500, times=1, path="contact/store")
    assert api.post("contact/store", data=NEW).status_code == 500
    assert api.sim.contacts() == []


def test_error_after_processing_changed_the_state(api: Api) -> None:
    api.sim.inject("error", status=500, times=1, process=True, method="POST", path="/external-api/contact/store")
    assert api.post("contact/store", data=NEW).status_code == 500
    assert api.sim.get_contact(*SPAIN) is not None
    (entry,) = api.sim.requests()
    assert (entry["status"], entry["remark"], entry["processed"], entry["fault"]) == (
        500,
        "contact_save",
        True,
        "error",
    )


def test_html_proxy_page(api: Api) -> None:
    api.sim.inject("html", times=1)
    response = api.get("contact/list")
    assert response.status_code == 502
    assert response.headers["content-type"] == "text/html"
    assert "<h1>502 Bad Gateway</h1>" in response.text
    with pytest.raises(ValueError, match="Expecting value"):
        response.json()
    api.sim.inject("html", status=504, times=1, process=True, path="contact/store")
    assert api.post("contact/store", data=NEW).status_code == 504
    assert len(api.sim.contacts()) == 1


def test_drop_before_processing_leaves_the_state_unchanged(api: Api) -> None:
    api.sim.inject("drop", times=1, path="contact/store")
    with pytest.raises(requests.ConnectionError):
        api.post("contact/store", data=NEW)
    assert api.sim.contacts() == []
    (entry,) = api.sim.requests()
    assert (entry["status"], entry["fault"], entry["processed"], entry["remark"]) == (None, "drop", False, None)
    # The server is fine afterwards.
    assert api.post("contact/store", data=NEW).json()["status"] == "success"


def test_drop_after_processing_changed_the_state(api: Api) -> None:
    api.sim.add_contact("Ana", "Ruiz", *SPAIN)
    api.sim.inject("drop", times=1, process=True, path="inbox/send-message")
    with pytest.raises(requests.ConnectionError):
        api.post("inbox/send-message", data={"message": "hello", "mobile_code": SPAIN[0], "mobile": SPAIN[1]})
    assert [m["message"] for m in api.sim.messages(direction="sent")] == ["hello"]
    (entry,) = api.sim.requests()
    assert (entry["status"], entry["fault"], entry["processed"], entry["remark"]) == (None, "drop", True, "success")


def test_delay_makes_a_client_time_out_and_still_processes(api: Api) -> None:
    api.sim.inject("delay", seconds=0.6, times=1, path="contact/store")
    with pytest.raises(requests.ReadTimeout):
        api.post("contact/store", data=NEW, timeout=0.2)
    assert api.sim.contacts() == []  # the slow server has not started on it yet
    deadline = time.monotonic() + 3
    while api.sim.get_contact(*SPAIN) is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert api.sim.get_contact(*SPAIN) is not None


def test_delay_with_process_holds_back_an_answer_already_acted_on(api: Api) -> None:
    api.sim.inject("delay", seconds=0.5, times=1, process=True)
    with pytest.raises(requests.ReadTimeout):
        api.post("contact/store", data=NEW, timeout=0.2)
    assert api.sim.get_contact(*SPAIN) is not None
    started = time.monotonic()
    assert api.get("contact/list").status_code == 200
    assert time.monotonic() - started < 0.3


def test_delay_answers_late(api: Api) -> None:
    api.sim.inject("delay", seconds=0.2, times=1)
    started = time.monotonic()
    assert api.get("contact/list").json()["remark"] == "contact-list"
    assert time.monotonic() - started >= 0.2
    assert api.sim.requests()[0]["fault"] == "delay"


def test_latency_does_not_serialise_requests(api: Api) -> None:
    api.sim.latency = 0.3
    durations: list[float] = []

    def call() -> None:
        started = time.monotonic()
        assert api.get("contact/list").status_code == 200
        durations.append(time.monotonic() - started)

    started = time.monotonic()
    threads = [threading.Thread(target=call) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(durations) == 5
    assert min(durations) >= 0.3
    assert time.monotonic() - started < 1.2


def test_method_and_path_matching_and_removal(api: Api) -> None:
    sim = api.sim
    fault = sim.inject("error", method="post", path="contact")
    assert api.get("contact/list").status_code == 200
    assert api.post("contact/store", data=NEW).status_code == 503
    assert api.post("inbox/send-message", data={}).status_code == 200
    sim.remove_fault(fault)
    assert api.post("contact/store", data=NEW).status_code == 200
    sim.inject("error")
    sim.clear_faults()
    assert api.get("contact/list").status_code == 200


def test_probability_one_and_zero(api: Api) -> None:
    api.sim.inject("error", probability=0.0)
    api.sim.inject("error", status=500, probability=1.0, times=1)
    assert [api.get("contact/list").status_code for _ in range(3)] == [500, 200, 200]


def test_probability_is_seeded() -> None:
    def pattern(seed: int) -> list[bool]:
        registry = FaultRegistry(seed)
        registry.add(Fault("error", probability=0.5))
        return [registry.pick("GET", "contact/list") is not None for _ in range(40)]

    assert pattern(7) == pattern(7)
    assert pattern(7) != pattern(8)
    assert 5 < sum(pattern(7)) < 35


def test_invalid_faults() -> None:
    with pytest.raises(ValueError, match="unknown fault kind"):
        Fault("explode")
    with pytest.raises(ValueError, match="probability"):
        Fault("error", probability=2)


def test_request_log_and_counts(api: Api) -> None:
    sim = api.sim
    api.get("contact/list", params={"page": "2", "paginate": "5"})
    api.post("contact/store", json=NEW)
    requests.get(f"{sim.url}/extern-api/contact/list", timeout=5)
    log = sim.requests()
    assert log[0] == {
        "method": "GET",
        "path": "contact/list",
        "query": {"page": "2", "paginate": "5"},
        "status": 200,
        "remark": "contact-list",
        "fault": None,
        "processed": True,
        "input": {"page": "2", "paginate": "5"},
    }
    assert log[1]["input"] == NEW
    assert log[2]["path"] == "/extern-api/contact/list"
    assert sim.request_count() == 3
    assert sim.request_count(method="post") == 1
    assert sim.request_count(path_prefix="contact") == 2
    assert sim.request_count(path_prefix="/external-api/contact/list") == 1
    log[0]["status"] = 999  # a copy
    assert sim.requests()[0]["status"] == 200
    sim.clear_requests()
    assert sim.requests() == []


def test_stop_does_not_wait_for_a_long_delay() -> None:
    sim = WapiFlowSimulator().start()
    sim.inject("delay", seconds=30)
    errors: list[BaseException] = []

    def call() -> None:
        try:
            requests.get(f"{sim.base_url}/contact/list", timeout=10)
        except requests.RequestException as exc:
            errors.append(exc)

    thread = threading.Thread(target=call)
    thread.start()
    time.sleep(0.1)
    started = time.monotonic()
    sim.stop()
    thread.join(5)
    assert time.monotonic() - started < 2
    assert len(errors) == 1
