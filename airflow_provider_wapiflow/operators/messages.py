"""
SendTemplateOperator and SendMessageOperator: personalised bulk sends that never send twice.

Both validate every recipient before the first send, send with bounded concurrency, keep a delivery
ledger in Airflow's task state store so a later try skips what was delivered, classify every send as
sent / not sent / unknown (DESIGN.md "Retries"), and return a JSON summary with masked phones.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from datetime import datetime, timezone
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException

from airflow_provider_wapiflow.exceptions import (
    BATCH_FATAL_ERRORS,
    SendOutcome,
    WapiFlowAuthError,
    WapiFlowError,
    WapiFlowInputError,
    WapiFlowNotAContactError,
    WapiFlowValidationError,
)
from airflow_provider_wapiflow.hooks import _requests as api
from airflow_provider_wapiflow.hooks.wapiflow import WapiFlowHook, template_status
from airflow_provider_wapiflow.media import MediaFile, MediaSource, load_media
from airflow_provider_wapiflow.models import TemplateStatus, check_region
from airflow_provider_wapiflow.operators._batch import (
    SUMMARY_LIST_CAP,
    Progress,
    check_concurrency,
    failure_budget,
    rendered_list,
    run_bounded,
)
from airflow_provider_wapiflow.operators._ledger import DeliveryLedger
from airflow_provider_wapiflow.operators._recipients import (
    InvalidRecipient,
    MaskedRenderedFields,
    Recipient,
    format_problems,
    parse_recipients,
)
from airflow_provider_wapiflow.variables import FIELDS as VARIABLE_FIELDS
from airflow_provider_wapiflow.variables import check_variables

if TYPE_CHECKING:
    from airflow.sdk import Context

_PLACEHOLDER = re.compile(r"\{\{\s*(\d+)\s*\}\}")
_TAKEN = "The mobile has already been taken."


def _utcnow() -> str:
    return datetime.now(timezone.utc).isoformat()


class _Summary:
    """The XCom summary of a bulk send: exact counts, capped lists, masked phones."""

    def __init__(self) -> None:
        self.counts = {"sent": 0, "skipped": 0, "failed": 0, "unknown": 0}
        self.lists: dict[str, list[dict[str, Any]]] = {"failed": [], "unknown": [], "conversation_ids": []}
        self._lock = threading.Lock()

    def add(self, kind: str, entry: dict[str, Any] | None = None) -> None:
        with self._lock:
            if kind in self.counts:
                self.counts[kind] += 1
            if entry is not None and kind in self.lists and len(self.lists[kind]) < SUMMARY_LIST_CAP:
                self.lists[kind].append(entry)

    def as_dict(self) -> dict[str, Any]:
        return {
            "sent": self.counts["sent"],
            "skipped": self.counts["skipped"],
            "failed": self.lists["failed"],
            "failed_count": self.counts["failed"],
            "unknown": self.lists["unknown"],
            "unknown_count": self.counts["unknown"],
            "conversation_ids": self.lists["conversation_ids"],
        }


class _BulkSendOperator(BaseOperator):
    """Recipient handling, delivery ledger, concurrency and summary shared by the two send operators."""

    _extra_recipient_keys: ClassVar[tuple[str, ...]] = ()
    _progress_verb = "sent"
    default_region: str | None = None
    """Set by the subclasses' ``default_region`` argument: the country of phones written without '+'."""

    def __init__(
        self,
        *,
        recipients: Any,
        from_number: str | None = None,
        max_failures: int | float = 0,
        concurrency: int = 8,
        dry_run: bool = False,
        resend_unknown: bool = False,
        wapiflow_conn_id: str = WapiFlowHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.recipients = recipients
        self.from_number = from_number
        self.max_failures = max_failures
        self.concurrency = check_concurrency(concurrency)
        failure_budget(max_failures, 0)  # a wrong type fails at parse time, not at run time
        # BaseOperator.dry_run() is a method (airflow tasks test --dry-run): do not shadow it.
        self.is_dry_run = dry_run
        self.resend_unknown = resend_unknown
        self.wapiflow_conn_id = wapiflow_conn_id

    @cached_property
    def hook(self) -> WapiFlowHook:
        return WapiFlowHook(self.wapiflow_conn_id, pool_size=max(self.concurrency, 4))

    # --- what the subclasses provide ---------------------------------------------------------------

    def _prepare(self) -> dict[str, Any]:
        """Check the operator-level input and resolve what every send shares; return summary fields."""
        raise NotImplementedError

    def _request(self, recipient: Recipient) -> api.ApiRequest:
        """Build (and so validate) the send request of one recipient."""
        raise NotImplementedError

    # --- the bulk send ------------------------------------------------------------------------------

    def execute(self, context: Context) -> dict[str, Any]:
        started_at = _utcnow()
        recipients_input = rendered_list(self.recipients, "recipients")
        parsed = parse_recipients(
            recipients_input, extra_keys=self._extra_recipient_keys, default_region=self.default_region
        )
        total = len(parsed.valid) + len(parsed.invalid)
        budget = failure_budget(self.max_failures, total)
        if (repeated := parsed.duplicates_warning()) is not None:
            self.log.warning("%s", repeated)
        self._check_invalid(parsed.invalid, total, budget)  # before any request, even the template lookup
        shared = self._prepare()
        recipients, invalid = self._validated(parsed.valid, parsed.invalid)
        self._check_invalid(invalid, total, budget)
        if invalid:
            self.log.warning("%s\nSending to the others: max_failures allows it.", format_problems(invalid, total))

        store = context.get("task_state_store")
        if store is None:
            self.log.warning(
                "This Airflow has no task state store (3.3+): a retry of this task may resend messages "
                "that this try delivered."
            )
        try_number = int(getattr(context.get("ti"), "try_number", 1) or 1)
        ledger = DeliveryLedger(store, try_number, self.log)
        history = ledger.history()

        summary = _Summary()
        for problem in invalid:
            summary.add("failed", problem.describe())
        to_send: list[Recipient] = []
        for recipient in recipients:
            if recipient.digest in history.delivered:
                summary.add("skipped")
            elif recipient.digest in history.unknown and not self.resend_unknown:
                summary.add(
                    "unknown",
                    {**recipient.describe(), "error": "an earlier try may have sent it; not resent "
                     "(set resend_unknown=True to send it again)"},
                )  # fmt: skip
            else:
                to_send.append(recipient)
        if history.delivered or history.unknown:
            self.log.info(
                "Try %d: %d recipients were delivered by earlier tries and are skipped; %d are unknown",
                try_number, summary.counts["skipped"], summary.counts["unknown"],
            )  # fmt: skip

        result: dict[str, Any] = {
            **shared,
            "recipients": total,
            "duplicates": [{"position": p, "first_position": f} for p, f in parsed.duplicates[:SUMMARY_LIST_CAP]],
            "dry_run": self.is_dry_run,
            "try_number": try_number,
        }
        if self.is_dry_run:
            self.log.info("Dry run: would send to %d recipients; nothing sent", len(to_send))
            return {**result, **summary.as_dict(), "would_send": len(to_send), "requests": self.hook.requests_made,
                    "started_at": started_at, "finished_at": _utcnow()}  # fmt: skip

        fatal = self._send_all(to_send, ledger, summary)
        result.update(summary.as_dict())
        result.update(requests=self.hook.requests_made, started_at=started_at, finished_at=_utcnow())
        problems = result["failed_count"] + result["unknown_count"]
        if fatal is not None or problems > budget:
            self._push_summary(context, result)
        if fatal is not None:
            raise type(fatal)(
                f"Stopped after {result['sent']} sent: {fatal.message} ({problems} recipients not sent or unknown)",
                remark=fatal.remark, messages=fatal.messages, status_code=fatal.status_code,
            )  # fmt: skip
        if problems > budget:
            raise AirflowException(
                f"{result['failed_count']} recipients failed and {result['unknown_count']} have an unknown "
                f"outcome, more than max_failures={self.max_failures!r} allows ({result['sent']} sent, "
                f"{result['skipped']} skipped). First problems: "
                + "; ".join(f"#{e['position']} {e['recipient']}: {e['error']}"
                            for e in (result["failed"] + result["unknown"])[:5])
            )  # fmt: skip
        return result

    def _check_invalid(self, invalid: list[InvalidRecipient], total: int, budget: int) -> None:
        if invalid and len(invalid) > budget:
            raise WapiFlowInputError(
                format_problems(invalid, total) + f"\nNothing was sent (max_failures={self.max_failures!r})."
            )

    def _validated(
        self, recipients: list[Recipient], invalid: list[InvalidRecipient]
    ) -> tuple[list[Recipient], list[InvalidRecipient]]:
        valid: list[Recipient] = []
        problems = list(invalid)
        for recipient in recipients:
            try:
                self._request(recipient)
            except WapiFlowInputError as error:
                problems.append(recipient.invalid(str(error)))
                continue
            valid.append(recipient)
        problems.sort(key=lambda p: p.position)
        return valid, problems

    def _send_all(self, to_send: list[Recipient], ledger: DeliveryLedger, summary: _Summary) -> WapiFlowError | None:
        stop = threading.Event()
        fatal: WapiFlowError | None = None
        progress = Progress(self.log, self._progress_verb, len(to_send))
        ledger.plan(r.digest for r in to_send)

        def in_order() -> Any:
            for recipient in to_send:
                ledger.before_send(recipient.digest)
                yield recipient

        finished: set[int] = set()
        try:
            for recipient, future in run_bounded(in_order(), self._send_one, concurrency=self.concurrency, stop=stop):
                finished.add(recipient.position)
                entry = recipient.describe()
                try:
                    data = future.result()
                except WapiFlowError as error:
                    entry["error"] = error.message
                    not_sent = error.outcome is SendOutcome.NOT_SENT
                    summary.add("failed" if not_sent else "unknown", entry)
                    ledger.record(recipient.digest, unknown=not not_sent)
                    if isinstance(error, BATCH_FATAL_ERRORS) and fatal is None:
                        fatal = error
                        stop.set()
                        self.log.error("Stopping the batch: %s", error.message)
                    progress.advance(failed=not_sent, unknown=not not_sent)
                    continue
                except Exception as error:  # a bug must not hide whether the message went out
                    entry["error"] = f"{type(error).__name__}: {error}"
                    summary.add("unknown", entry)
                    ledger.record(recipient.digest, unknown=True)
                    progress.advance(unknown=True)
                    continue
                summary.add("sent")
                if data.get("conversation_id") is not None:
                    summary.add("conversation_ids", {**entry, "conversation_id": data["conversation_id"]})
                ledger.record(recipient.digest, delivered=True)
                progress.advance()
        finally:
            ledger.close()
        progress.finish()
        for recipient in to_send:
            if recipient.position not in finished:
                reason = f"not sent: the batch stopped after {fatal.message}" if fatal else "not sent"
                summary.add("failed", {**recipient.describe(), "error": reason})
        return fatal

    def _send_one(self, recipient: Recipient) -> dict[str, Any]:
        request = self._request(recipient)
        try:
            return self.hook.call(request)
        except WapiFlowNotAContactError:
            if not recipient.can_create_contact:
                raise WapiFlowNotAContactError(
                    "not a WapiFlow contact, so nothing was sent: add 'firstname' and 'lastname' to the "
                    "recipient so the operator can create the contact, or upsert contacts first "
                    "(UpsertContactsOperator)",
                    remark="exception",
                ) from None
        self._create_contact(recipient)
        # The first send proved nothing went out, so sending now cannot duplicate.
        return self.hook.call(request)

    def _create_contact(self, recipient: Recipient) -> None:
        contact = recipient.contact
        try:
            self.hook.create_contact(
                contact["firstname"], contact["lastname"], recipient.phone.mobile_code, recipient.phone.mobile,
                city=contact.get("city"), state=contact.get("state"),
                post_code=contact.get("post_code"), address=contact.get("address"),
            )  # fmt: skip
        except WapiFlowValidationError as error:
            if _TAKEN not in error.messages:
                raise WapiFlowValidationError(
                    f"not a WapiFlow contact, and creating it failed: {error.message}"
                ) from None
            # Created meanwhile by someone else: the send can go ahead.
        except WapiFlowAuthError:
            raise
        except WapiFlowError as error:
            # Nothing was sent whatever happened to the create: keep this recipient "not sent".
            raise WapiFlowError(f"not a WapiFlow contact, and creating it failed: {error.message}") from None
        self.log.info("Created WapiFlow contact %s before sending", recipient.phone.masked)

    def _push_summary(self, context: Context, summary: dict[str, Any]) -> None:
        """Keep the summary of a failing try under XCom key ``summary``: it still accounts for every recipient."""
        ti = context.get("ti")
        if ti is not None:
            ti.xcom_push(key="summary", value=summary)


def _placeholders(text: Any) -> int:
    """The number of ``{{n}}`` parameters a template text expects (the highest n)."""
    if not isinstance(text, str):
        return 0
    return max((int(n) for n in _PLACEHOLDER.findall(text)), default=0)


class SendTemplateOperator(MaskedRenderedFields, _BulkSendOperator):
    """
    Send an approved WhatsApp template to many recipients, each with their own variables.

    .. seealso::
        :ref:`howto/operator:SendTemplateOperator`

    :param template: the template's id, or its name (templated); see :ref:`howto/operator:SendTemplateOperator`
        for how a name is chosen among templates of several languages.
    :param recipients: a list of E.164 strings (``"+34600111222"``) or dicts with ``phone`` (or
        ``mobile_code`` + ``mobile``), optional ``body_variables`` / ``header_variables`` overriding the
        operator's, an optional ``ref`` (your own reference, e.g. a customer id: any JSON scalar, returned
        in the summary's failed and unknown entries), and optional contact fields (``firstname``,
        ``lastname``, ``city``, ``state``, ``post_code``, ``address``) used to create the contact when the
        number is not one yet (templated; an XComArg works). Positions in errors and summaries count
        from 1 (the position in the whole input for batches of
        :func:`~airflow_provider_wapiflow.batching.batch_recipients`).
    :param language: the template's language (WapiFlow's ``language_id``) when ``template`` is a name
        that several approved templates share, one per language (templated).
    :param body_variables: values for the body's ``{{1}}``, ``{{2}}``…, used for every recipient
        without their own (templated). Text, integers, finite floats (``12.0`` is sent as ``"12"``) and
        ``Decimal``; ``None``, NaN, infinities, booleans, bytes, empty texts and texts with a newline,
        a tab or more than four consecutive spaces are refused before any request
        (:mod:`airflow_provider_wapiflow.variables`).
    :param header_variables: values for a text header's ``{{1}}``, checked the same way (templated).
    :param default_region: an ISO country (``"ES"``) for phones written without '+' (``"600 111 222"``,
        ``"0034 600 111 222"``); without it, phones must be E.164.
    :param from_number: the sending WhatsApp number (WapiFlow ignores it for templates today).
    :param max_failures: failed + unknown recipients tolerated before the task fails: a count (int)
        or a ratio of the recipients (float). Invalid recipients are skipped only within this budget.
    :param concurrency: sends in flight at once.
    :param dry_run: validate everything and report what would be sent; send nothing.
    :param resend_unknown: on a later try, send again to recipients whose earlier send had an unknown
        outcome (they may receive the message twice).
    :param wapiflow_conn_id: the WapiFlow connection.
    :return: the summary (also pushed under XCom key ``summary`` when the task fails).
    """

    template_fields: Sequence[str] = (
        "template",
        "language",
        "recipients",
        "body_variables",
        "header_variables",
        "from_number",
    )
    template_fields_renderers = {"recipients": "json", "body_variables": "json", "header_variables": "json"}
    personal_fields = ("recipients",)
    ui_color = "#25d366"

    def __init__(
        self,
        *,
        template: int | str,
        recipients: Any,
        language: int | str | None = None,
        body_variables: Sequence[Any] | None = None,
        header_variables: Sequence[Any] | None = None,
        default_region: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(recipients=recipients, **kwargs)
        self.template = template
        self.language = language
        self.body_variables = body_variables
        self.header_variables = header_variables
        self.default_region = check_region(default_region)

    def _operator_variables(self) -> dict[str, tuple[str, ...] | None]:
        """The operator-wide variables, checked once: a bad value fails the task before any request."""
        checked: dict[str, tuple[str, ...] | None] = {}
        for name in VARIABLE_FIELDS:
            try:
                checked[name] = check_variables(getattr(self, name), name)
            except WapiFlowInputError as error:
                raise WapiFlowInputError(
                    f"{error.message} (the operator's {name}, used for every recipient without their own); "
                    "nothing was sent"
                ) from None
        return checked

    def _prepare(self) -> dict[str, Any]:
        self._shared = self._operator_variables()
        template = self.hook.get_template(self.template, language=self.language)
        status = template_status(template)
        if status is not TemplateStatus.APPROVED:
            state = status.name.lower() if status is not None else f"in status {template.get('status')!r}"
            raise WapiFlowInputError(
                f"template {template.get('name')!r} (id {template.get('id')}) is {state}: only approved "
                "templates can be sent"
            )
        self._template_id = int(template["id"])
        header = template.get("header")
        header_text = header.get("text") if isinstance(header, dict) else header
        self._needs = {"body_variables": _placeholders(template.get("body")),
                       "header_variables": _placeholders(header_text)}  # fmt: skip
        self.log.info("Sending template %r (id %d)", template.get("name"), self._template_id)
        return {"template_id": self._template_id, "template_name": template.get("name")}

    def _variables(self, recipient: Recipient) -> tuple[Sequence[str] | None, Sequence[str] | None]:
        body = recipient.body_variables if recipient.body_variables is not None else self._shared["body_variables"]
        header = (
            recipient.header_variables if recipient.header_variables is not None else self._shared["header_variables"]
        )
        return body, header

    def _request(self, recipient: Recipient) -> api.ApiRequest:
        body, header = self._variables(recipient)
        for name, values in (("body_variables", body), ("header_variables", header)):
            needed, given = self._needs[name], len(values or ())
            if needed == given:
                continue
            if not needed:
                raise WapiFlowInputError(f"the template has no placeholders for {name}, got {given}")
            problem = f"the template expects {needed} {name} ({{{{1}}}}..{{{{{needed}}}}}), got {given}"
            if values is None:
                # Nothing given anywhere: the operator-level argument is what most DAGs want.
                problem += (
                    f": give the operator's {name}=[...] argument (shared by every recipient) or "
                    f"'{name}' in each recipient dict"
                )
            raise WapiFlowInputError(problem)
        return api.send_template_message(
            recipient.phone.mobile_code,
            recipient.phone.mobile,
            self._template_id,
            self.from_number,
            body,
            header,
        )


class SendMessageOperator(MaskedRenderedFields, _BulkSendOperator):
    """
    Send a free-form WhatsApp message (text, one media file, a location, a CTA URL or a list) to many recipients.

    Same recipients, delivery ledger, retries and summary as :class:`SendTemplateOperator`. WhatsApp
    only delivers free-form messages inside the 24-hour window after the customer last wrote.

    .. seealso::
        :ref:`howto/operator:SendMessageOperator`

    :param recipients: as for :class:`SendTemplateOperator`; a recipient dict may carry its own
        ``message`` (templated).
    :param message: the text, or the caption of a media file (templated).
    :param image: a jpg/png up to 5 MB: a local path or an ``ObjectStoragePath`` / URI (templated).
    :param document: a pdf/doc/docx up to 100 MB (templated).
    :param video: an mp4 up to 16 MB (templated).
    :param audio: an audio file up to 16 MB (templated).
    :param latitude: with ``longitude``, send a location.
    :param longitude: with ``latitude``, send a location.
    :param cta_url_id: a CTA URL configured in WapiFlow.
    :param interactive_list_id: an interactive list configured in WapiFlow.
    :param default_region: an ISO country (``"ES"``) for phones written without '+'.
    """

    template_fields: Sequence[str] = (
        "recipients", "message", "image", "document", "video", "audio", "from_number",
    )  # fmt: skip
    template_fields_renderers = {"recipients": "json"}
    personal_fields = ("recipients",)
    _extra_recipient_keys = ("message",)
    ui_color = "#25d366"

    def __init__(
        self,
        *,
        recipients: Any,
        message: str | None = None,
        image: MediaSource | None = None,
        document: MediaSource | None = None,
        video: MediaSource | None = None,
        audio: MediaSource | None = None,
        latitude: float | None = None,
        longitude: float | None = None,
        cta_url_id: int | None = None,
        interactive_list_id: int | None = None,
        default_region: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(recipients=recipients, **kwargs)
        self.default_region = check_region(default_region)
        self.message = message
        self.image = image
        self.document = document
        self.video = video
        self.audio = audio
        self.latitude = latitude
        self.longitude = longitude
        self.cta_url_id = cta_url_id
        self.interactive_list_id = interactive_list_id

    def _prepare(self) -> dict[str, Any]:
        # Read and check the media file once, not once per recipient.
        media: dict[str, MediaFile] = {}
        for kind in ("image", "document", "video", "audio"):
            source = getattr(self, kind)
            if source is not None:
                media[kind] = load_media(kind, source)
        self._media = media
        kind = next(iter(media), None) or ("location" if self.latitude is not None else "text")
        return {"message_kind": kind}

    def _request(self, recipient: Recipient) -> api.ApiRequest:
        message = recipient.message if recipient.message is not None else self.message
        return api.send_message(
            recipient.phone.mobile_code, recipient.phone.mobile, message, self.from_number,
            self._media.get("image"), self._media.get("document"), self._media.get("video"),
            self._media.get("audio"), self.latitude, self.longitude, self.cta_url_id, self.interactive_list_id,
        )  # fmt: skip
