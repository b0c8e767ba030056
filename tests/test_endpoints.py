"""The endpoint methods: one definition for both hooks, each one request built by hooks/endpoints.py (no HTTP)."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from airflow_provider_wapiflow.exceptions import WapiFlowInputError
from airflow_provider_wapiflow.hooks import endpoints as api
from airflow_provider_wapiflow.hooks.wapiflow import WapiFlowAsyncHook, WapiFlowHook, _Endpoints

ENDPOINTS = [
    name for name, member in vars(_Endpoints).items() if not name.startswith("_") and inspect.isfunction(member)
]
SPAIN = ("34", "600111222")


def test_both_hooks_have_every_endpoint_method_from_the_one_definition() -> None:
    assert set(ENDPOINTS) >= {"send_message", "send_template_message", "get_template", "iter_contacts", "call"}
    for name in ENDPOINTS:
        if name == "call":
            continue
        assert getattr(WapiFlowHook, name) is getattr(_Endpoints, name), name
        assert getattr(WapiFlowAsyncHook, name) is getattr(_Endpoints, name), name
    assert "kwargs" not in inspect.signature(WapiFlowAsyncHook.send_message).parameters


def _template_page(page: int, last_page: int) -> dict[str, Any]:
    item = {"id": page, "name": f"template_{page}", "status": 1, "language_id": 1}
    return {"templates": {"current_page": page, "last_page": last_page, "data": [item]}}


class _SyncRecorder(WapiFlowHook):
    def __init__(self) -> None:
        super().__init__()
        self.sent: list[api.ApiRequest] = []

    def call(self, request: api.ApiRequest) -> dict[str, Any]:
        self.sent.append(request)
        return _template_page(int(request.params.get("page", 1)), 3) if request.safe else {"conversation_id": 7}


class _AsyncRecorder(WapiFlowAsyncHook):
    def __init__(self) -> None:
        super().__init__()
        self.sent: list[api.ApiRequest] = []

    async def call(self, request: api.ApiRequest) -> dict[str, Any]:
        self.sent.append(request)
        return _template_page(int(request.params.get("page", 1)), 3) if request.safe else {"conversation_id": 7}


@pytest.mark.parametrize(
    ("template", "pages"),
    [(1, ["1"]), (2, ["1", "2"]), ("template_1", ["1", "2", "3"])],
    ids=["id on page 1", "id on page 2", "a name reads every page"],
)
async def test_get_template_reads_the_same_pages_on_both_hooks(template: int | str, pages: list[str]) -> None:
    sync, async_ = _SyncRecorder(), _AsyncRecorder()
    assert sync.get_template(template)["name"] == (await async_.get_template(template))["name"]
    assert [r.params["page"] for r in sync.sent] == [r.params["page"] for r in async_.sent] == pages


async def test_a_send_method_is_call_of_the_endpoint_request() -> None:
    sync, async_ = _SyncRecorder(), _AsyncRecorder()
    expected = api.send_message(*SPAIN, message="hi", latitude=0, longitude=1)
    assert sync.send_message(*SPAIN, message="hi", latitude=0, longitude=1) == {"conversation_id": 7}
    assert await async_.send_message(*SPAIN, message="hi", latitude=0, longitude=1) == {"conversation_id": 7}
    assert sync.sent == async_.sent == [expected]
    template = api.send_template_message(*SPAIN, 4, body_variables=["Ana", 2])
    sync.send_template_message(*SPAIN, 4, body_variables=["Ana", 2])
    await async_.send_template_message(*SPAIN, 4, body_variables=["Ana", 2])
    assert sync.sent[-1] == async_.sent[-1] == template
    assert ("body_variables[]", "2") in template.form


@pytest.mark.parametrize(
    ("mobile_code", "mobile", "message"),
    [
        ("", "600111222", "'mobile_code' is required"),
        ("+34", "600111222", "'mobile_code' '+34' must be the country code without '+'"),
        ("34", "", "'mobile' is required"),
        ("34", "600 111 222", "'mobile' *** *** 222 must contain digits only (no '+', spaces or dashes)"),
    ],
)
def test_the_phone_of_a_request_is_checked_before_any_call(mobile_code: str, mobile: str, message: str) -> None:
    hook = _SyncRecorder()
    with pytest.raises(WapiFlowInputError) as caught:
        hook.send_message(mobile_code, mobile, "hi")
    assert str(caught.value) == message
    assert hook.sent == []
