"""``meta_outage_for``: a Meta outage that hits part of a batch, then passes."""

from __future__ import annotations

import pytest
from simulator_helpers import MEXICO, SPAIN, Api, template_id

CURL = "cURL error 6: Could not resolve host: graph.facebook.com"


def remarks(api: Api, count: int) -> list[str]:
    """Send ``count`` templates to Spain and return the first message of each answer."""
    data = {"mobile_code": SPAIN[0], "mobile": SPAIN[1], "template_id": template_id(api.sim, "welcome")}
    return [api.json("POST", "inbox/send-template-message", data=data)["message"][0][: len(CURL)] for _ in range(count)]


def test_the_outage_starts_after_some_sends_and_passes(api: Api) -> None:
    api.sim.add_contact("Ana", "Ruiz", *SPAIN)
    api.sim.meta_outage_for(2, after=1)
    assert remarks(api, 5) == [
        "Undefined variable $conversationId",
        CURL,
        CURL,
        "Undefined variable $conversationId",
        "Undefined variable $conversationId",
    ]
    assert len(api.sim.messages(direction="sent")) == 3
    assert api.sim.meta_outage is False


def test_only_sends_that_reach_meta_use_the_outage_up(api: Api) -> None:
    api.sim.add_contact("Ana", "Ruiz", *SPAIN)
    api.sim.meta_outage_for(1)
    not_a_contact = {"mobile_code": MEXICO[0], "mobile": MEXICO[1], "message": "hi"}
    assert "SQLSTATE[23000]" in api.json("POST", "inbox/send-message", data=not_a_contact)["message"][0]
    to_spain = {"mobile_code": SPAIN[0], "mobile": SPAIN[1], "message": "hi"}
    assert api.json("POST", "inbox/send-message", data=to_spain)["message"][0].startswith(CURL)
    assert api.json("POST", "inbox/send-message", data=to_spain)["remark"] == "success"


def test_reset_ends_it_and_bad_counts_are_refused(api: Api) -> None:
    api.sim.meta_outage_for(3)
    api.sim.reset_state()
    api.sim.add_contact("Ana", "Ruiz", *SPAIN)
    assert remarks(api, 1) == ["Undefined variable $conversationId"]
    with pytest.raises(ValueError, match="must not be negative"):
        api.sim.meta_outage_for(-1)
