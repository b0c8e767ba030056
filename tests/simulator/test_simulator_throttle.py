"""Rate-limit storms and a per-second rate limit: 429 with Retry-After, answered before processing."""

from __future__ import annotations

import time

import pytest
from simulator_helpers import SPAIN, Api

TOO_MANY = {"message": "Too Many Attempts."}
NEW = {"firstname": "John", "lastname": "Doe", "mobile_code": SPAIN[0], "mobile": SPAIN[1]}


def test_a_storm_refuses_everything_before_processing(api: Api) -> None:
    sim = api.sim
    sim.add_contact("Ana", "Ruiz", "34", "600999888")
    sim.storm(60, retry_after=2.5)
    for method, path, data in (
        ("POST", "contact/store", NEW),
        ("POST", "inbox/send-message", {"mobile_code": "34", "mobile": "600999888", "message": "Hi"}),
        ("GET", "contact/list", None),
    ):
        response = api.call(method, path, data=data)
        assert (response.status_code, response.headers["retry-after"]) == (429, "2.5")
        assert response.headers["content-type"] == "application/json"
        assert response.json() == TOO_MANY
    assert sim.get_contact(*SPAIN) is None
    assert sim.deliveries() == []
    assert sim.messages() == []
    assert [(r["status"], r["fault"], r["processed"], r["remark"]) for r in sim.requests()] == [
        (429, "storm", False, None)
    ] * 3
    sim.storm(0)  # over
    assert api.post("contact/store", data=NEW).json()["status"] == "success"


def test_a_storm_ends_by_itself(api: Api) -> None:
    api.sim.storm(0.3)
    assert api.get("contact/list").status_code == 429
    time.sleep(0.4)
    assert api.get("contact/list").status_code == 200


def test_rate_limit_refuses_requests_above_n_per_second(api: Api) -> None:
    sim = api.sim
    sim.rate_limit(3)
    statuses = []
    started = time.monotonic()
    for _ in range(6):
        statuses.append(api.get("contact/list"))
    assert time.monotonic() - started < 1.0, "the six requests must fall in one window for this test"
    assert [r.status_code for r in statuses] == [200, 200, 200, 429, 429, 429]
    refused = statuses[3]
    assert refused.json() == TOO_MANY
    assert 0 < float(refused.headers["retry-after"]) <= 1.0
    assert (refused.headers["x-ratelimit-limit"], refused.headers["x-ratelimit-remaining"]) == ("3", "0")
    assert [r["processed"] for r in sim.requests()] == [True] * 3 + [False] * 3
    assert [r["fault"] for r in sim.requests()][3:] == ["rate_limit"] * 3
    time.sleep(float(statuses[-1].headers["retry-after"]) + 0.05)
    assert api.get("contact/list").status_code == 200  # the window has room again
    sim.rate_limit(None)
    assert all(api.get("contact/list").status_code == 200 for _ in range(5))


def test_rate_limited_sends_are_not_sent(api: Api) -> None:
    sim = api.sim
    sim.add_contact("Ana", "Ruiz", *SPAIN)
    sim.rate_limit(1, retry_after=1)
    data = {"mobile_code": SPAIN[0], "mobile": SPAIN[1], "message": "Hi"}
    assert api.post("inbox/send-message", data=data).status_code == 200
    refused = api.post("inbox/send-message", data=data)
    assert (refused.status_code, refused.headers["retry-after"]) == (429, "1")
    assert sim.delivery_counts() == {"+34600111222": 1}
    assert len(sim.messages()) == 1


def test_clear_faults_ends_storm_and_rate_limit(api: Api) -> None:
    api.sim.storm(60)
    api.sim.rate_limit(1)
    api.sim.clear_faults()
    assert [api.get("contact/list").status_code for _ in range(3)] == [200, 200, 200]


@pytest.mark.parametrize("value", [0, -1, 1.5, True])
def test_bad_rate_limits_are_refused(api: Api, value: object) -> None:
    with pytest.raises(ValueError, match="per_second must be a positive integer or None"):
        api.sim.rate_limit(value)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="must not be negative"):
        api.sim.storm(-1)
