"""WapiFlow's leaked Meta token is redacted in every form, wherever its text goes (issue 13.7)."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from dag_runs import DagRunResult

from airflow_provider_wapiflow.exceptions import WapiFlowError, redact
from airflow_provider_wapiflow.hooks.wapiflow import WapiFlowHook
from airflow_provider_wapiflow.testing import WapiFlowSimulator

TOKEN = "EAAGsimulatedMetaAccessToken0123456789"
OTHER = "s3cr3t-0paque_token.value"  # not Meta-shaped: only its context gives it away


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"https://graph.facebook.com/v22.0/1/messages?access_token={OTHER}", "https://graph.facebook.com/v22.0/1/messages?access_token=***"),
        (f"?access_token={OTHER}&appsecret_proof=x", "?access_token=***&appsecret_proof=x"),
        (f'{{"access_token": "{OTHER}", "to": "34600"}}', '{"access_token": "***", "to": "34600"}'),
        (f'{{"access_token":"{OTHER}"}}', '{"access_token":"***"}'),
        (f'{{\\"access_token\\":\\"{OTHER}\\"}}', '{\\"access_token\\":\\"***\\"}'),
        (f"{{'access_token': '{OTHER}'}}", "{'access_token': '***'}"),
        (f"url=https%3A%2F%2Fgraph%3Faccess_token%3D{OTHER}%26x%3D1", "url=https%3A%2F%2Fgraph%3Faccess_token%3D***%26x%3D1"),  # noqa: E501
        (f"access_token%253D{OTHER}%2526x", "access_token%253D***%2526x"),
        (f"ACCESS_TOKEN%3d{OTHER}", "ACCESS_TOKEN%3d***"),
        (f"Authorization: Bearer {OTHER}", "Authorization: Bearer ***"),
        (f"bearer {OTHER}==", "bearer ***"),
        (f"access_token: {OTHER}", "access_token: ***"),
        (f"the token {TOKEN} leaked", "the token *** leaked"),
        ("cURL error 6: Could not resolve host: graph.facebook.com", "cURL error 6: Could not resolve host: graph.facebook.com"),  # noqa: E501
        ("access_token=***", "access_token=***"),
    ],
)  # fmt: skip
def test_every_form_of_the_token_is_redacted(text: str, expected: str) -> None:
    assert redact(text) == expected
    assert redact(redact(text)) == expected  # idempotent


def test_errors_carry_redacted_texts() -> None:
    error = WapiFlowError(f"boom Bearer {OTHER}", messages=[f'{{"access_token": "{OTHER}"}}'])
    assert OTHER not in str(error) + repr(error) + " ".join(error.messages)


FORMS = [
    f"cURL error 7: Failed to connect for https://graph.facebook.com/v22.0/1/messages?access_token={OTHER}",
    f'cURL error 6: resolve {{"access_token": "{OTHER}"}}',
    f"cURL error 6: resolve https%3A%2F%2Fgraph%3Faccess_token%3D{OTHER}",
    f"cURL error 7: connect (Authorization: Bearer {OTHER})",
]


@pytest.mark.parametrize("text", FORMS)
def test_the_hook_never_lets_the_token_out(
    wapiflow_connection: WapiFlowSimulator, debug_logs: Callable[[], str], text: str
) -> None:
    sim = wapiflow_connection
    sim.add_contact("Ana", "Ruiz", "34", "600111222")
    template_id = next(t["id"] for t in sim.templates() if t["name"] == "welcome")
    body = json.dumps({"remark": "exception", "status": "error", "message": [text]})
    sim.inject("error", status=200, body=body, path="inbox/send-template-message")
    sim.inject("error", status=503, body=body, times=1, path="inbox/template-list")
    hook = WapiFlowHook()
    hook.list_templates()  # the 503 is retried, and its retry line logged
    with pytest.raises(WapiFlowError) as caught:
        hook.send_template_message("34", "600111222", template_id)
    error = caught.value
    logs = debug_logs()
    assert "retry 1" in logs  # the retry line (with WapiFlow's text) was really logged
    assert OTHER not in str(error) + repr(error) + " ".join(error.messages) + logs
    assert "***" in str(error)


def test_the_send_summary_xcom_is_redacted(
    run_dag: Callable[..., DagRunResult], wapiflow_connection: WapiFlowSimulator
) -> None:
    sim = wapiflow_connection
    sim.add_contact("Ana", "Ruiz", "34", "600111222")
    sim.add_contact("Eva", "Gil", "34", "600111223")
    text = f'cURL error 7: connect {{"access_token": "{OTHER}"}} Bearer {OTHER}'
    sim.inject("error", status=200, path="inbox/send-template-message", times=1,
               body=json.dumps({"remark": "exception", "status": "error", "message": [text]}))  # fmt: skip
    recipients = [{"phone": "+34600111222", "body_variables": ["Ana", "A-1"]},
                  {"phone": "+34600111223", "body_variables": ["Eva", "A-2"]}]  # fmt: skip
    result = run_dag("faults_dags.py", "faults_send_tolerant", run_conf={"recipients": recipients})
    summary = result.xcoms["send"]
    assert summary["failed_count"] == 1
    assert OTHER not in json.dumps(summary)
    assert "***" in json.dumps(summary["failed"])
