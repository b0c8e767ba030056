"""The simulator at scale: bulk seeding, and lookups and paging that stay right without scanning every row."""

from __future__ import annotations

import threading
import time

import pytest
from simulator_helpers import SPAIN, Api

from airflow_provider_wapiflow.testing import WapiFlowSimulator
from airflow_provider_wapiflow.testing.state import SimConfig, SimState

NEW = {"firstname": "John", "lastname": "Doe", "mobile_code": "34"}


def test_bulk_seed_creates_numbered_contacts_without_returning_rows(sim: WapiFlowSimulator) -> None:
    assert sim.bulk_seed_contacts(25, first_mobile=611000000) == 25
    contacts = sim.contacts()
    assert [c["mobile"] for c in contacts] == [str(611000000 + i) for i in range(25)]
    assert (contacts[0]["firstname"], contacts[11]["lastname"]) == ("Ana", "López")
    assert sim.seed_contacts(2, first_mobile=611000100)[1]["mobile"] == "611000101"


def test_seeding_a_taken_number_creates_nothing(sim: WapiFlowSimulator) -> None:
    sim.add_contact("Ana", "Ruiz", "34", "611000003")
    with pytest.raises(ValueError, match="611000003 already exists"):
        sim.bulk_seed_contacts(5, first_mobile=611000000)
    assert len(sim.contacts()) == 1


def test_a_number_changed_by_an_update_is_found_under_the_new_one_only(api: Api) -> None:
    sim = api.sim
    contact = sim.add_contact("Ana", "Ruiz", *SPAIN)
    moved = api.json("POST", f"contact/update/{contact['id']}", data={**NEW, "mobile": "600999888"})
    assert moved["status"] == "success"
    assert sim.get_contact(*SPAIN) is None
    assert sim.get_contact("34", "600999888")["id"] == contact["id"]
    # The old number is free again, the new one is taken.
    assert api.json("POST", "contact/store", data={**NEW, "mobile": SPAIN[1]})["status"] == "success"
    taken = api.json("POST", "contact/store", data={**NEW, "mobile": "600999888"})
    assert taken["message"] == ["The mobile has already been taken."]


def test_a_deleted_contact_frees_its_number(api: Api) -> None:
    contact = api.sim.add_contact("Ana", "Ruiz", *SPAIN)
    assert api.json("DELETE", f"contact/delete/{contact['id']}")["remark"] == "contact_deleted"
    assert api.sim.get_contact(*SPAIN) is None
    assert api.json("POST", "contact/store", data={**NEW, "mobile": SPAIN[1]})["status"] == "success"


def test_sends_find_contacts_and_conversations_through_the_indexes(sim: WapiFlowSimulator) -> None:
    sim.bulk_seed_contacts(50, first_mobile=611000000)
    conversation = sim.add_conversation("34", "611000042")
    assert sim.state.conversation_for_contact(43) is not None
    assert sim.state.conversation_for_contact(43).id == conversation["id"]
    assert sim.state.conversation_for_contact(42) is None
    with pytest.raises(ValueError, match="already has a conversation"):
        sim.add_conversation("34", "611000042")


@pytest.mark.parametrize(
    ("value", "found"),
    [(7, 7), ("7", 7), ("7abc", 7), ("7.0", 7), (" 7", 7), ("7.5", None), ("abc", None), ("1e1", 10), (True, 1)],
)
def test_ids_compare_as_mysql_numbers(value: object, found: int | None) -> None:
    state = SimState(SimConfig(seed_templates=False))
    for i in range(12):
        state.add_contact("Ana", "Ruiz", "34", str(611000000 + i))
        state.create_conversation(i + 1)
    contact = state.find_contact(value)
    conversation = state.find_conversation(value)
    assert (contact.id if contact else None, conversation.id if conversation else None) == (found, found)


def test_the_newest_first_view_pages_like_a_sorted_list() -> None:
    state = SimState(SimConfig(seed_templates=False))
    for i in range(30):
        state.add_contact("Ana", "Ruiz", "34", str(611000000 + i))
    state.delete_contact(state.contacts[17])
    view = state.contacts_newest_first()
    expected = sorted(state.contacts.values(), key=lambda c: c.id, reverse=True)
    assert len(view) == len(expected) == 29
    assert view[0:10] == expected[0:10]
    assert view[25:40] == expected[25:40]
    assert view[40:50] == []
    assert list(view) == expected
    assert (view[0], view[-1], view[5]) == (expected[0], expected[-1], expected[5])
    assert view[::2] == expected[::2]
    with pytest.raises(IndexError):
        view[29]


def test_list_pages_stay_newest_first_across_page_boundaries(api: Api) -> None:
    api.sim.bulk_seed_contacts(25, first_mobile=611000000)
    seen = []
    for page in (1, 2, 3):
        body = api.json("GET", "contact/list", params={"page": page, "paginate": 10})
        seen += [c["mobile"] for c in body["data"]["contacts"]["data"]]
    assert seen == [str(611000000 + i) for i in reversed(range(25))]
    everything = api.json("GET", "contact/list", params={"paginate": -1})["data"]["contacts"]
    assert (everything["last_page"], len(everything["data"])) == (1, 25)


def test_search_on_a_patched_server_still_matches_like_mysql(patched_api: Api) -> None:
    sim = patched_api.sim
    sim.add_contact("Ana", "Ruiz", "34", "611000001")
    sim.add_contact("Eva", "Gil", "34", "611000002")
    sim.add_contact("ANA", "Soto", "34", "622000003")

    def found(term: str) -> list[str]:
        body = patched_api.json("GET", "contact/list", params={"search": term})
        return sorted(c["mobile"] for c in body["data"]["contacts"]["data"])

    assert found("ana") == ["611000001", "622000003"]
    assert found("611000002") == ["611000002"]
    assert found("6_1%2") == ["611000002"]
    assert found("gil") == ["611000002"]


def test_latency_can_include_the_processing_time() -> None:
    """The request is processed on arrival; its answer leaves `latency` seconds after it arrived."""
    with WapiFlowSimulator(latency=0.5, latency_includes_processing=True) as sim:
        api = Api(sim)
        answers: list[tuple[float, int]] = []

        def store() -> None:
            started = time.monotonic()
            status = api.post("contact/store", data={**NEW, "mobile": SPAIN[1]}).status_code
            answers.append((time.monotonic() - started, status))

        thread = threading.Thread(target=store)
        thread.start()
        deadline = time.monotonic() + 0.4
        while sim.get_contact(*SPAIN) is None and time.monotonic() < deadline:
            time.sleep(0.01)
        created_before_the_answer = sim.get_contact(*SPAIN) is not None and not answers
        thread.join()
    assert created_before_the_answer
    assert answers[0][1] == 200
    assert answers[0][0] >= 0.5
    # A request with an injected fault keeps the plain rule: latency first, then the fault.
    with WapiFlowSimulator(latency=0.2, latency_includes_processing=True) as sim:
        sim.inject("error", status=503, times=1)
        started = time.monotonic()
        assert Api(sim).get("contact/list").status_code == 503
        assert time.monotonic() - started >= 0.2
