"""API sends and customer replies live in different conversations (docs/server-bugs.rst#bug-conversation-split)."""

from __future__ import annotations

from typing import Any

from simulator_helpers import SPAIN, Api

TO_SPAIN = {"mobile_code": SPAIN[0], "mobile": SPAIN[1]}


def _send(api: Api, text: str = "Hello") -> dict[str, Any]:
    body = api.json("POST", "inbox/send-message", data={"message": text, **TO_SPAIN})
    assert body["status"] == "success", body
    return dict(body["data"])


def _listed(api: Api) -> list[dict[str, Any]]:
    body = api.json("GET", "inbox/conversation-list", params={"search": SPAIN[1]})
    return list(body["data"]["conversation"]["data"])


def test_send_then_reply_splits_into_two_conversations(api: Api) -> None:
    sim = api.sim
    sim.add_contact("Ana", "Ruiz", *SPAIN)
    sent = _send(api)
    (api_conversation,) = sim.conversations()
    assert api_conversation["id"] == sent["conversation_id"]
    assert api_conversation["whatsapp_account_id"] == 0  # a successful send does not set it

    sim.simulate_reply(*SPAIN, "Yes")
    first, second = sim.conversations()
    assert (first["id"], first["whatsapp_account_id"]) == (api_conversation["id"], 0)
    assert second["whatsapp_account_id"] == 1
    assert second["last_message_at"] is not None
    assert first["last_message_at"] == api_conversation["last_message_at"]  # the reply did not move it
    (reply,) = sim.messages(direction="received")
    assert reply["conversation_id"] == second["id"]

    # Later API sends keep going to the oldest conversation: the API one.
    later = _send(api, "Thanks")
    assert later["conversation_id"] == first["id"]
    assert later["message"]["conversation_id"] == first["id"]
    after = {c["id"]: c for c in sim.conversations()}
    assert after[second["id"]]["last_message_at"] == second["last_message_at"]
    assert after[first["id"]]["whatsapp_account_id"] == 0
    # A second reply goes to the same account conversation, no third one.
    sim.simulate_reply(*SPAIN, "Again")
    assert len(sim.conversations()) == 2
    assert {m["conversation_id"] for m in sim.messages(direction="received")} == {second["id"]}
    # conversation-list shows both.
    assert {c["id"] for c in _listed(api)} == {first["id"], second["id"]}


def test_customer_wrote_first_shares_one_conversation(api: Api) -> None:
    sim = api.sim
    sim.add_contact("Ana", "Ruiz", *SPAIN)
    sim.simulate_reply(*SPAIN, "Hi there")
    (account_conversation,) = sim.conversations()
    assert account_conversation["whatsapp_account_id"] == 1
    sent = _send(api)
    assert sent["conversation_id"] == account_conversation["id"]  # the oldest is the account one
    sim.simulate_reply(*SPAIN, "Thanks")
    (shared,) = sim.conversations()
    assert shared["whatsapp_account_id"] == 1
    assert {m["conversation_id"] for m in sim.messages()} == {shared["id"]}


def test_auto_reply_files_into_the_account_conversation(api: Api) -> None:
    sim = api.sim
    sim.add_contact("Ana", "Ruiz", *SPAIN)
    sim.auto_reply(*SPAIN, text="Auto")
    sent = _send(api)
    conversations = {c["whatsapp_account_id"]: c for c in sim.conversations()}
    assert set(conversations) == {0, 1}
    assert conversations[0]["id"] == sent["conversation_id"]
    (reply,) = sim.messages(direction="received")
    assert reply["conversation_id"] == conversations[1]["id"]


def test_failed_send_leaves_an_empty_api_conversation_and_the_reply_still_opens_its_own(api: Api) -> None:
    sim = api.sim
    sim.add_contact("Ana", "Ruiz", *SPAIN)
    sim.meta_outage = True
    body = api.json("POST", "inbox/send-message", data={"message": "Hello", **TO_SPAIN})
    assert body["status"] == "error"
    sim.meta_outage = False
    (empty,) = sim.conversations()
    assert (empty["whatsapp_account_id"], empty["last_message_at"], empty["status"]) == (0, None, 0)
    sim.simulate_reply(*SPAIN, "Hello?")
    assert [c["whatsapp_account_id"] for c in sim.conversations()] == [0, 1]


def test_patched_server_keeps_one_conversation(patched_api: Api) -> None:
    sim = patched_api.sim
    sim.add_contact("Ana", "Ruiz", *SPAIN)
    sent = _send(patched_api)
    sim.simulate_reply(*SPAIN, "Yes")
    _send(patched_api, "Thanks")
    (only,) = sim.conversations()
    assert only["id"] == sent["conversation_id"]
    assert only["whatsapp_account_id"] == 1
    assert {m["conversation_id"] for m in sim.messages()} == {only["id"]}


def test_add_conversation_seeds_either_side(api: Api) -> None:
    sim = api.sim
    sim.add_contact("Ana", "Ruiz", *SPAIN)
    api_side = sim.add_conversation(*SPAIN, whatsapp_account_id=0)
    inbox_side = sim.add_conversation(*SPAIN, status=2)
    assert (api_side["whatsapp_account_id"], inbox_side["whatsapp_account_id"]) == (0, 1)
    sim.simulate_reply(*SPAIN, "Yes")
    (reply,) = sim.messages(direction="received")
    assert reply["conversation_id"] == inbox_side["id"]
