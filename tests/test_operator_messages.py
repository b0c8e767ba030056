"""SendTemplateOperator and SendMessageOperator: real DAG runs against the simulator, and every input check."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from dag_runs import DagRunResult
from support import (
    MemoryTaskStateStore,
    context_without_task_state_store,
    pushed_xcoms,
    set_connection,
    task_context,
    template_id_of,
)
from support.customers import sent_per_mobile

from airflow_provider_wapiflow.exceptions import WapiFlowInputError, WapiFlowPlanError
from airflow_provider_wapiflow.models import mask_phone
from airflow_provider_wapiflow.operators.messages import SendMessageOperator, SendTemplateOperator
from airflow_provider_wapiflow.testing import WapiFlowSimulator

RunDag = Callable[..., DagRunResult]

CUSTOMERS = [
    ("Ana", "Ruiz", "34", "600111201"),
    ("Eva", "Gil", "34", "600111202"),
    ("Luis", "Mora", "52", "5512345603"),
    ("Kai", "Berg", "49", "15123456704"),
    ("Léa", "Roux", "33", "612345605"),
    ("Ravi", "Shah", "91", "9812345606"),
]


def _seed(sim: WapiFlowSimulator, customers: list[tuple[str, str, str, str]] = CUSTOMERS) -> list[dict[str, Any]]:
    for first, last, code, mobile in customers:
        sim.add_contact(first, last, code, mobile)
    return [
        {"phone": f"+{code}{mobile}", "body_variables": [first, f"A-{i}"]}
        for i, (first, _, code, mobile) in enumerate(customers)
    ]


# --- the retry rule through real DAG runs --------------------------------------------------------


@pytest.mark.parametrize("patched", [False, True], ids=["real-server", "patched-server"])
def test_task_retry_resends_only_what_was_not_delivered(
    run_dag: RunDag, monkeypatch: pytest.MonkeyPatch, patched: bool
) -> None:
    with WapiFlowSimulator(patched=patched) as sim:
        set_connection(monkeypatch, sim, extra={"max_retries": 2, "backoff_base": 0.01})
        recipients = _seed(sim)
        # Try 1, one send at a time: recipient 1 gets 503 until the hook gives up (nothing processed),
        # recipient 2 is processed but its answer is lost; the others go through (positions count from 1).
        sim.inject("error", status=503, times=3, path="inbox/send-template-message")
        sim.inject("drop", process=True, times=1, path="inbox/send-template-message")
        result = run_dag("messages_send.py", "messages_send_template",
                         run_conf={"template": "order_shipped", "recipients": recipients})  # fmt: skip
        sent = sent_per_mobile(sim, template_id_of(sim, "order_shipped"))

    assert result.succeeded, result
    assert result.tries["send"] == 2
    summary = result.xcoms["send"]
    assert summary["skipped"] == 4  # delivered by try 1
    assert summary["sent"] == 1  # recipient 1, refused with 503 in try 1
    assert summary["failed"] == []
    assert summary["unknown_count"] == 1
    assert summary["unknown"][0]["position"] == 2
    assert summary["unknown"][0]["recipient"] == "+********202"
    assert "not resent" in summary["unknown"][0]["error"]
    assert summary["template_id"] == template_id_of(sim, "order_shipped")
    assert summary["started_at"] <= summary["finished_at"]
    # The message log proves it: nobody received the template twice, everybody received it once.
    assert sent == Counter({c[3]: 1 for c in CUSTOMERS})
    if patched:
        assert len(summary["conversation_ids"]) == 1
        assert summary["conversation_ids"][0]["position"] == 1
    else:
        assert summary["conversation_ids"] == []


def test_resend_unknown_sends_again_on_the_next_try(
    monkeypatch: pytest.MonkeyPatch, wapiflow_connection: WapiFlowSimulator
) -> None:
    sim = wapiflow_connection
    recipients = _seed(sim, CUSTOMERS[:2])
    store = MemoryTaskStateStore()
    sim.inject("drop", process=True, times=1, path="inbox/send-template-message")
    # no read-back: the lost answer must stay unknown (the read-back would prove it sent; test_engine.py)
    first = SendTemplateOperator(task_id="t", template="order_shipped", recipients=recipients, concurrency=1,
                                 max_failures=1, read_back_unknown=False)  # fmt: skip
    assert first.execute(task_context(store, try_number=1))["unknown_count"] == 1
    again = SendTemplateOperator(task_id="t", template="order_shipped", recipients=recipients, concurrency=1,
                                 resend_unknown=True)  # fmt: skip
    summary = again.execute(task_context(store, try_number=2))
    assert (summary["sent"], summary["skipped"], summary["unknown_count"]) == (1, 1, 0)
    assert sent_per_mobile(sim)[CUSTOMERS[0][3]] == 2  # the user asked for it


def test_mapped_send_over_three_batches(run_dag: RunDag, wapiflow_connection: WapiFlowSimulator) -> None:
    sim = wapiflow_connection
    customers = [("C", f"N{i}", "34", f"6001113{i:02d}") for i in range(9)]
    recipients = _seed(sim, customers)
    result = run_dag("messages_send.py", "messages_send_template_mapped", run_conf={"recipients": recipients})
    assert result.succeeded
    assert sorted(k for k in result.xcoms if k.startswith("send[")) == ["send[0]", "send[1]", "send[2]"]
    assert [result.xcoms[f"send[{i}]"]["sent"] for i in range(3)] == [3, 3, 3]
    assert sent_per_mobile(sim) == Counter({c[3]: 1 for c in customers})


def test_send_message_with_a_document_through_a_dag_run(
    run_dag: RunDag, wapiflow_connection: WapiFlowSimulator, tmp_path: Path
) -> None:
    sim = wapiflow_connection
    recipients = [r["phone"] for r in _seed(sim, CUSTOMERS[:3])]
    invoice = tmp_path / "invoice.pdf"
    invoice.write_bytes(b"%PDF-1.4\n" + b"0" * 2048)
    result = run_dag("messages_send.py", "messages_send_message",
                     run_conf={"recipients": recipients, "month": "November", "document": str(invoice)})  # fmt: skip
    assert result.succeeded
    assert result.xcoms["send"]["sent"] == 3
    assert result.xcoms["send"]["message_kind"] == "document"
    messages = sim.messages(direction="sent")
    assert [m["message"] for m in messages] == ["Your invoice for November is attached"] * 3
    assert all(m["media_type"] for m in messages)


# --- non-contacts (docs/server-bugs.rst#bug-not-a-contact) ---------------------------------------


def test_non_contacts_are_created_when_names_are_given(wapiflow_connection: WapiFlowSimulator) -> None:
    sim = wapiflow_connection
    recipients = [
        {"phone": "+34600111301", "firstname": "Ana", "lastname": "Ruiz", "city": "Madrid"},
        {"phone": "+34600111302"},
    ]
    operator = SendTemplateOperator(task_id="t", template="welcome", recipients=recipients, max_failures=1)
    summary = operator.execute(task_context())
    assert summary["sent"] == 1
    assert summary["failed_count"] == 1
    failure = summary["failed"][0]
    assert failure["position"] == 2
    assert failure["recipient"] == "+********302"
    assert "add 'firstname' and 'lastname' to the recipient" in failure["error"]
    created = sim.get_contact("34", "600111301")
    assert created is not None
    assert (created["firstname"], created["address"]["city"]) == ("Ana", "Madrid")
    assert sent_per_mobile(sim) == Counter({"600111301": 1})


# --- batch behaviour -----------------------------------------------------------------------------


def test_plan_error_stops_the_batch_at_once(wapiflow_connection: WapiFlowSimulator) -> None:
    sim = wapiflow_connection
    recipients = [r["phone"] for r in _seed(sim)]
    sim.set_plan("expired")
    store = MemoryTaskStateStore()
    context = task_context(store)
    operator = SendMessageOperator(task_id="t", message="hi", recipients=recipients, concurrency=1)
    with pytest.raises(WapiFlowPlanError, match="Your plan has expired"):
        operator.execute(context)
    assert sim.request_count() == 1
    summary = pushed_xcoms(context)["summary"]
    assert summary["failed_count"] == 6
    assert all("not sent: the batch stopped" in f["error"] for f in summary["failed"][1:])


def test_duplicates_are_sent_once_and_progress_is_logged_masked(
    wapiflow_connection: WapiFlowSimulator, debug_logs: Callable[[], str]
) -> None:
    sim = wapiflow_connection
    recipients = [r["phone"] for r in _seed(sim, CUSTOMERS[:3])]
    operator = SendMessageOperator(task_id="t", message="hi", recipients=[*recipients, recipients[0]])
    summary = operator.execute(task_context())
    logs = debug_logs()
    assert summary["sent"] == 3
    assert summary["duplicates"] == [{"position": 4, "first_position": 1}]
    assert sent_per_mobile(sim) == Counter({c[3]: 1 for c in CUSTOMERS[:3]})
    assert "processed 3/3 (100%): 3 sent, 0 failed, 0 unknown" in logs
    repeated = mask_phone(recipients[0])
    warning = "1 recipients repeat an earlier phone and are not sent again (the first occurrence wins): "
    assert f"{warning}recipient 4 repeats {repeated} of recipient 1" in logs
    for _, _, _, mobile in CUSTOMERS[:3]:
        assert mobile not in logs
        assert mobile not in json.dumps(summary)
    assert sim.client_secret not in logs


def test_dry_run_sends_nothing(wapiflow_connection: WapiFlowSimulator) -> None:
    sim = wapiflow_connection
    recipients = _seed(sim, CUSTOMERS[:3])
    summary = SendTemplateOperator(task_id="t", template="order_shipped", recipients=recipients,
                                   dry_run=True).execute(task_context())  # fmt: skip
    assert (summary["dry_run"], summary["would_send"], summary["sent"]) == (True, 3, 0)
    assert sim.messages() == []
    assert {r["method"] for r in sim.requests()} == {"GET"}


def test_max_failures_lets_invalid_recipients_be_skipped(wapiflow_connection: WapiFlowSimulator) -> None:
    sim = wapiflow_connection
    recipients: list[Any] = [r["phone"] for r in _seed(sim, CUSTOMERS[:2])]
    recipients.insert(1, "+3460011")
    summary = SendMessageOperator(task_id="t", message="hi", recipients=recipients,
                                  max_failure_rate=0.5).execute(task_context())  # fmt: skip
    assert summary["sent"] == 2
    assert summary["failed"] == [{"position": 2, "recipient": "+****011", "error": "'phone' +****011 is too short"}]


def test_failures_over_the_budget_fail_the_task_after_the_batch(
    wapiflow_connection: WapiFlowSimulator,
) -> None:
    sim = wapiflow_connection
    recipients = [r["phone"] for r in _seed(sim, CUSTOMERS[:3])]
    sim.meta_outage = True
    context = task_context()
    with pytest.raises(Exception, match="3 recipients failed and 0 have an unknown outcome"):
        SendMessageOperator(task_id="t", message="hi", recipients=recipients).execute(context)
    assert sim.request_count() == 3  # the whole batch was tried
    assert pushed_xcoms(context)["summary"]["failed_count"] == 3
    assert "could not reach Meta" in pushed_xcoms(context)["summary"]["failed"][0]["error"]


def test_without_a_task_state_store_it_warns(
    wapiflow_connection: WapiFlowSimulator, debug_logs: Callable[[], str]
) -> None:
    recipients = [r["phone"] for r in _seed(wapiflow_connection, CUSTOMERS[:1])]
    SendMessageOperator(task_id="t", message="hi", recipients=recipients).execute(context_without_task_state_store())
    assert "a retry of this task may resend messages" in debug_logs()


# --- input checks: all reported together, nothing sent -------------------------------------------


@pytest.mark.parametrize(
    ("recipients", "expected"),
    [
        ("+34600111222", "'recipients' rendered to text that is not a list; pass the XComArg itself"),
        ({"phone": "+34600111222"}, "'recipients' must be a list of phones or recipient dicts, got dict"),
        (
            [
                "34600111222",
                "+3460011",
                "+346001112223334445",
                "+34abc",
                {"mobile_code": "+34", "mobile": "600111222"},
            ],
            "5 of 5 recipients are invalid:\n"
            "  recipient 1 of the input: 'phone' ********222 must be in E.164 form with a leading '+' and country "
            "code (or set default_region, e.g. 'ES', to read national numbers)\n"
            "  recipient 2 of the input: 'phone' +****011 is too short\n"
            "  recipient 3 of the input: 'phone' +***************445 is too long\n"
            "  recipient 4 of the input: 'phone' +34abc is not a phone number",
        ),
        (
            [{"phone": "+34600111222", "frist_name": "Ana"}, 4.2],
            "2 of 2 recipients are invalid:\n"
            "  recipient 1 of the input: unknown key 'frist_name' (allowed: phone, mobile_code, mobile, "
            "body_variables, header_variables, firstname, lastname, city, state, post_code, address, ref)\n"
            "  recipient 2 of the input: must be an E.164 string or a dict with 'phone' or 'mobile_code' + "
            "'mobile', got float",
        ),
        (
            [{"phone": "+34600111222", "body_variables": "Ana"}],
            "'body_variables' must be a list of values, got str",
        ),
    ],
)
def test_invalid_recipients_are_reported_before_any_request(
    wapiflow_connection: WapiFlowSimulator, recipients: Any, expected: str
) -> None:
    operator = SendTemplateOperator(task_id="t", template="order_shipped", recipients=recipients)
    with pytest.raises(WapiFlowInputError) as caught:
        operator.execute(task_context())
    assert expected in str(caught.value)
    assert wapiflow_connection.request_count() == 0


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("nope", "WapiFlow has no template 'nope' in this account"),
        ("pending", "(id {id}) is pending: only approved templates can be sent"),
        ("rejected", "(id {id}) is rejected: only approved templates can be sent"),
        ("disabled", "(id {id}) is disabled: only approved templates can be sent"),
    ],
)
def test_unusable_templates_fail_before_any_send(
    wapiflow_connection: WapiFlowSimulator, template: str, expected: str
) -> None:
    sim = wapiflow_connection
    status = {"pending": 0, "rejected": 2, "disabled": 3}.get(template)
    name = next((t["name"] for t in sim.templates() if t["status"] == status), template)
    template_id = next((t["id"] for t in sim.templates() if t["name"] == name), None)
    operator = SendTemplateOperator(task_id="t", template=name, recipients=["+34600111222"])
    with pytest.raises(Exception, match="template") as caught:
        operator.execute(task_context())
    assert expected.format(id=template_id) in str(caught.value)
    assert {r["method"] for r in sim.requests()} == {"GET"}


def test_variable_counts_are_checked_against_the_template(wapiflow_connection: WapiFlowSimulator) -> None:
    sim = wapiflow_connection
    recipients = [
        {"phone": "+34600111201", "body_variables": ["Ana"]},
        {"phone": "+34600111202", "body_variables": ["Eva", "A-2"], "header_variables": ["x"]},
    ]
    with pytest.raises(WapiFlowInputError) as caught:
        SendTemplateOperator(task_id="t", template="order_shipped", recipients=recipients).execute(task_context())
    assert "recipient 1 of the input: the template expects 2 body_variables ({{1}}..{{2}}), got 1" in str(caught.value)
    assert "recipient 2 of the input: the template has no placeholders for header_variables, got 1" in str(caught.value)
    assert sim.messages() == []


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"message": "hi", "image": "/nonexistent/x.png"}, "'image' 'x.png' cannot be read"),
        ({"message": "hi", "video": "clip.mov"}, "'video' 'clip.mov' must be a file of type mp4"),
        ({"latitude": 40.4}, "'latitude' and 'longitude' must be given together"),
        ({}, "nothing to send"),
    ],
)
def test_send_message_input_checks(
    wapiflow_connection: WapiFlowSimulator, kwargs: dict[str, Any], expected: str
) -> None:
    operator = SendMessageOperator(task_id="t", recipients=["+34600111222"], **kwargs)
    with pytest.raises(WapiFlowInputError) as caught:
        operator.execute(task_context())
    assert expected in str(caught.value)
    assert wapiflow_connection.request_count() == 0


def test_operator_arguments_are_checked_at_parse_time() -> None:
    with pytest.raises(WapiFlowInputError, match="'concurrency' must be an integer from 1 to 64"):
        SendMessageOperator(task_id="t", recipients=[], message="x", concurrency=0)
    with pytest.raises(WapiFlowInputError, match=r"'max_failure_rate' must be a number from 0\.0 to 1\.0"):
        SendMessageOperator(task_id="t", recipients=[], message="x", max_failure_rate=1.5)
    with pytest.raises(WapiFlowInputError, match=r"'max_failures' must be a count"):
        SendMessageOperator(task_id="t", recipients=[], message="x", max_failures=-1)
    with pytest.raises(WapiFlowInputError, match=r"'rate_limit_timeout' must be a positive number"):
        SendMessageOperator(task_id="t", recipients=[], message="x", rate_limit_timeout=0)


# --- input: recipients rendered to text, media from object storage ---------------------------------


def test_recipients_rendered_to_text_are_read_as_a_list(wapiflow_connection: WapiFlowSimulator) -> None:
    phone = _seed(wapiflow_connection, CUSTOMERS[:1])[0]["phone"]
    # What "{{ ti.xcom_pull(...) }}" renders to on a DAG without render_template_as_native_obj.
    operator = SendMessageOperator(task_id="t", message="hi", recipients=str([phone]))
    assert operator.execute(task_context())["sent"] == 1


def test_media_from_an_object_storage_uri(wapiflow_connection: WapiFlowSimulator, tmp_path: Path) -> None:
    sim = wapiflow_connection
    phone = _seed(sim, CUSTOMERS[:1])[0]["phone"]
    invoice = tmp_path / "invoice.pdf"
    invoice.write_bytes(b"%PDF-1.4\n" + b"0" * 512)
    # Any ObjectStoragePath URI works the same way (s3://, gs://…); file:// needs no credentials.
    operator = SendMessageOperator(task_id="t", recipients=[phone], message="invoice", document=f"file://{invoice}")
    assert operator.execute(task_context())["sent"] == 1
    (message,) = sim.messages(direction="sent")
    assert message["media_filename"] == "invoice.pdf"


# --- input: template language, default_region, refs (issues 13.5, 15.6, 15.9) -----------------------------


def test_language_chooses_among_templates_that_share_a_name(wapiflow_connection: WapiFlowSimulator) -> None:
    sim = wapiflow_connection
    sim.add_contact("Ana", "Ruiz", "34", "600111201")
    spanish = sim.add_template("greeting", "Hola")
    english = sim.add_template("greeting", "Hello")
    sim.state.templates[english["id"]].language_id = 2  # one approved template per language, as WhatsApp has them
    summary = SendTemplateOperator(task_id="t", template="greeting", language=2,
                                   recipients=["+34600111201"]).execute(task_context())  # fmt: skip
    assert summary["template_id"] == english["id"] != spanish["id"]
    (sent,) = sim.messages(direction="sent")
    assert sent["template_id"] == english["id"]


def test_default_region_lets_national_numbers_through(wapiflow_connection: WapiFlowSimulator) -> None:
    sim = wapiflow_connection
    recipients = [r["phone"] for r in _seed(sim, CUSTOMERS[:2])]
    national = [f"{p[3:6]} {p[6:9]} {p[9:]}" for p in recipients]  # "+34600111201" -> "600 111 201"
    national[1] = "0034 " + national[1]
    summary = SendMessageOperator(task_id="t", message="hi", recipients=national,
                                  default_region="ES").execute(task_context())  # fmt: skip
    assert summary["sent"] == 2
    assert sent_per_mobile(sim) == Counter({c[3]: 1 for c in CUSTOMERS[:2]})
    with pytest.raises(WapiFlowInputError, match="'default_region' must be a two-letter ISO country"):
        SendTemplateOperator(task_id="t2", template="x", recipients=[], default_region="Spain")


def test_refs_come_back_in_failed_entries(wapiflow_connection: WapiFlowSimulator) -> None:
    sim = wapiflow_connection
    recipients: list[Any] = [{"phone": r["phone"], "ref": f"C-{i}"} for i, r in enumerate(_seed(sim, CUSTOMERS[:1]))]
    recipients += [{"phone": "+34600111299", "ref": "C-99"}, {"phone": "+3460011", "ref": 7}]
    summary = SendMessageOperator(task_id="t", message="hi", recipients=recipients,
                                  max_failures=2).execute(task_context())  # fmt: skip
    assert summary["sent"] == 1
    failed = {entry["ref"]: entry for entry in summary["failed"]}
    assert failed[7] == {"position": 3, "recipient": "+****011", "ref": 7, "error": "'phone' +****011 is too short"}
    assert (failed["C-99"]["position"], failed["C-99"]["recipient"]) == (2, "+********299")
    assert "not a WapiFlow contact" in failed["C-99"]["error"]


def test_positions_of_a_batch_are_those_of_the_whole_input(wapiflow_connection: WapiFlowSimulator) -> None:
    batch = [{"phone": "+34600111201", "input_position": 48, "ref": "C-48"}]
    summary = SendMessageOperator(task_id="t", message="hi", recipients=batch,
                                  max_failures=1).execute(task_context())  # fmt: skip
    assert summary["failed"][0]["position"] == 48
    assert summary["failed"][0]["ref"] == "C-48"
