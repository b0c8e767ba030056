"""UpsertContactsOperator against the simulator (real-server mode) over real HTTP, through real DAG runs."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

import pytest
from support import task_context

from airflow_provider_wapiflow.contacts import ContactRow
from airflow_provider_wapiflow.exceptions import WapiFlowError, WapiFlowInputError, WapiFlowPlanError
from airflow_provider_wapiflow.hooks.wapiflow import WapiFlowAsyncHook
from airflow_provider_wapiflow.models import mask_phone
from airflow_provider_wapiflow.operators.contacts import UpsertContactsOperator
from airflow_provider_wapiflow.testing import WapiFlowSimulator

if TYPE_CHECKING:
    from dag_runs import DagRunResult

DAGS = "contacts_upsert_dags.py"
ALLOWED = "firstname, lastname, phone, mobile_code, mobile, city, state, post_code, address, ref"
OPTIONALS = ("city", "state", "post_code", "address")

RunDag = Callable[..., "DagRunResult"]


def existing_mobile(i: int) -> str:
    return f"6001{i:05d}"


def new_mobile(i: int) -> str:
    return f"6002{i:05d}"


def seed_existing(sim: WapiFlowSimulator, count: int) -> None:
    """Existing contacts E0..E<count-1>: every one has a city, the even ones a post code too."""
    for i in range(count):
        sim.add_contact(
            f"Ana{i}", "Ruiz", "34", existing_mobile(i), city="Madrid", post_code="28001" if i % 2 == 0 else ""
        )
    sim.clear_requests()


def stored(sim: WapiFlowSimulator, mobile: str) -> dict[str, str]:
    contact = sim.get_contact("34", mobile)
    assert contact is not None, mobile
    return {
        "firstname": contact["firstname"],
        "lastname": contact["lastname"],
        **{name: contact["address"][name] for name in OPTIONALS},
    }


def fields(firstname: str, lastname: str, **optionals: str) -> dict[str, str]:
    return {"firstname": firstname, "lastname": lastname, **{n: optionals.get(n, "") for n in OPTIONALS}}


def scenario_rows() -> list[dict[str, Any]]:
    """
    40 rows over 30 existing contacts: 2 repeats, 20 unchanged, 8 changed, 10 new.

    The unchanged rows omit the city every existing contact has; some give the phone as E.164, some
    as mobile_code + mobile (the mobile as a number, as a warehouse column may hold it).
    """
    rows: list[dict[str, Any]] = [
        {"firstname": "Old", "lastname": "Name", "phone": f"+34{existing_mobile(5)}"},  # E5 again later
        {"firstname": "Early", "lastname": "Draft", "phone": f"+34{new_mobile(0)}"},  # N0 again later
    ]
    for i in range(20):
        row: dict[str, Any] = {"firstname": f"Ana{i}", "lastname": "Ruiz"}
        if i % 2:
            row.update(mobile_code="34", mobile=int(existing_mobile(i)))
        else:
            row["phone"] = f"+34 {existing_mobile(i)}"
        if i % 4 == 0:
            row["post_code"] = "28001"  # equal to what WapiFlow has
        if i == 1:
            row["firstname"] = "  Ana1 "  # padding from a CHAR column: WapiFlow trims, so still equal
        rows.append(row)
    changed = [
        {"lastname": "Ruiz-Nuevo"},  # E20: the city (and post code) it omits must survive the update
        {"city": "Sevilla"},  # E21
        {"post_code": "41001"},  # E22
        {"city": ""},  # E23: "" blanks the city
        {"address": "Calle Mayor 1"},  # E24
        {"state": "Andalucía"},  # E25
        {"firstname": "  Beatriz  "},  # E26
        {"lastname": "Gómez", "city": "Madrid"},  # E27
    ]
    for offset, change in enumerate(changed):
        i = 20 + offset
        rows.append({"firstname": f"Ana{i}", "lastname": "Ruiz", "phone": f"+34{existing_mobile(i)}", **change})
    for i in range(10):
        row = {"firstname": f"Nuevo{i}", "lastname": "Cliente", "mobile_code": "34", "mobile": new_mobile(i)}
        if i == 0:
            row.update(city="Bilbao", state="País Vasco", post_code="48001", address="Gran Vía 2")
        rows.append(row)
    assert len(rows) == 40
    return rows


def expected_final_state() -> dict[str, dict[str, str]]:
    expected = {}
    for i in range(30):
        expected[existing_mobile(i)] = fields(f"Ana{i}", "Ruiz", city="Madrid", post_code="28001" if i % 2 == 0 else "")
    expected[existing_mobile(20)] = fields("Ana20", "Ruiz-Nuevo", city="Madrid", post_code="28001")
    expected[existing_mobile(21)] = fields("Ana21", "Ruiz", city="Sevilla")
    expected[existing_mobile(22)] = fields("Ana22", "Ruiz", city="Madrid", post_code="41001")
    expected[existing_mobile(23)] = fields("Ana23", "Ruiz")
    expected[existing_mobile(24)] = fields("Ana24", "Ruiz", city="Madrid", post_code="28001", address="Calle Mayor 1")
    expected[existing_mobile(25)] = fields("Ana25", "Ruiz", city="Madrid", state="Andalucía")
    expected[existing_mobile(26)] = fields("Beatriz", "Ruiz", city="Madrid", post_code="28001")
    expected[existing_mobile(27)] = fields("Ana27", "Gómez", city="Madrid")
    for i in range(10):
        expected[new_mobile(i)] = fields(f"Nuevo{i}", "Cliente")
    expected[new_mobile(0)] = fields(
        "Nuevo0", "Cliente", city="Bilbao", state="País Vasco", post_code="48001", address="Gran Vía 2"
    )
    return expected


def assert_state(sim: WapiFlowSimulator, expected: dict[str, dict[str, str]]) -> None:
    assert len(sim.contacts()) == len(expected)
    for mobile, want in expected.items():
        assert stored(sim, mobile) == want, mobile


def failed_try_summary(dag_id: str) -> Any:
    """The summary a failing try keeps under XCom key ``summary``."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.query(XComModel).filter(XComModel.dag_id == dag_id, XComModel.key == "summary").one()
        return XComModel.deserialize_value(row)


def execute(**kwargs: Any) -> dict[str, Any]:
    """Run the operator outside a DAG (for corner cases that need to reach into the run)."""
    result: dict[str, Any] = UpsertContactsOperator(task_id="upsert", **kwargs).execute(task_context())
    return result


# --- row validation: exact messages, and not one request --------------------------------------------

INVALID_ROWS = [
    (
        {"frist_name": "Ana", "firstname": "Ana", "lastname": "Ruiz", "phone": "+34600100001"},
        [f"row {{n}} of the input: unknown key 'frist_name' (allowed: {ALLOWED})"],
    ),
    ({"firstname": "Ana", "phone": "+34600100001"}, ["row {n} of the input: 'lastname' is required"]),
    ({"firstname": " ", "lastname": None, "phone": "+34600100001"}, [
        "row {n} of the input: 'firstname' is required",
        "row {n} of the input: 'lastname' is required",
    ]),
    ({"firstname": "A" * 41, "lastname": "Ruiz", "phone": "+34600100001"}, [
        "row {n} of the input: 'firstname' is longer than 40 characters (41)",
    ]),
    ({"firstname": 7, "lastname": "Ruiz", "phone": "+34600100001"}, [
        "row {n} of the input: 'firstname' must be a string, got int",
    ]),
    ({"firstname": "Ana", "lastname": "Ruiz", "phone": "+3460011122"}, [
        "row {n} of the input: 'phone' +*******122 is too short",
    ]),
    ({"firstname": "Ana", "lastname": "Ruiz", "phone": "+34500100001"}, [
        "row {n} of the input: 'phone' +********001 is not a valid number for its country",
    ]),
    ({"firstname": "Ana", "lastname": "Ruiz", "phone": "600100001"}, [
        "row {n} of the input: 'phone' ******001 must be in E.164 form with a leading '+' and country code "
        "(or set default_region, e.g. 'ES', to read national numbers)",
    ]),
    ({"firstname": "Ana", "lastname": "Ruiz", "mobile_code": "34", "mobile": "600-100"}, [
        "row {n} of the input: 'mobile' ***-100 must contain digits only",
    ]),
    ({"firstname": "Ana", "lastname": "Ruiz", "mobile_code": "34"}, [
        "row {n} of the input: 'mobile' is missing: give 'phone' (E.164) or 'mobile_code' + 'mobile'",
    ]),
    ({"firstname": "Ana", "lastname": "Ruiz"}, [
        "row {n} of the input: a phone is required: give 'phone' (E.164) or 'mobile_code' + 'mobile'",
    ]),
    ({"firstname": "Ana", "lastname": "Ruiz", "phone": "+34600100001", "city": ["Madrid"]}, [
        "row {n} of the input: 'city' must be a string, got list",
    ]),
    ("+34600100001", ["row {n} of the input: a contact must be a mapping of fields, got str"]),
]  # fmt: skip


def test_every_invalid_row_is_reported_together_before_any_request(sim: WapiFlowSimulator) -> None:
    good = {"firstname": "Ana", "lastname": "Ruiz", "phone": "+34600100009"}
    rows = [good] + [row for row, _ in INVALID_ROWS]
    with pytest.raises(WapiFlowInputError) as caught:
        execute(contacts=rows)
    # rows count from 1: the good row is row 1
    expected = [line.format(n=n) for n, (_, lines) in enumerate(INVALID_ROWS, start=2) for line in lines]
    assert caught.value.messages == expected
    assert str(caught.value).startswith(
        f"{len(INVALID_ROWS)} of {len(rows)} contact rows are invalid (max_failures allows 0); "
        "nothing was written:\n  row 2 of the input: unknown key 'frist_name'"
    )
    assert "600100009" not in str(caught.value)
    assert sim.request_count() == 0
    assert sim.contacts() == []


@pytest.mark.parametrize(("row", "lines"), INVALID_ROWS)
def test_contact_row_parse_names_the_row_and_the_key(row: Any, lines: list[str]) -> None:
    with pytest.raises(WapiFlowInputError) as caught:
        ContactRow.parse(row, 3)
    assert caught.value.messages == [line.format(n=3) for line in lines]


def test_contact_row_parse_normalises() -> None:
    row = ContactRow.parse(
        {"firstname": " Ana ", "lastname": "Ruiz", "mobile_code": 34, "mobile": 600100001, "post_code": 28001},
        0,
    )
    assert (row.firstname, row.phone.e164, row.key) == ("Ana", "+34600100001", ("34", "600100001"))
    assert row.optionals() == {"city": None, "state": None, "post_code": "28001", "address": None}


@pytest.mark.parametrize(
    ("contacts", "message"),
    [
        ({"firstname": "Ana"}, "'contacts' must be a list of contact dicts, got dict"),
        ("not a list", "'contacts' rendered to text that is not a list; pass the XComArg itself"),
    ],
)
def test_contacts_must_be_a_list(sim: WapiFlowSimulator, contacts: Any, message: str) -> None:
    with pytest.raises(WapiFlowInputError, match=message):
        execute(contacts=contacts)
    assert sim.request_count() == 0


def test_operator_arguments_are_checked_at_parse_time() -> None:
    with pytest.raises(WapiFlowInputError, match="'concurrency' must be an integer from 1 to 64"):
        UpsertContactsOperator(task_id="u", contacts=[], concurrency=0)
    with pytest.raises(WapiFlowInputError, match=r"'max_failure_rate' must be a number from 0\.0 to 1\.0"):
        UpsertContactsOperator(task_id="u", contacts=[], max_failure_rate=1.5)
    with pytest.raises(WapiFlowInputError, match="'page_size' must be a positive integer"):
        UpsertContactsOperator(task_id="u", contacts=[], page_size=0)


# --- the nightly sync, through a real DAG run ----------------------------------------------------------


def test_dag_run_upserts_with_the_fewest_requests(sim: WapiFlowSimulator, run_dag: RunDag) -> None:
    seed_existing(sim, 30)
    result = run_dag(DAGS, dag_id="contacts_upsert", run_conf={"rows": scenario_rows()})

    assert result.succeeded, result.task_states
    summary = result.xcoms["upsert"]
    # 30 contacts at 7 per page: 5 list pages, then one write per new or changed contact.
    minimum = 5 + 10 + 8
    assert summary == {
        "created": 10,
        "updated": 8,
        "unchanged": 20,
        "skipped": 0,
        "duplicates": 2,
        "failed": [],
        "failed_count": 0,
        "requests": minimum,
        "dry_run": False,
    }
    assert sim.request_count() == minimum
    assert sim.request_count(method="GET", path_prefix="contact/list") == 5
    assert sim.request_count(path_prefix="contact/store") == 10
    assert sim.request_count(path_prefix="contact/update") == 8
    assert_state(sim, expected_final_state())

    # The next night nothing changed: the list is read (until every phone is found) and nothing written.
    sim.clear_requests()
    again = execute(contacts=scenario_rows(), page_size=7)
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 38)
    assert again["requests"] == sim.request_count() == 6  # 40 contacts now, the oldest wanted on page 6
    assert sim.request_count(method="POST") == 0


def test_dry_run_reads_but_writes_nothing(sim: WapiFlowSimulator, run_dag: RunDag) -> None:
    seed_existing(sim, 30)
    before = {c["mobile"]: stored(sim, c["mobile"]) for c in sim.contacts()}
    result = run_dag(DAGS, dag_id="contacts_dry_run", run_conf={"rows": scenario_rows()})

    assert result.succeeded, result.task_states
    summary = result.xcoms["upsert"]
    assert summary["dry_run"] is True
    assert (summary["created"], summary["updated"], summary["unchanged"], summary["duplicates"]) == (10, 8, 20, 2)
    assert summary["requests"] == sim.request_count() == sim.request_count(method="GET") == 5
    assert {c["mobile"]: stored(sim, c["mobile"]) for c in sim.contacts()} == before


def test_update_existing_off_only_creates(sim: WapiFlowSimulator, run_dag: RunDag) -> None:
    seed_existing(sim, 30)
    result = run_dag(DAGS, dag_id="contacts_update_existing_off", run_conf={"rows": scenario_rows()})

    assert result.succeeded, result.task_states
    summary = result.xcoms["upsert"]
    assert (summary["created"], summary["updated"], summary["unchanged"], summary["skipped"]) == (10, 0, 20, 8)
    assert summary["requests"] == sim.request_count() == 5 + 10
    expected = expected_final_state()
    for i in range(30):  # every existing contact as it was
        expected[existing_mobile(i)] = fields(f"Ana{i}", "Ruiz", city="Madrid", post_code="28001" if i % 2 == 0 else "")
    assert_state(sim, expected)


def _rows_with_two_invalid() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = [
        {"firstname": f"Nuevo{i}", "lastname": "Cliente", "phone": f"+34{new_mobile(i)}"} for i in range(8)
    ]
    rows.insert(2, {"firstname": "Ana", "lastname": "Ruiz", "phone": "+3460011122"})
    rows.insert(5, {"firstname": "Ana", "lastnme": "Ruiz", "phone": f"+34{new_mobile(50)}"})
    return rows


def test_max_failures_ratio_skips_invalid_rows_and_writes_the_rest(sim: WapiFlowSimulator, run_dag: RunDag) -> None:
    result = run_dag(DAGS, dag_id="contacts_max_failures_ratio", run_conf={"rows": _rows_with_two_invalid()})

    assert result.succeeded, result.task_states  # 2 of 10 rows = 0.2 allowed
    summary = result.xcoms["upsert"]
    assert summary["created"] == 8
    assert summary["failed_count"] == 2
    assert summary["failed"] == [
        {"row": 3, "contact": "+*******122", "error": "'phone' +*******122 is too short"},
        {
            "row": 6,
            "contact": mask_phone(f"+34{new_mobile(50)}"),
            "error": f"unknown key 'lastnme' (allowed: {ALLOWED}); 'lastname' is required",
        },
    ]
    assert summary["requests"] == sim.request_count() == 1 + 8  # an empty list is one page
    assert sorted(c["mobile"] for c in sim.contacts()) == [new_mobile(i) for i in range(8)]


def test_max_failures_count_too_low_fails_before_any_write(sim: WapiFlowSimulator, run_dag: RunDag) -> None:
    result = run_dag(DAGS, dag_id="contacts_max_failures_count", run_conf={"rows": _rows_with_two_invalid()})

    assert result.task_states["upsert"] == "failed"
    assert sim.request_count() == 0
    assert sim.contacts() == []


def test_write_failures_finish_the_batch_then_fail_the_task(sim: WapiFlowSimulator) -> None:
    rows = [{"firstname": f"Nuevo{i}", "lastname": "Cliente", "phone": f"+34{new_mobile(i)}"} for i in range(6)]
    # WapiFlow stores the first create, then the answer is a 500: its outcome is unknown.
    sim.inject("error", status=500, times=1, process=True, path="contact/store")
    with pytest.raises(WapiFlowError) as caught:
        execute(contacts=rows, concurrency=1)
    message = str(caught.value)
    assert message.startswith("1 of 6 contact rows failed, more than max_failures allows (0); created 5, updated 0")
    assert "the outcome is unknown and the write was not repeated" in message
    assert sim.request_count() == 1 + 6  # not retried
    assert len(sim.contacts()) == 6  # the unknown one was in fact stored, and only once

    # The next run reads the list and finds it: nothing is created twice.
    sim.clear_requests()
    summary = execute(contacts=rows)
    assert (summary["created"], summary["unchanged"], summary["requests"]) == (0, 6, 1)
    assert len(sim.contacts()) == 6


def test_max_failures_counts_write_failures_too(sim: WapiFlowSimulator) -> None:
    rows = [{"firstname": f"Nuevo{i}", "lastname": "Cliente", "phone": f"+34{new_mobile(i)}"} for i in range(4)]
    sim.inject("error", status=500, times=1, process=False, path="contact/store")
    summary = execute(contacts=rows, concurrency=1, max_failures=1)
    assert (summary["created"], summary["failed_count"]) == (3, 1)
    assert summary["failed"][0]["row"] == 1
    assert summary["failed"][0]["contact"] == mask_phone(f"+34{new_mobile(0)}")
    assert summary["failed"][0]["error"].startswith("create: WapiFlow answered POST contact/store with HTTP 500")


# --- scale-out, races, plan limits ---------------------------------------------------------------------


def test_mapped_over_three_batches(sim: WapiFlowSimulator, run_dag: RunDag) -> None:
    seed_existing(sim, 12)
    new = [{"firstname": f"Nuevo{i}", "lastname": "Cliente", "phone": f"+34{new_mobile(i)}"} for i in range(6)]
    same = [{"firstname": f"Ana{i}", "lastname": "Ruiz", "phone": f"+34{existing_mobile(i)}"} for i in range(12)]
    changed = [{**row, "lastname": "Cambiado"} for row in same]
    batches = [new[:3], [changed[0], changed[1], same[2], new[3]], [new[4], new[5], changed[6]]]
    result = run_dag(DAGS, dag_id="contacts_mapped", run_conf={"batches": batches})

    assert result.succeeded, result.task_states
    summaries = [result.xcoms[f"upsert[{i}]"] for i in range(3)]
    assert [(s["created"], s["updated"], s["unchanged"]) for s in summaries] == [(3, 0, 0), (1, 2, 1), (2, 1, 0)]
    # Every batch has a new phone, so each reads the whole list: at most 18 contacts, 2 pages of 10.
    assert [s["requests"] for s in summaries] == [2 + 3, 2 + 3, 2 + 3]
    assert sum(s["requests"] for s in summaries) == sim.request_count()
    assert len(sim.contacts()) == 18
    for i in (0, 1, 6):
        assert stored(sim, existing_mobile(i)) == fields(
            f"Ana{i}", "Cambiado", city="Madrid", post_code="28001" if i % 2 == 0 else ""
        )
    assert stored(sim, existing_mobile(2)) == fields("Ana2", "Ruiz", city="Madrid", post_code="28001")


@pytest.fixture
def race(sim: WapiFlowSimulator, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Contacts that someone else adds right after the operator has read the contact list."""
    racers: list[dict[str, Any]] = []
    original = WapiFlowAsyncHook.iter_contacts

    async def iter_contacts(
        self: WapiFlowAsyncHook, search: str | None = None, per_page: int = 100
    ) -> AsyncIterator[Any]:
        async for contact in original(self, search, per_page):
            yield contact
        while racers:
            sim.add_contact(**racers.pop(0))

    monkeypatch.setattr(WapiFlowAsyncHook, "iter_contacts", iter_contacts)
    return racers


def test_a_mobile_taken_meanwhile_is_found_and_updated_keeping_its_fields(
    sim: WapiFlowSimulator, race: list[dict[str, Any]]
) -> None:
    seed_existing(sim, 3)
    race.append({"firstname": "Otro", "lastname": "Nombre", "mobile_code": "34", "mobile": new_mobile(0),
                 "city": "Sevilla", "post_code": "41001"})  # fmt: skip
    race.append({"firstname": "Nuevo1", "lastname": "Cliente", "mobile_code": "34", "mobile": new_mobile(1)})
    rows = [
        {"firstname": "Nuevo0", "lastname": "Cliente", "phone": f"+34{new_mobile(0)}", "city": "Cádiz"},
        {"firstname": "Nuevo1", "lastname": "Cliente", "phone": f"+34{new_mobile(1)}"},
        {"firstname": "Nuevo2", "lastname": "Cliente", "phone": f"+34{new_mobile(2)}"},
    ]
    summary = execute(contacts=rows, concurrency=1)

    # Nuevo0: taken → found → differs → updated; Nuevo1: taken → found → equal → unchanged.
    assert (summary["created"], summary["updated"], summary["unchanged"], summary["failed"]) == (1, 1, 1, [])
    assert stored(sim, new_mobile(0)) == fields("Nuevo0", "Cliente", city="Cádiz", post_code="41001")
    assert stored(sim, new_mobile(1)) == fields("Nuevo1", "Cliente")
    assert len(sim.contacts()) == 6  # no duplicate
    # 1 list page; 3 creates (2 refused); one lookup page per refused create; 1 update.
    assert summary["requests"] == sim.request_count() == 1 + 3 + 2 + 1
    assert sim.request_count(path_prefix="contact/update") == 1


def test_plan_limit_stops_the_batch(sim: WapiFlowSimulator, run_dag: RunDag) -> None:
    seed_existing(sim, 30)
    sim.contact_limit = 0
    result = run_dag(DAGS, dag_id="contacts_plan_limit", run_conf={"rows": scenario_rows()})

    assert result.task_states["upsert"] == "failed"
    # 5 list pages, then the first create is refused and nothing else starts (concurrency=1).
    assert sim.request_count() == 5 + 1
    assert sim.request_count(path_prefix="contact/update") == 0
    assert len(sim.contacts()) == 30
    summary = failed_try_summary("contacts_plan_limit")
    assert (summary["created"], summary["updated"], summary["unchanged"], summary["failed_count"]) == (0, 0, 20, 18)
    assert summary["requests"] == 6
    errors = {failure["row"]: failure["error"] for failure in summary["failed"]}
    assert sorted(errors) == list(range(23, 41))  # 8 changed rows, 10 new rows (rows count from 1)
    # Creates go first (updates use up the allowance on the real server): row 31 is the first new one.
    assert errors.pop(31).startswith("create: WapiFlow refused POST contact/store (contact_limit_error)")
    assert all(e.startswith("create: not written, the batch stopped:") for r, e in errors.items() if r > 31)
    assert all(e.startswith("update: not written, the batch stopped:") for r, e in errors.items() if r < 31)


def test_plan_limit_error_reports_every_row_not_written(sim: WapiFlowSimulator) -> None:
    seed_existing(sim, 30)
    sim.contact_limit = 0
    with pytest.raises(WapiFlowPlanError) as caught:
        execute(contacts=scenario_rows(), page_size=7, concurrency=1)
    message = str(caught.value)
    assert message.startswith("WapiFlow stopped the contact upsert: WapiFlow refused POST contact/store")
    assert "contact_limit_error" in message
    assert message.endswith("(created 0, updated 0, unchanged 20, failed 18)")


# --- secrets and phone numbers -------------------------------------------------------------------------


def test_logs_and_xcom_hold_no_secret_and_no_full_phone(
    sim: WapiFlowSimulator, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    seed_existing(sim, 4)
    rows = [
        {"firstname": "Ana0", "lastname": "Nuevo", "phone": f"+34{existing_mobile(0)}"},
        {"firstname": "Nuevo", "lastname": "Cliente", "phone": f"+34{new_mobile(0)}"},
        {"firstname": "Nuevo", "lastname": "Cliente", "phone": f"+34{new_mobile(0)}"},
        {"firstname": "Malo", "lastname": "Telefono", "phone": "+3460011122"},
    ]
    sim.inject("error", status=500, times=1, process=False, path="contact/update")
    caplog.set_level(logging.DEBUG)
    summary = execute(contacts=rows, max_failures=2)

    assert summary["failed_count"] == 2
    out, err = capfd.readouterr()
    logged = caplog.text + out + err  # task logs go through structlog to the console outside a worker
    assert "processed 2/2 (100%): 1 written, 0 failed, 1 unknown" in logged  # a 500: unknown
    assert "row 1 (+********000) failed: update: WapiFlow answered POST contact/update/1 with HTTP 500" in logged
    published = logged + json.dumps(summary)
    assert sim.config.client_secret not in published
    for mobile in (existing_mobile(0), new_mobile(0), "60011122"):
        assert mobile not in published


# --- input: default_region, refs, repeated rows named (issues 15.6, 15.9) ----------------------------------


def test_default_region_reads_national_numbers_of_rows(sim: WapiFlowSimulator) -> None:
    rows = [
        {"firstname": "Ana", "lastname": "Ruiz", "phone": "600 200 001"},
        {"firstname": "Eva", "lastname": "Gil", "phone": "0034 600 200 002"},
        {"firstname": "Kai", "lastname": "Berg", "phone": "+49 151 23456704"},
    ]
    summary = execute(contacts=rows, default_region="ES")
    assert summary["created"] == 3
    assert sorted((c["mobile_code"], str(c["mobile"])) for c in sim.contacts()) == [
        ("34", "600200001"), ("34", "600200002"), ("49", "15123456704"),
    ]  # fmt: skip


def test_failed_rows_carry_their_ref_and_masked_phone(sim: WapiFlowSimulator) -> None:
    rows = [
        {"firstname": "Ana", "lastname": "Ruiz", "phone": f"+34{new_mobile(0)}", "ref": "C-1"},
        {"firstname": "Eva", "lastname": "Gil", "phone": f"+34{new_mobile(1)}", "ref": "C-2"},
        {"firstname": "Eva", "phone": "+3460011", "ref": "C-3"},
    ]
    sim.inject("error", status=500, times=1, process=False, path="contact/store")
    summary = execute(contacts=rows, concurrency=1, max_failures=2)
    first, invalid = summary["failed"]
    assert (first["row"], first["ref"], first["contact"]) == (1, "C-1", mask_phone(f"+34{new_mobile(0)}"))
    assert invalid == {
        "row": 3, "contact": "+****011", "ref": "C-3", "error": "'lastname' is required; 'phone' +****011 is too short",
    }  # fmt: skip


def test_repeated_rows_are_named_in_the_warning(sim: WapiFlowSimulator, capfd: pytest.CaptureFixture[str]) -> None:
    row = {"firstname": "Ana", "lastname": "Ruiz", "phone": f"+34{new_mobile(0)}"}
    summary = execute(contacts=[row, {**row, "lastname": "Gil"}, {**row, "firstname": "Eva"}])
    assert (summary["created"], summary["duplicates"]) == (1, 2)
    masked = mask_phone(f"+34{new_mobile(0)}")
    out, err = capfd.readouterr()
    assert (
        f"2 contact rows repeat the phone of a later row: one contact per phone, the last row wins: row 1 ({masked}) "
        f"is replaced by row 2; row 2 ({masked}) is replaced by row 3"
    ) in out + err
    assert new_mobile(0) not in out + err
