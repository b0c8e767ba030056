"""Customers seeded into a simulator, and what they were sent."""

from __future__ import annotations

from collections import Counter
from typing import Any

from airflow_provider_wapiflow.testing import WapiFlowSimulator


def seed_customers(sim: WapiFlowSimulator, count: int, first: int) -> list[dict[str, Any]]:
    """Add ``count`` Spanish contacts from mobile ``first`` on; return them as template recipients."""
    recipients = []
    for i in range(count):
        mobile = str(first + i)
        sim.add_contact(f"Name{i}", "Family", "34", mobile)
        recipients.append({"phone": f"+34{mobile}", "body_variables": [f"Name{i}", f"A-{i}"]})
    return recipients


def sent_per_mobile(sim: WapiFlowSimulator, template_id: int | None = None) -> Counter[str]:
    """Messages the simulator sent, per mobile (of one template when given)."""
    return Counter(str(m["mobile"]) for m in sim.messages(direction="sent", template_id=template_id))
