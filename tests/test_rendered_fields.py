"""
Rendered template fields (the UI's Rendered Template tab, the REST API's ``rendered_fields``): the operators'
recipients and contacts are stored masked, read back from what Airflow stored for a real DAG run, while the
sends went to the real numbers.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from typing import Any

from dag_runs import DagRunResult
from faults_support import rendered_fields

from airflow_provider_wapiflow.models import mask_phone
from airflow_provider_wapiflow.operators._rendered import PersonalRows, masked_item
from airflow_provider_wapiflow.testing import WapiFlowSimulator

RunDag = Callable[..., DagRunResult]
CUSTOMERS = [("Ana", "Ruiz", "600511201"), ("Eva", "Gil", "600511202"), ("Luis", "Mora", "600511203")]


def conf() -> dict[str, Any]:
    return {
        "contacts": [{"firstname": f, "lastname": last, "phone": f"+34{m}", "city": "Madrid", "ref": i}
                     for i, (f, last, m) in enumerate(CUSTOMERS)],
        "recipients": [{"phone": f"+34{m}", "body_variables": [f, f"A-{i}"], "ref": f"C-{i}"}
                       for i, (f, _, m) in enumerate(CUSTOMERS)],
    }  # fmt: skip


def test_recipients_and_contacts_are_stored_masked_and_sent_in_full(
    run_dag: RunDag, wapiflow_connection: WapiFlowSimulator
) -> None:
    sim = wapiflow_connection
    result = run_dag("rendered_fields_dags.py", "rendered_personal", run_conf=conf())
    assert result.succeeded, result

    # the real numbers were used: every customer got the template and the text, once
    sent = Counter((str(m["mobile"]), m["template_id"] is not None) for m in sim.messages(direction="sent"))
    assert sent == Counter({(m, kind): 1 for *_, m in CUSTOMERS for kind in (True, False)})

    stored = rendered_fields("rendered_personal")
    text = json.dumps(stored)
    for first, last, mobile in CUSTOMERS:
        assert mobile not in text
        assert last not in text
        assert f'"{first}"' not in text
    assert stored["upsert"]["contacts"][0] == {
        "firstname": "A…", "lastname": "R…", "phone": mask_phone("+34600511201"), "city": "Madrid", "ref": 0,
    }  # fmt: skip
    assert stored["send_template"]["recipients"][1] == {
        "phone": mask_phone("+34600511202"), "body_variables": ["E…", "A…"], "ref": "C-1",
    }  # fmt: skip
    assert stored["send_message[0]"]["recipients"] == [mask_phone("+34600511201"), mask_phone("+34600511202")]
    assert stored["send_message[1]"]["recipients"] == [mask_phone("+34600511203")]


def test_personal_rows_read_as_the_rows_and_serialize_masked() -> None:
    rows = PersonalRows(["+34600511201", {"mobile_code": "34", "mobile": "600511202", "lastname": "Gil"}])
    assert list(rows) == ["+34600511201", {"mobile_code": "34", "mobile": "600511202", "lastname": "Gil"}]
    assert len(rows) == 2
    assert rows.serialize() == ["+********201", {"mobile_code": "34", "mobile": "******202", "lastname": "G…"}]
    assert "600511201" not in repr(rows)
    assert masked_item(34600511201) == "********201"
    assert masked_item({"phone": None, "ref": 5}) == {"phone": None, "ref": 5}


def test_a_long_list_is_shown_in_part() -> None:
    rows = PersonalRows([f"+34600{i:06d}" for i in range(250)])
    shown = rows.serialize()
    assert len(rows) == 250 == len(list(rows))
    assert (len(shown), shown[-1]) == (101, "… and 150 more")
