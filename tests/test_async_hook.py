"""WapiFlowAsyncHook against the simulator: same envelope handling and retry rule as the sync hook."""

from __future__ import annotations

import pytest

from airflow_provider_wapiflow.exceptions import SendOutcome, WapiFlowConnectionError, WapiFlowNotFoundError
from airflow_provider_wapiflow.hooks.wapiflow import WapiFlowAsyncHook
from airflow_provider_wapiflow.testing import WapiFlowSimulator

SPAIN = ("34", "600111222")


async def test_reads_with_retries(wapiflow_connection: WapiFlowSimulator) -> None:
    sim = wapiflow_connection
    sim.add_contact("Ana", "Ruiz", *SPAIN)
    conversation = sim.simulate_reply(*SPAIN, text="hola")
    sim.inject("error", status=503, times=1, path="inbox/conversation-details")
    sim.inject("drop", times=1, path="inbox/conversation-list")
    async with WapiFlowAsyncHook() as hook:
        details = await hook.get_conversation(conversation["id"])
        listed = [c async for c in hook.iter_conversations(search=SPAIN[1])]
        template = await hook.get_template("order_shipped")
        with pytest.raises(WapiFlowNotFoundError, match="Conversation not found"):
            await hook.get_conversation(999)
    assert details["contact"]["mobile"] == SPAIN[1]
    assert [c["id"] for c in listed] == [conversation["id"]]
    assert template["name"] == "order_shipped"
    assert hook.requests_made == sim.request_count() == 6


async def test_send_dropped_after_processing_is_unknown(wapiflow_connection: WapiFlowSimulator) -> None:
    sim = wapiflow_connection
    sim.add_contact("Ana", "Ruiz", *SPAIN)
    template_id = next(t["id"] for t in sim.templates() if t["name"] == "welcome")
    sim.inject("drop", times=1, process=True, path="inbox/send-template-message")
    async with WapiFlowAsyncHook() as hook:
        with pytest.raises(WapiFlowConnectionError) as caught:
            await hook.send_template_message(*SPAIN, template_id)
        assert caught.value.outcome is SendOutcome.UNKNOWN
        assert await hook.send_template_message(*SPAIN, template_id) == {"conversation_id": None}
    assert sim.request_count() == 2
    assert len(sim.messages(direction="sent")) == 2


@pytest.mark.wapiflow_simulator(patched=True)
async def test_send_message_returns_the_message(wapiflow_connection: WapiFlowSimulator) -> None:
    sim = wapiflow_connection
    sim.add_contact("Ana", "Ruiz", *SPAIN)
    async with WapiFlowAsyncHook() as hook:
        result = await hook.send_message(*SPAIN, message="Pipeline failed")
    assert result["message"]["message"] == "Pipeline failed"
    assert [m["message"] for m in sim.messages(direction="sent")] == ["Pipeline failed"]


async def test_aiohttps_own_retry_of_idempotent_requests_is_switched_off(
    wapiflow_connection: WapiFlowSimulator,
) -> None:
    import inspect

    import aiohttp

    # The switch is private: if aiohttp renames it, setting it does nothing and aiohttp silently repeats
    # a request on a dropped keep-alive connection again. So its existence and its use are checked here.
    async with aiohttp.ClientSession() as plain:
        assert plain._retry_connection is True
    assert "_retry_connection" in aiohttp.ClientSession.ATTRS
    assert "self._retry_connection and method in IDEMPOTENT_METHODS" in inspect.getsource(
        aiohttp.ClientSession._request
    )
    async with WapiFlowAsyncHook() as hook:
        session = await hook._get_session()
        assert session._retry_connection is False
