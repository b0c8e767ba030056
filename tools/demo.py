"""
``make demo``: run the post-ETL example DAG end to end against the bundled WapiFlow simulator.

A throw-away AIRFLOW_HOME with SQLite, the simulator on 127.0.0.1 (a customer who answers a few
seconds after the template arrives), ``airflow dags test``, then what happened, read from the
simulator's state. Nothing is kept between runs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from airflow_provider_wapiflow.models import ConversationStatus, mask_phone
from airflow_provider_wapiflow.testing import WapiFlowSimulator

ROOT = Path(__file__).resolve().parent.parent
DAG_ID = "wapiflow_post_etl_notifications"
REPLY_FROM = ("34", "600111201")
ON_CALL = ("34", "699000111")


def _seed(sim: WapiFlowSimulator) -> None:
    sim.add_contact("On-call", "Engineer", *ON_CALL)
    sim.add_contact("Ana", "Ruiz", "34", "600111201", city="Toledo", post_code="45001")  # moved: city changes
    sim.add_contact("Eva", "Gil", "34", "600111202", city="Sevilla")  # unchanged
    sim.auto_reply(*REPLY_FROM, text="Thanks! Can you leave it with the neighbour?", delay=3.0)


def _airflow(args: list[str], env: dict[str, str], log: Path) -> int:
    with log.open("a") as out:
        out.write(f"\n$ airflow {' '.join(args)}\n")
        out.flush()
        return subprocess.run(
            [str(Path(sys.executable).parent / "airflow"), *args], env=env, stdout=out, stderr=subprocess.STDOUT
        ).returncode


def _run_state(env: dict[str, str]) -> str:
    """The state of the DAG run, read back from the metadata DB."""
    result = subprocess.run(
        [str(Path(sys.executable).parent / "airflow"), "dags", "list-runs", DAG_ID, "-o", "json"],
        env={**env, "AIRFLOW__LOGGING__LOGGING_LEVEL": "ERROR"},
        capture_output=True,
        text=True,
    )
    runs = json.loads(result.stdout or "[]") if result.returncode == 0 else []
    return str(runs[0]["state"]) if runs else "unknown"


def _contact_line(contact: dict[str, Any]) -> str:
    address = contact.get("address") or {}
    phone = mask_phone(f"+{contact['mobile_code']}{contact['mobile']}")
    name = f"{contact['firstname']} {contact['lastname']}"
    return f"{name:<12} {phone:<16} {address.get('city', '')}"


def _report(sim: WapiFlowSimulator, before: dict[tuple[str, str], dict[str, Any]]) -> None:
    after = {(str(c["mobile_code"]), str(c["mobile"])): c for c in sim.contacts()}
    created = [c for key, c in after.items() if key not in before]
    updated = [c for key, c in after.items() if key in before and c["updated_at"] != before[key]["updated_at"]]
    print("\nContacts in WapiFlow")
    print(f"  created {len(created)}, updated {len(updated)}, not touched {len(after) - len(created) - len(updated)}")
    for label, contacts in (("created", created), ("updated", updated)):
        for contact in contacts:
            print(f"    {label:<8} {_contact_line(contact)}")
    names = {t["id"]: t["name"] for t in sim.templates()}
    sent = sim.messages(direction="sent")
    per_template = Counter(names.get(m["template_id"], "(free-form text)") for m in sent)
    print("\nMessages sent")
    for name, count in sorted(per_template.items()):
        per_phone = Counter(str(m["mobile"]) for m in sent if names.get(m["template_id"], "(free-form text)") == name)
        print(f"  {name}: {count} messages to {len(per_phone)} recipients (max {max(per_phone.values())} each)")
    for message in sim.messages(direction="received"):
        phone = mask_phone(f"+{message['mobile_code']}{message['mobile']}")
        print(f"  reply from {phone}: {message['message']!r}")
    print("\nConversations")
    for conversation in sim.conversations():
        contact = conversation.get("contact") or {}
        status = ConversationStatus(int(conversation["status"])).name
        print(f"  #{conversation['id']:<3} {contact.get('firstname', '?'):<8} status {status}")
    requests = sim.requests()
    print(f"\nHTTP requests to WapiFlow: {len(requests)} ({Counter(r['method'] for r in requests)})")


def main() -> int:
    home = Path(tempfile.mkdtemp(prefix="wapiflow-demo-"))
    log = home / "airflow.log"
    try:
        with WapiFlowSimulator() as sim:
            _seed(sim)
            before = {(str(c["mobile_code"]), str(c["mobile"])): c for c in sim.contacts()}
            print(f"WapiFlow simulator on {sim.base_url} (behaves like the real server, bugs included)")
            env = {
                **os.environ,
                "AIRFLOW_HOME": str(home),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "example_dags"),
                "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
                "AIRFLOW_CONN_WAPIFLOW_DEFAULT": sim.connection_json(),
            }
            started = time.monotonic()
            print(f"Airflow home {home} (SQLite); setting up the metadata DB…")
            if _airflow(["db", "migrate"], env, log) != 0:
                print(log.read_text()[-3000:])
                return 1
            print(f"Running `airflow dags test {DAG_ID}` (the sensor defers until the customer replies)…")
            code = _airflow(["dags", "test", DAG_ID], env, log)
            elapsed = time.monotonic() - started
            state = _run_state(env)
            if code != 0 or state != "success":
                print(log.read_text()[-5000:])
                print(f"\nThe DAG run ended {state!r} (exit code {code}); the end of its log is above.")
                return 1
            deferred = "deferred" in log.read_text().lower()
            print(
                f"DAG run succeeded in {elapsed:.0f} s"
                + (" (the sensor deferred to the triggerer)." if deferred else ".")
            )
            _report(sim, before)
        return 0
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
