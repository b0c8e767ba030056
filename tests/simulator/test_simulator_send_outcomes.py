"""Send outcomes at every throw site of the two send paths, over HTTP: the exact answer,
what WapiFlow stored, the conversation's ``last_message_at`` and what reached the customer's phone."""

from __future__ import annotations

import re
from typing import Any

import pytest
import requests
from simulator_helpers import SPAIN, Api, template_id

from airflow_provider_wapiflow.testing import WapiFlowSimulator
from airflow_provider_wapiflow.testing.outcomes import SEND_OUTCOME_KINDS, SendOutcome

TOKEN = "EAAGsimulatedMetaAccessToken0123456789"
GRAPH = r"https:\/\/graph.facebook.com\/v22.0\/109876543210987\/messages"
CURL_DOCS = r"(see https://curl.haxx.se/libcurl/c/libcurl-errors.html)"
TO_SPAIN = {"mobile_code": SPAIN[0], "mobile": SPAIN[1]}
SQL_TS = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"


def send(api: Api, route: str, **extra: Any) -> requests.Response:
    if route == "text":
        return api.post("inbox/send-message", data={**TO_SPAIN, "message": "Your code is 1234", **extra})
    data = {**TO_SPAIN, "template_id": template_id(api.sim, "order_shipped"), "body_variables[]": ["Ana", "A-7"]}
    return api.post("inbox/send-template-message", data={**data, **extra})


def exception(text: str) -> dict[str, Any]:
    return {"remark": "exception", "status": "error", "message": [text]}


def graph_url(route: str) -> str:
    url = "https://graph.facebook.com/v22.0/109876543210987/messages"
    return f"{url}?access_token={TOKEN}" if route == "template" else url


CURL = {
    "curl_6": "cURL error 6: Could not resolve host: graph.facebook.com",
    "curl_7": "cURL error 7: Failed to connect to graph.facebook.com port 443 after 3 ms: Connection refused",
    "curl_28": "cURL error 28: Operation timed out after 30001 milliseconds with 0 bytes received",
    "curl_52": "cURL error 52: Empty reply from server",
    "curl_56": "cURL error 56: Recv failure: Connection reset by peer",
}
PLAIN_TEXTS = {
    ("meta_rejection", "template"): (
        "body: number of localizable_params (1) does not match the expected number of params (2)"
    ),
    ("meta_rejection", "text"): "(#131009) Parameter value is not valid",
    ("meta_rate_limit", "template"): (
        "Message failed to send because there were too many messages sent from this phone number in a short "
        "period of time"
    ),
    ("meta_rate_limit", "text"): "(#130429) Rate limit hit",
    ("message_sending_failed", "template"): "Message sending failed",
    ("message_sending_failed", "text"): "Message sending failed",
    ("something_went_wrong", "template"): "Something went wrong",
    ("something_went_wrong", "text"): "Something went wrong",
    ("undefined_array_key", "template"): 'Undefined array key "messages"',
    ("undefined_array_key", "text"): 'Undefined array key "messages"',
}
# kind -> (message row stored, last_message_at moved, Meta delivered by default)
SIDE_EFFECTS = {
    "curl_6": (False, False, False),
    "curl_7": (False, False, False),
    "curl_28": (False, False, True),
    "curl_52": (False, False, True),
    "curl_56": (False, False, True),
    "meta_rejection": (False, False, False),
    "meta_rate_limit": (False, False, False),
    "message_sending_failed": (False, False, True),
    "something_went_wrong": (False, False, True),
    "undefined_array_key": (False, False, True),
    "messages_insert_sql": (False, False, True),
    "conversation_update_sql": (True, False, True),
    "php_500": (False, False, True),
    "php_error_html": (False, False, True),
}


def check_answer(kind: str, route: str, response: requests.Response) -> None:
    if kind == "php_500":
        assert (response.status_code, response.headers["content-type"]) == (500, "application/json")
        assert response.text == '{"message":"Server Error"}'
        return
    if kind == "php_error_html":
        assert response.status_code == 500
        assert response.headers["content-type"].startswith("text/html")
        assert "<title>Server Error</title>" in response.text
        return
    assert response.status_code == 200
    body = response.json()
    if kind in CURL:
        assert body == exception(f"{CURL[kind]} {CURL_DOCS} for {graph_url(route)}")
        # The real server escapes slashes; the leaked token is only on the template path.
        assert GRAPH in response.text
        assert ("access_token" in response.text) is (route == "template")
    elif (kind, route) in PLAIN_TEXTS:
        assert body == exception(PLAIN_TEXTS[kind, route])
    elif kind == "messages_insert_sql":
        (text,) = body["message"]
        assert body["remark"] == "exception"
        columns = "`user_id`, `whatsapp_account_id`, `whatsapp_message_id`, `conversation_id`, "
        columns += "`type`, `message`, `message_type`, `location`" if route == "text" else "`template_id`, `type`, "
        prefix = (
            "SQLSTATE[HY000]: General error: 1205 Lock wait timeout exceeded; try restarting transaction "
            "(Connection: mysql, SQL: insert into `messages` ("
        )
        assert text.startswith(prefix + columns), text
        # For text sends the SQL carries the message body.
        assert ("Your code is 1234" in text) is (route == "text")
        assert re.search(r"values \(1, 1, wamid\.HBgL\w{44}, 1, ", text), text
    else:
        (text,) = body["message"]
        assert re.fullmatch(
            r"SQLSTATE\[HY000\]: General error: 1205 Lock wait timeout exceeded; try restarting transaction "
            rf"\(Connection: mysql, SQL: update `conversations` set `last_message_at` = {SQL_TS}, "
            rf"`conversations`.`updated_at` = {SQL_TS} where `id` = 1\)",
            text,
        ), text


@pytest.mark.parametrize("route", ["text", "template"])
@pytest.mark.parametrize("kind", SEND_OUTCOME_KINDS)
def test_each_outcome_answers_and_acts_as_the_real_server(api: Api, kind: str, route: str) -> None:
    sim = api.sim
    sim.add_contact("Ana", "Ruiz", *SPAIN)
    rule = sim.inject_send_outcome(kind, route=route)
    assert isinstance(rule, SendOutcome)

    check_answer(kind, route, send(api, route))

    stored, moved, delivered = SIDE_EFFECTS[kind]
    assert rule.fired == 1
    messages = sim.messages()
    assert len(messages) == int(stored)
    (conversation,) = sim.conversations()  # docs/server-bugs.rst#bug-empty-conversations
    assert (conversation["last_message_at"] is not None) is moved
    assert conversation["status"] == 0
    deliveries = sim.deliveries()
    assert len(deliveries) == int(delivered)
    if delivered:
        (delivery,) = deliveries
        assert (delivery["e164"], delivery["route"], delivery["outcome"], delivery["stored"]) == (
            "+34600111222",
            route,
            kind,
            stored,
        )
        if route == "text":
            assert (delivery["kind"], delivery["body"], delivery["template_id"]) == ("text", "Your code is 1234", None)
        else:
            assert delivery["kind"] == "template"
            assert delivery["body"] == "Hi Ana, your order A-7 has shipped."
            assert delivery["template_id"] == template_id(sim, "order_shipped")
        if stored:
            assert delivery["message_id"] == messages[0]["id"]
            assert delivery["whatsapp_message_id"] == messages[0]["whatsapp_message_id"]
        else:
            assert delivery["message_id"] is None
    assert sim.delivery_counts() == ({"+34600111222": 1} if delivered else {})

    # Used up: the next send is an ordinary one.
    assert send(api, route).status_code == 200
    assert len(sim.messages()) == int(stored) + 1
    assert sim.conversations()[0]["last_message_at"] is not None
    assert sim.delivery_counts() == {"+34600111222": 1 + int(delivered)}


@pytest.mark.parametrize("kind", ["curl_28", "curl_52", "curl_56", "something_went_wrong", "php_500"])
def test_delivered_false_where_either_is_possible(api: Api, kind: str) -> None:
    api.sim.add_contact("Ana", "Ruiz", *SPAIN)
    rule = api.sim.inject_send_outcome(kind, delivered=False)
    assert rule.delivered is False
    check_answer(kind, "text", send(api, "text"))
    assert api.sim.deliveries() == []
    assert api.sim.messages() == []


@pytest.mark.parametrize(
    ("kind", "forced"),
    [
        ("curl_6", False),
        ("curl_7", False),
        ("meta_rejection", False),
        ("meta_rate_limit", False),
        ("messages_insert_sql", True),
        ("conversation_update_sql", True),
    ],
)
def test_delivered_is_forced_where_only_one_is_possible(api: Api, kind: str, forced: bool) -> None:
    api.sim.add_contact("Ana", "Ruiz", *SPAIN)
    rule = api.sim.inject_send_outcome(kind, delivered=not forced, route="template")
    assert rule.delivered is forced
    send(api, "template")
    assert len(api.sim.deliveries()) == int(forced)


def test_times_after_and_route(api: Api) -> None:
    sim = api.sim
    sim.add_contact("Ana", "Ruiz", *SPAIN)
    rule = sim.inject_send_outcome("curl_7", times=2, after=1, route="template")
    outcomes = []
    for route in ("text", "template", "text", "template", "template", "template"):
        outcomes.append((route, send(api, route).json()["message"][0][:13]))
    assert outcomes == [
        ("text", "Message sent "),
        ("template", "Undefined var"),  # the real server's answer to a successful template send
        ("text", "Message sent "),
        ("template", "cURL error 7:"),
        ("template", "cURL error 7:"),
        ("template", "Undefined var"),
    ]
    assert (rule.fired, rule.exhausted) == (2, True)
    assert sim.delivery_counts() == {"+34600111222": 4}


def test_sends_refused_before_meta_do_not_count(api: Api) -> None:
    sim = api.sim
    rule = sim.inject_send_outcome("curl_28")
    assert send(api, "text").json()["message"][0].startswith("SQLSTATE[23000]")  # not a contact
    assert rule.fired == 0
    sim.add_contact("Ana", "Ruiz", *SPAIN)
    assert send(api, "text").json()["message"][0].startswith("cURL error 28")
    assert rule.fired == 1


def test_remove_and_clear(api: Api) -> None:
    sim = api.sim
    sim.add_contact("Ana", "Ruiz", *SPAIN)
    rule = sim.inject_send_outcome("curl_6", times=5)
    sim.remove_fault(rule)
    assert send(api, "text").json()["status"] == "success"
    sim.inject_send_outcome("curl_6", times=5)
    sim.inject("delay", seconds=0.01, times=5)
    sim.clear_faults()
    assert send(api, "text").json()["status"] == "success"
    assert sim.faults.active() == []
    assert sim.send_outcomes.active() == []


def test_curl_28_with_a_real_delay(api: Api) -> None:
    sim = api.sim
    sim.add_contact("Ana", "Ruiz", *SPAIN)
    sim.inject_send_outcome("curl_28", delay=3.0, delivered=True)
    with pytest.raises(requests.ReadTimeout):
        api.post("inbox/send-message", data={**TO_SPAIN, "message": "Hi"}, timeout=0.5)
    # Meta delivered while WapiFlow waited; nothing is stored, and other requests are not held up.
    assert [d["outcome"] for d in sim.deliveries()] == ["curl_28"]
    assert api.get("contact/list").json()["status"] == "success"
    assert sim.messages() == []


def test_media_upload_failure_names_the_media_endpoint(api: Api) -> None:
    sim = api.sim
    sim.add_contact("Ana", "Ruiz", *SPAIN)
    sim.inject_send_outcome("curl_6")
    files = {"document": ("invoice.pdf", b"%PDF-1.4 test", "application/pdf")}
    body = api.post("inbox/send-message", data=TO_SPAIN, files=files).json()
    assert body == exception(f"{CURL['curl_6']} {CURL_DOCS} for https://graph.facebook.com/v22.0/109876543210987/media")
    assert sim.deliveries() == []


def test_patched_server_ends_sends_the_same_way(patched_api: Api) -> None:
    sim = patched_api.sim
    sim.add_contact("Ana", "Ruiz", *SPAIN)
    sim.inject_send_outcome("curl_7", route="template")
    body = send(patched_api, "template").json()
    assert body["message"][0].startswith("cURL error 7")
    assert sim.conversations() == []  # a fixed server leaves no empty conversation
    sim.inject_send_outcome("conversation_update_sql", route="template")
    assert send(patched_api, "template").json()["message"][0].startswith("SQLSTATE[HY000]")
    (message,) = sim.messages()
    assert sim.conversations()[0]["last_message_at"] is None
    assert sim.deliveries()[0]["message_id"] == message["id"]


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"kind": "curl_99"}, "unknown send outcome 'curl_99'"),
        ({"kind": "curl_6", "route": "media"}, "route must be None, 'text' or 'template'"),
        ({"kind": "curl_6", "times": 0}, "times must be at least 1"),
        ({"kind": "curl_6", "after": -1}, "after and delay must not be negative"),
        ({"kind": "curl_6", "probability": 1.5}, "probability must be between 0 and 1"),
    ],
)
def test_bad_rules_are_refused(sim: WapiFlowSimulator, kwargs: dict[str, Any], error: str) -> None:
    kind = kwargs.pop("kind")
    with pytest.raises(ValueError, match=re.escape(error)):
        sim.inject_send_outcome(kind, **kwargs)
    assert sim.send_outcomes.active() == []


def test_every_send_or_a_random_share(api: Api) -> None:
    sim = api.sim
    sim.add_contact("Ana", "Ruiz", *SPAIN)
    always = sim.inject_send_outcome("curl_52", times=None, route="text")
    answers = [send(api, "text").json()["message"][0][:13] for _ in range(4)]
    assert answers == ["cURL error 52"] * 4
    assert (always.fired, always.exhausted) == (4, False)
    sim.remove_fault(always)

    never = sim.inject_send_outcome("curl_6", times=None, probability=0.0)
    assert send(api, "text").json()["status"] == "success"
    assert never.fired == 0
    sim.remove_fault(never)

    some = sim.inject_send_outcome("curl_7", times=None, probability=0.5)
    statuses = [send(api, "text").json()["status"] for _ in range(40)]
    assert some.fired == statuses.count("error")
    assert 0 < some.fired < 40  # seeded: the same share on every run
    assert len(sim.deliveries(mobile="600111222")) == 4 + 1 + statuses.count("success")
