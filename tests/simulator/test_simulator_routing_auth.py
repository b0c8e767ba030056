"""Routing, the envelope and JSON encoding, maintenance mode and the nine-row auth chain."""

from __future__ import annotations

import asyncio
import json
from collections.abc import MutableMapping
from typing import Any

import pytest
import requests
from simulator_helpers import HEADERS, Api

from airflow_provider_wapiflow.testing import WapiFlowSimulator

ROUTES = [
    ("GET", "contact/list"),
    ("POST", "contact/store"),
    ("POST", "contact/update/1"),
    ("DELETE", "contact/delete/1"),
    ("GET", "inbox/conversation-list"),
    ("GET", "inbox/template-list"),
    ("POST", "inbox/change-conversation-status/1"),
    ("GET", "inbox/conversation-details/1"),
    ("POST", "inbox/send-message"),
    ("POST", "inbox/send-template-message"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_route_exists_and_requires_credentials(sim: WapiFlowSimulator, method: str, path: str) -> None:
    response = requests.request(method, f"{sim.base_url}/{path}", timeout=5)
    assert response.status_code == 401
    assert response.json() == {"remark": "Unauthorized", "status": "error", "message": ["The client id is required"]}


def test_unknown_route_is_a_json_404_even_without_credentials(sim: WapiFlowSimulator) -> None:
    response = requests.get(f"{sim.base_url}/xyz", timeout=5)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert response.text == (
        '{"remark":"not_found","status":"error","message":["The route external-api\\/xyz could not be found."]}'
    )
    # A route path with a missing or extra segment is unknown too.
    for path in ("contact/update", "contact/update/1/2", "inbox"):
        response = requests.post(f"{sim.base_url}/{path}", headers=HEADERS, timeout=5)
        assert response.status_code == 404
        assert response.json()["message"] == [f"The route external-api/{path} could not be found."]


@pytest.mark.parametrize(
    ("method", "path", "supported"),
    [
        ("GET", "contact/store", "POST"),
        ("POST", "contact/list", "GET, HEAD"),
        ("GET", "contact/delete/3", "DELETE"),
        ("PUT", "inbox/send-message", "POST"),
    ],
)
def test_wrong_method_is_an_http_200_exception_before_auth(
    sim: WapiFlowSimulator, method: str, path: str, supported: str
) -> None:
    response = requests.request(method, f"{sim.base_url}/{path}", timeout=5)
    assert response.status_code == 200
    assert response.json() == {
        "remark": "exception",
        "status": "error",
        "message": [
            f"The {method} method is not supported for route external-api/{path}. Supported methods: {supported}."
        ],
    }


def test_head_and_options(api: Api) -> None:
    head = api.call("HEAD", "contact/list")
    assert head.status_code == 200
    assert head.content == b""
    options = requests.options(f"{api.sim.base_url}/contact/store", timeout=5)
    assert options.status_code == 200
    assert options.headers["allow"] == "POST"


def test_the_documentation_typo_extern_api_is_a_plain_404(sim: WapiFlowSimulator) -> None:
    html = requests.get(f"{sim.url}/extern-api/contact/list", headers=HEADERS, timeout=5)
    assert html.status_code == 404
    assert html.headers["content-type"].startswith("text/html")
    assert "Not Found" in html.text
    as_json = requests.get(
        f"{sim.url}/extern-api/contact/list", headers={**HEADERS, "Accept": "application/json"}, timeout=5
    )
    assert as_json.status_code == 404
    assert as_json.text == '{"message":"The route extern-api\\/contact\\/list could not be found."}'


def test_maintenance_redirects_before_auth_but_not_unknown_routes(sim: WapiFlowSimulator) -> None:
    sim.maintenance = True
    response = requests.get(f"{sim.base_url}/contact/list", allow_redirects=False, timeout=5)
    assert response.status_code == 302
    assert response.headers["location"] == f"{sim.url}/maintenance-mode"
    assert requests.get(f"{sim.base_url}/contact/list", timeout=5).url == f"{sim.url}/maintenance-mode"
    assert requests.get(f"{sim.base_url}/nope", timeout=5).status_code == 404
    sim.maintenance = False
    assert requests.get(f"{sim.base_url}/contact/list", headers=HEADERS, timeout=5).status_code == 200


def _auth(sim: WapiFlowSimulator, headers: dict[str, str]) -> tuple[int, Any]:
    response = requests.get(f"{sim.base_url}/inbox/template-list", headers=headers, timeout=5)
    return response.status_code, response.json()


def test_auth_rows_1_to_4(sim: WapiFlowSimulator) -> None:
    unauthorized = {"remark": "Unauthorized", "status": "error"}
    assert _auth(sim, {}) == (401, {**unauthorized, "message": ["The client id is required"]})
    assert _auth(sim, {"client-id": ""}) == (401, {**unauthorized, "message": ["The client id is required"]})
    assert _auth(sim, {"client-id": "x"}) == (401, {**unauthorized, "message": ["The client secret is required"]})
    assert _auth(sim, {"client-id": "x", "client-secret": "y"}) == (
        401,
        {**unauthorized, "message": ["Invalid credentials"]},
    )
    assert _auth(sim, {**HEADERS, "client-secret": "wapiflow-test-secret-2"})[1]["message"] == ["Invalid credentials"]
    sim.user_active = False
    assert _auth(sim, HEADERS) == (
        401,
        {
            **unauthorized,
            "message": [
                "The credentials provided do not match the ones associated with this user in our records. "
                "Please verify the credentials and try again."
            ],
        },
    )
    # Credentials are checked before the user's state.
    assert _auth(sim, {"client-id": "x", "client-secret": "y"})[1]["message"] == ["Invalid credentials"]


def test_header_names_are_case_insensitive(sim: WapiFlowSimulator) -> None:
    headers = {"Client-Id": HEADERS["client-id"], "CLIENT-SECRET": HEADERS["client-secret"]}
    assert _auth(sim, headers)[0] == 200


def test_credential_values_compare_like_mysql(sim: WapiFlowSimulator) -> None:
    """The lookup is a SQL WHERE under a case-insensitive collation."""
    assert _auth(sim, {k: v.upper() for k, v in HEADERS.items()})[0] == 200


def test_auth_row_6_ip_whitelist_uses_the_peer_address() -> None:
    with WapiFlowSimulator(allowed_ips=("10.1.2.3",)) as sim:
        status, body = _auth(sim, {**HEADERS, "X-Forwarded-For": "10.1.2.3"})
    assert status == 401
    assert body == {
        "remark": "Unauthorized",
        "status": "error",
        "message": [
            "Access to this API endpoint is restricted to IP addresses that have been explicitly whitelisted.",
            "In order to access this API endpoint, please add your IP address (127.0.0.1) to the white list from "
            "the user dashboard.",
        ],
    }


def test_auth_row_5_no_remote_addr(sim: WapiFlowSimulator) -> None:
    """A TCP peer always has an address, so this row is driven through the ASGI app directly."""
    from airflow_provider_wapiflow.testing.app import WapiFlowApp

    app = WapiFlowApp(sim.state)
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "GET",
        "path": "/external-api/contact/list",
        "raw_path": b"/external-api/contact/list",
        "query_string": b"",
        "headers": [(k.encode(), v.encode()) for k, v in HEADERS.items()] + [(b"host", b"wapiflow.test")],
        "client": None,
        "server": ("wapiflow.test", 80),
        "scheme": "http",
        "root_path": "",
    }
    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 401
    assert json.loads(sent[1]["body"])["message"] == ["Your ip address is not valid"]


@pytest.mark.parametrize(
    ("plan", "remark", "message"),
    [
        (
            "none",
            "subscription_required",
            "You cannot proceed without an active plan. Please purchase a plan to continue",
        ),
        (
            "expired",
            "subscription_required",
            "Your plan has expired. Please renew or purchase a new plan to regain access.",
        ),
        ("no_api", "not_available", "Your current plan does not support API access. Please upgrade your plan."),
    ],
)
def test_auth_rows_7_to_9_are_http_200(sim: WapiFlowSimulator, plan: str, remark: str, message: str) -> None:
    sim.set_plan(plan)
    assert _auth(sim, HEADERS) == (200, {"remark": remark, "status": "error", "message": [message]})
    sim.set_plan("active")
    assert _auth(sim, HEADERS)[1]["status"] == "success"


def test_plan_checks_come_after_the_ip_check() -> None:
    with WapiFlowSimulator(allowed_ips=("10.1.2.3",)) as sim:
        sim.set_plan("none")
        assert _auth(sim, HEADERS)[0] == 401
        with pytest.raises(ValueError, match="plan must be one of"):
            sim.set_plan("gold")


def test_envelope_encoding_is_laravels(api: Api) -> None:
    api.sim.add_contact("Zoë", "O\u2019Neil", "34", "600000001")
    response = api.get("contact/list")
    assert response.headers["content-type"] == "application/json"
    text = response.text
    assert text.startswith(
        '{"remark":"contact-list","status":"success","message":["Contact data fetched successfully."],'
    )
    assert '"firstname":"Zo\\u00eb"' in text
    assert '"lastname":"O\\u2019Neil"' in text
    assert '"label":"\\u2039"' in text
    assert f'"path":"{api.sim.url}/external-api/contact/list"'.replace("/", "\\/") in text
    assert "/" not in text.replace("\\/", "")
    assert list(response.json()) == ["remark", "status", "message", "data"]


def test_message_and_data_are_omitted_when_empty(api: Api) -> None:
    contact = api.sim.add_contact("Ana", "Ruiz", "34", "600000001")
    body = api.json("DELETE", f"contact/delete/{contact['id']}")
    assert body == {"remark": "contact_deleted", "status": "success", "message": ["Contact deleted successfully"]}


def test_site_pages(sim: WapiFlowSimulator) -> None:
    assert "WapiFlow simulator" in requests.get(sim.url, timeout=5).text
    assert requests.get(f"{sim.url}/maintenance-mode", timeout=5).status_code == 200
    assert requests.get(f"{sim.url}/external-api", timeout=5).status_code == 404
