"""
Send each customer their monthly invoice as a WhatsApp document, with a personal caption.

1. ``write_invoice_pdf`` stands for the reporting step: it writes the PDF and returns its path.
2. ``select_recipients`` stands for the warehouse query: who gets the invoice, with a caption each.
3. ``SendMessageOperator`` sends the PDF to every recipient. The recipients carry their names, so a
   customer who is not yet a WapiFlow contact is created first: WapiFlow cannot message a number
   that is not a contact.

WhatsApp delivers free-form messages (text, media) only within 24 hours of the customer's last
message; outside that window, send an approved template with ``SendTemplateOperator``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import DAG, task

from airflow_provider_wapiflow.operators.messages import SendMessageOperator


def _one_page_pdf(text: str) -> bytes:
    """A minimal, valid one-page PDF showing ``text`` (stands for the real report renderer)."""
    stream = f"BT /F1 18 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    pdf, offsets = b"%PDF-1.4\n", []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(pdf))
        pdf += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(pdf)
    pdf += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    pdf += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    pdf += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return pdf


with DAG(
    dag_id="wapiflow_send_message",
    description="Send the monthly invoice PDF to the selected customers on WhatsApp",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["wapiflow", "example"],
) as dag:

    @task
    def write_invoice_pdf() -> str:
        """Stands for the reporting step. With several workers, write to object storage and return its URI."""
        path = Path(tempfile.mkdtemp(prefix="wapiflow-invoices-")) / "invoice-2026-10.pdf"
        path.write_bytes(_one_page_pdf("Invoice October 2026"))
        return str(path)

    @task
    def select_recipients() -> list[dict[str, Any]]:
        """Stands for the warehouse query: one dict per customer, with the caption of their message."""
        return [
            {
                "phone": "+34600111301",
                "firstname": "Marta",
                "lastname": "Soler",
                "message": "Hi Marta, your invoice for October is attached.",
            },
            {
                "phone": "+34600111302",
                "firstname": "Jordi",
                "lastname": "Vidal",
                "message": "Hi Jordi, your invoice for October is attached.",
            },
            # No name: sent only if the number is already a WapiFlow contact.
            {"phone": "+4915123456703"},
        ]

    # [START howto_operator_send_message]
    send_invoice = SendMessageOperator(
        task_id="send_invoice",
        recipients=select_recipients(),
        document=write_invoice_pdf(),  # a path, or an object-storage URI such as "s3://bucket/invoice.pdf"
        message="Your invoice for October is attached.",  # the caption when a recipient has no "message"
        max_failures=1,  # tolerate one recipient that fails
        concurrency=4,
    )
    # [END howto_operator_send_message]
