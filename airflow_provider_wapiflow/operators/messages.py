"""
SendTemplateOperator and SendMessageOperator: personalised bulk sends that never send twice.

Both validate every recipient before the first send, send with bounded concurrency, keep a delivery
ledger in Airflow's task state store so a later try skips what was delivered, classify every send as
sent / not sent / unknown (docs: guarantees, "Retries"), and return a JSON summary with masked phones.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_wapiflow.exceptions import (
    SendOutcome,
    WapiFlowAuthError,
    WapiFlowError,
    WapiFlowInputError,
    WapiFlowNotAContactError,
    WapiFlowNotFoundError,
    WapiFlowPlanError,
    WapiFlowRateLimitError,
    WapiFlowValidationError,
)
from airflow_provider_wapiflow.hooks import endpoints as api
from airflow_provider_wapiflow.hooks.wapiflow import WapiFlowAsyncHook, WapiFlowHook, template_status
from airflow_provider_wapiflow.media import MediaFile, MediaSource, load_media
from airflow_provider_wapiflow.models import TemplateStatus, check_region
from airflow_provider_wapiflow.operators._arguments import (
    check_concurrency,
    check_rate_limit_timeout,
    deprecated_ratio,
    rendered_list,
)
from airflow_provider_wapiflow.operators._bulk import (
    LISTED_PROBLEMS,
    SUMMARY_LIST_CAP,
    BulkRun,
    RateLimitTimeout,
    Throttle,
    Verdict,
    describe_budget,
    fail_without_retry,
    failure_budget,
    run_sync,
)
from airflow_provider_wapiflow.operators._ledger import INDEX_KEY, DeliveryLedger, History, RunScopedStore
from airflow_provider_wapiflow.operators._once_per import SENDS_ASSET, OncePerGuard
from airflow_provider_wapiflow.operators._readback import READ_PAGE_SIZE, sent_at
from airflow_provider_wapiflow.operators._rendered import MaskedRenderedFields
from airflow_provider_wapiflow.recipients import InvalidRecipient, Recipient, format_problems, parse_recipients
from airflow_provider_wapiflow.variables import FIELDS as VARIABLE_FIELDS
from airflow_provider_wapiflow.variables import check_variables

if TYPE_CHECKING:
    from airflow.sdk import Context

__all__ = ["SENDS_ASSET", "MessagePlan", "SendMessageOperator", "SendTemplateOperator", "TemplatePlan"]

_PLACEHOLDER = re.compile(r"\{\{\s*(\d+)\s*\}\}")


def _utcnow() -> str:
    return datetime.now(timezone.utc).isoformat()


#: What no retry can fix: the task fails at once instead of using its retries (the typed error is kept).
#: A not-found escaping execute() comes from the lookups before the sends (an unknown template): per
#: recipient not-founds (not a contact) are counted in the summary instead.
UNRETRYABLE_ERRORS: tuple[type[WapiFlowError], ...] = (
    WapiFlowInputError,
    WapiFlowAuthError,
    WapiFlowPlanError,
    WapiFlowNotFoundError,
)


def _clear_on_success() -> bool:
    from airflow.configuration import conf

    return conf.getboolean("state_store", "clear_on_success", fallback=False)


def _airflow_version() -> str:
    from airflow import __version__

    return str(__version__)


class _Summary:
    """The XCom summary of a bulk send: exact counts, capped lists, masked phones."""

    def __init__(self) -> None:
        self.counts = {"sent": 0, "skipped": 0, "failed": 0, "unknown": 0, "skipped_once_per": 0, "not_reached": 0}
        self.lists: dict[str, list[dict[str, Any]]] = {"failed": [], "unknown": [], "conversation_ids": []}

    def add(self, kind: str, entry: dict[str, Any] | None = None) -> None:
        if kind in self.counts:
            self.counts[kind] += 1
        if entry is not None and kind in self.lists and len(self.lists[kind]) < SUMMARY_LIST_CAP:
            self.lists[kind].append(entry)

    def resolve(self, positions: set[int]) -> int:
        """Move unknown entries proven sent by the read-back to ``sent``; return how many."""
        kept = [e for e in self.lists["unknown"] if e["position"] not in positions]
        resolved = len(self.lists["unknown"]) - len(kept)
        self.lists["unknown"] = kept
        self.counts["unknown"] -= resolved
        self.counts["sent"] += resolved
        return resolved

    def as_dict(self) -> dict[str, Any]:
        return {
            "sent": self.counts["sent"],
            "skipped": self.counts["skipped"],
            "skipped_once_per": self.counts["skipped_once_per"],
            "failed": self.lists["failed"],
            "failed_count": self.counts["failed"],
            "unknown": self.lists["unknown"],
            "unknown_count": self.counts["unknown"],
            "not_reached": self.counts["not_reached"],
            "conversation_ids": self.lists["conversation_ids"],
        }


class SendPlan(Protocol):
    """What every send of one try shares, resolved once before the first send (template, media)."""

    def summary(self) -> dict[str, Any]:
        """The summary fields that describe the plan (template id and name, message kind)."""

    def request(self, recipient: Recipient) -> api.ApiRequest:
        """Build (and so validate) the send request of one recipient."""


@dataclass
class _Try:
    """What one try of a bulk send works with, handed from step to step."""

    hook: WapiFlowAsyncHook
    run: BulkRun[tuple[Recipient, api.ApiRequest], dict[str, Any]]
    ledger: DeliveryLedger
    summary: _Summary
    guard: OncePerGuard | None
    who: str
    started: dict[str, datetime] = field(default_factory=dict)
    unknown: list[Recipient] = field(default_factory=list)
    unknown_resolved: int = 0


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
        max_failure_rate: float | None = None,
        concurrency: int = 8,
        dry_run: bool = False,
        resend_unknown: bool = False,
        read_back_unknown: bool = True,
        rate_limit_timeout: float = 600.0,
        once_per: str | None = None,
        resend_after_clear: bool = False,
        allow_resend_without_ledger: bool = False,
        fail_on_empty: bool = False,
        wapiflow_conn_id: str = WapiFlowHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        # The once_per guard (and the ledger, when Airflow wipes task state on success) lives in this
        # asset's state store: listing it as an inlet registers the asset when the DAG is parsed.
        inlets = list(kwargs.pop("inlets", None) or [])
        kwargs["inlets"] = inlets if SENDS_ASSET in inlets else [*inlets, SENDS_ASSET]
        super().__init__(**kwargs)
        self.recipients = recipients
        self.from_number = from_number
        self.max_failures, self.max_failure_rate = deprecated_ratio(max_failures, max_failure_rate)
        self.concurrency = check_concurrency(concurrency)
        # BaseOperator.dry_run() is a method (airflow tasks test --dry-run): do not shadow it.
        self.is_dry_run = dry_run
        self.resend_unknown = resend_unknown
        self.read_back_unknown = read_back_unknown
        self.rate_limit_timeout = check_rate_limit_timeout(rate_limit_timeout)
        self.once_per = once_per
        self.resend_after_clear = resend_after_clear
        self.allow_resend_without_ledger = allow_resend_without_ledger
        self.fail_on_empty = fail_on_empty
        self.wapiflow_conn_id = wapiflow_conn_id

    # --- what the subclasses provide ---------------------------------------------------------------

    def _check_arguments(self) -> None:
        """Check the operator-level input that needs no request; raise before any request."""

    async def _plan(self, hook: WapiFlowAsyncHook, throttle: Throttle) -> SendPlan:
        """Resolve what every send shares (the template, the media file)."""
        raise NotImplementedError

    # --- the bulk send ------------------------------------------------------------------------------

    def _hook(self, run: BulkRun[Any, Any]) -> WapiFlowAsyncHook:
        return run.hook(self.wapiflow_conn_id, pool_size=max(self.concurrency, 4))

    def execute(self, context: Context) -> dict[str, Any]:
        try:
            return self._execute(context)
        except UNRETRYABLE_ERRORS as error:
            raise fail_without_retry(error) from error

    def _execute(self, context: Context) -> dict[str, Any]:
        started_at = _utcnow()
        recipients_input = rendered_list(self.recipients, "recipients")
        if isinstance(recipients_input, Sequence) and not isinstance(recipients_input, str) and not recipients_input:
            if self.fail_on_empty:
                raise WapiFlowInputError("'recipients' is empty: nothing to send (fail_on_empty=True)")
            self.log.info("No recipients: nothing to send")
            return self._empty_result(context, started_at)
        parsed = parse_recipients(
            recipients_input, extra_keys=self._extra_recipient_keys, default_region=self.default_region
        )
        total = len(parsed.valid) + len(parsed.invalid)
        budget = failure_budget(self.max_failures, self.max_failure_rate, total)
        if (repeated := parsed.duplicates_warning()) is not None:
            self.log.warning("%s", repeated)
        self._check_invalid(parsed.invalid, total, budget)  # before any request, even the template lookup
        self._check_arguments()
        try_number = int(getattr(context.get("ti"), "try_number", 1) or 1)
        ledger = self._ledger(context, try_number)  # a later try without a ledger refuses before any request
        run: BulkRun[tuple[Recipient, api.ApiRequest], dict[str, Any]] = BulkRun(
            log=self.log,
            verb=self._progress_verb,
            concurrency=self.concurrency,
            rate_limit_timeout=self.rate_limit_timeout,
            budget=budget,
            budget_text=describe_budget(self.max_failures, self.max_failure_rate),
        )
        result: dict[str, Any] = {
            "recipients": total,
            "duplicates": [{"position": p, "first_position": f} for p, f in parsed.duplicates[:SUMMARY_LIST_CAP]],
            "duplicates_dropped": len(parsed.duplicates) + sum(r.duplicates_dropped for r in parsed.valid),
            "dry_run": self.is_dry_run,
            "try_number": try_number,
            "started_at": started_at,
        }
        return run_sync(self._send_try(context, run, ledger, parsed.valid, parsed.invalid, result))

    async def _send_try(
        self,
        context: Context,
        run: BulkRun[tuple[Recipient, api.ApiRequest], dict[str, Any]],
        ledger: DeliveryLedger,
        recipients: list[Recipient],
        invalid: list[InvalidRecipient],
        result: dict[str, Any],
    ) -> dict[str, Any]:
        hook = self._hook(run)
        try:
            try:
                plan = await self._plan(hook, run.throttle)
            except RateLimitTimeout as error:
                return self._rate_limited_before_sending(context, run, hook, recipients, result, error)
            requests, invalid = self._validated(plan, recipients, invalid)
            self._check_invalid(invalid, result["recipients"], run.budget)
            if invalid:
                self.log.warning("%s\nSending to the others: %s allows it.",
                                 format_problems(invalid, result["recipients"], LISTED_PROBLEMS),
                                 run.budget_text)  # fmt: skip
            history = ledger.history()
            state = _Try(hook, run, ledger, _Summary(), self._guard(context), self._who(context))
            for problem in invalid:
                state.summary.add("failed", problem.describe())
            to_send = self._to_send(requests, history, state)
            result.update(plan.summary())
            if self.is_dry_run:
                self.log.info("Dry run: would send to %d recipients; nothing sent", len(to_send))
                return {**result, **state.summary.as_dict(), **self._delivered(history.delivered_at, {}),
                        "unknown_resolved": 0, "rate_limited": 0, "would_send": len(to_send),
                        "concurrency_reached": 0, "requests": hook.requests_made,
                        "finished_at": _utcnow()}  # fmt: skip
            await self._send_all(to_send, state)
            if state.unknown and self.read_back_unknown:
                await self._read_back(state)
        finally:
            await hook.close()
        result.update(state.summary.as_dict())
        result.update(self._delivered(history.delivered_at, ledger.delivered_now()))
        result.update(unknown_resolved=state.unknown_resolved, rate_limited=run.throttle.rate_limited,
                      concurrency_reached=run.throttle.peak, requests=hook.requests_made,
                      finished_at=_utcnow())  # fmt: skip
        self._raise_if_failed(context, run, result)
        return result

    def _rate_limited_before_sending(
        self,
        context: Context,
        run: BulkRun[Any, Any],
        hook: WapiFlowAsyncHook,
        recipients: list[Recipient],
        result: dict[str, Any],
        error: RateLimitTimeout,
    ) -> dict[str, Any]:
        """A storm before the first send (the template lookup): every recipient is not reached, not sent."""
        self.log.error("Stopping before the first send: %s", error.message)
        summary = _Summary()
        for recipient in recipients:
            summary.add("failed", {**recipient.describe(), "error": error.message})
            summary.add("not_reached")
        run.stopped_by = error
        run.not_reached = len(recipients)
        failed = {**self._empty_result(context, result["started_at"]), **summary.as_dict(),
                  "recipients": result["recipients"], "rate_limited": run.throttle.rate_limited,
                  "requests": hook.requests_made}  # fmt: skip
        self._raise_if_failed(context, run, failed)
        return failed

    def _empty_result(self, context: Context, started_at: str) -> dict[str, Any]:
        try_number = int(getattr(context.get("ti"), "try_number", 1) or 1)
        return {"recipients": 0, "duplicates": [], "duplicates_dropped": 0, "dry_run": self.is_dry_run,
                "try_number": try_number, **_Summary().as_dict(), **self._delivered({}, {}), "unknown_resolved": 0,
                "rate_limited": 0, "concurrency_reached": 0, "requests": 0, "started_at": started_at,
                "finished_at": _utcnow()}  # fmt: skip

    def _ledger(self, context: Context, try_number: int) -> DeliveryLedger:
        store: Any = context.get("task_state_store")
        if store is None:
            if try_number > 1 and not self.allow_resend_without_ledger:
                raise AirflowFailException(
                    f"Try {try_number} of a send task, but Airflow {_airflow_version()} has no task state store "
                    "(Airflow 3.3+): there is no delivery ledger, so this try cannot tell whom earlier tries "
                    "messaged and would message them again. Not sending. Set allow_resend_without_ledger=True "
                    "to accept that risk, or upgrade Airflow."
                )
            self.log.warning(
                "Airflow %s has no task state store (3.3+): a retry of this task may resend messages that "
                "this try delivered; later tries refuse to run unless allow_resend_without_ledger=True.",
                _airflow_version(),
            )
        elif _clear_on_success():
            # Airflow wipes the task state store on success (and on mark-success): keep the ledger where
            # it does not, so a cleared task still knows what it sent.
            ti = context["ti"]
            scoped = RunScopedStore(self._sends_store(context), f"{ti.dag_id}/{ti.run_id}/{ti.task_id}/{ti.map_index}")
            try:
                scoped.get(INDEX_KEY)
                store = scoped
            except Exception as error:  # the asset is not registered (a mapped task without the inlet)
                self.log.warning(
                    "[state_store] clear_on_success is on, and the ledger cannot use the asset %r (%s): it "
                    "stays in the task state store, which Airflow wipes when the task succeeds, so a cleared "
                    "task may message its recipients again. Add inlets=[SENDS_ASSET] to the task.",
                    SENDS_ASSET.name, error,
                )  # fmt: skip
        clear_number = int(getattr(context.get("dag_run"), "clear_number", 0) or 0)
        return DeliveryLedger(store, try_number, self.log, clear_number=clear_number,
                              ignore_before_clear=self.resend_after_clear)  # fmt: skip

    def _sends_store(self, context: Context) -> Any:
        from airflow.sdk.execution_time.context import AssetStateStoreAccessor

        return AssetStateStoreAccessor(name=SENDS_ASSET.name)

    def _guard(self, context: Context) -> OncePerGuard | None:
        if self.once_per is None:
            return None
        key = str(self.once_per).strip()
        if not key or len(key) > 200:
            raise WapiFlowInputError(f"'once_per' must be a non-empty key of at most 200 characters, got {key!r}")
        ti = context["ti"]
        return OncePerGuard(self._sends_store(context), dag_id=ti.dag_id, task_id=ti.task_id, key=key)

    @staticmethod
    def _who(context: Context) -> str:
        ti = context.get("ti")
        return f"{getattr(ti, 'run_id', '?')}[{getattr(ti, 'map_index', -1)}]#{getattr(ti, 'try_number', 1)}"

    def _to_send(
        self, requests: list[tuple[Recipient, api.ApiRequest]], history: History, state: _Try
    ) -> list[tuple[Recipient, api.ApiRequest]]:
        summary = state.summary
        to_send: list[tuple[Recipient, api.ApiRequest]] = []
        for recipient, request in requests:
            if recipient.digest in history.delivered:
                summary.add("skipped")
            elif recipient.digest in history.unknown and not self.resend_unknown:
                summary.add(
                    "unknown",
                    {**recipient.describe(), "error": "an earlier try may have sent it; not resent "
                     "(set resend_unknown=True to send it again)"},
                )  # fmt: skip
            elif state.guard is not None and self._guarded(recipient, state):
                summary.add("skipped_once_per")
            else:
                to_send.append((recipient, request))
        if history.delivered or history.unknown:
            self.log.info(
                "Try %d: %d recipients were delivered by earlier tries and are skipped; %d are unknown",
                state.ledger.try_number, summary.counts["skipped"], summary.counts["unknown"],
            )  # fmt: skip
        if summary.counts["skipped_once_per"]:
            self.log.info("once_per=%r: %d recipients were already messaged under this key and are skipped",
                          self.once_per, summary.counts["skipped_once_per"])  # fmt: skip
        return to_send

    def _guarded(self, recipient: Recipient, state: _Try) -> bool:
        assert state.guard is not None
        try:
            seen = state.guard.state(recipient.digest)
        except Exception as error:  # the asset is not registered: say how to fix it
            raise WapiFlowInputError(
                f"once_per needs the asset {SENDS_ASSET.name!r} ({type(error).__name__}: {error}); list it in the "
                "task's inlets (for a mapped task: .partial(..., inlets=[SENDS_ASSET]))"
            ) from None
        return seen is not None

    def _delivered(self, earlier: dict[str, str | None], now: dict[str, str]) -> dict[str, Any]:
        delivered = {digest: at for digest, at in {**now, **earlier}.items() if at is not None}
        first = min(delivered.values(), key=lambda at: datetime.fromisoformat(at), default=None)
        capped = dict(sorted(delivered.items(), key=lambda item: item[1])[:SUMMARY_LIST_CAP])
        return {"delivered_at": capped, "first_delivered_at": first}

    def _raise_if_failed(self, context: Context, run: BulkRun[Any, Any], result: dict[str, Any]) -> None:
        not_reached = result["not_reached"]
        problems = result["failed_count"] + result["unknown_count"]
        counts = f"{result['sent']} sent, {result['skipped']} skipped"

        def stopped(fatal: WapiFlowError) -> str:
            return f"Stopped after {result['sent']} sent: {fatal.message} ({problems} recipients not sent or unknown)"

        def over_budget() -> str:
            listed = (result["failed"] + result["unknown"])[:5]
            return (
                f"{result['failed_count'] - not_reached} recipients failed and {result['unknown_count']} have an "
                f"unknown outcome, more than {run.budget_text} allows ({counts}). First problems: "
                + "; ".join(f"#{e['position']} {e['recipient']}: {e['error']}" for e in listed)
            )

        def rate_limited() -> str:
            return (
                f"WapiFlow rate-limited the batch (HTTP 429) for longer than rate_limit_timeout="
                f"{self.rate_limit_timeout:g}s: {not_reached} recipients were not reached. Nothing was sent to "
                f"them, so the next try sends them ({counts}, {result['rate_limited']} rate-limited answers)."
            )

        run.raise_if_failed(
            context, result, problems=problems, stopped=stopped, over_budget=over_budget, rate_limited=rate_limited
        )

    def _check_invalid(self, invalid: list[InvalidRecipient], total: int, budget: int) -> None:
        if invalid and len(invalid) > budget:
            raise WapiFlowInputError(
                format_problems(invalid, total, LISTED_PROBLEMS)
                + f"\nNothing was sent ({describe_budget(self.max_failures, self.max_failure_rate)})."
            )

    @staticmethod
    def _validated(
        plan: SendPlan, recipients: list[Recipient], invalid: list[InvalidRecipient]
    ) -> tuple[list[tuple[Recipient, api.ApiRequest]], list[InvalidRecipient]]:
        """Every recipient's request, built (and so checked) once, before the first send."""
        valid: list[tuple[Recipient, api.ApiRequest]] = []
        problems = list(invalid)
        for recipient in recipients:
            try:
                valid.append((recipient, plan.request(recipient)))
            except WapiFlowInputError as error:
                problems.append(recipient.invalid(str(error)))
        problems.sort(key=lambda p: p.position)
        return valid, problems

    async def _send_all(self, to_send: list[tuple[Recipient, api.ApiRequest]], state: _Try) -> None:
        ledger, summary, guard, run = state.ledger, state.summary, state.guard, state.run
        ledger.plan(recipient.digest for recipient, _ in to_send)

        def before(item: tuple[Recipient, api.ApiRequest]) -> None:
            digest = item[0].digest
            if guard is not None:
                guard.claim(digest, state.who)
            ledger.before_send(digest)

        def settle(item: tuple[Recipient, api.ApiRequest], data: dict[str, Any] | None,
                   error: BaseException | None) -> Verdict:  # fmt: skip
            recipient = item[0]
            digest = recipient.digest
            if isinstance(error, RateLimitTimeout):
                summary.add("failed", {**recipient.describe(), "error": error.message})
                summary.add("not_reached")
                ledger.record(digest)
                if guard is not None:
                    guard.release(digest)
                return "failed"
            if isinstance(error, WapiFlowError):
                not_sent = error.outcome is SendOutcome.NOT_SENT
                summary.add("failed" if not_sent else "unknown", {**recipient.describe(), "error": error.message})
                ledger.record(digest, unknown=not not_sent)
                if not not_sent:
                    state.unknown.append(recipient)
                if guard is not None:
                    guard.release(digest) if not_sent else guard.unknown(digest, state.who)
                return "failed" if not_sent else "unknown"
            if error is not None:  # a bug must not hide whether the message went out
                summary.add("unknown", {**recipient.describe(), "error": f"{type(error).__name__}: {error}"})
                ledger.record(digest, unknown=True)
                state.unknown.append(recipient)
                if guard is not None:
                    guard.unknown(digest, state.who)
                return "unknown"
            assert data is not None
            at = state.hook.server_now().isoformat()
            summary.add("sent")
            if data.get("conversation_id") is not None:
                summary.add("conversation_ids", {**recipient.describe(), "conversation_id": data["conversation_id"]})
            ledger.record(digest, delivered_at=at)
            if guard is not None:
                guard.sent(digest, at, state.who)
            return "ok"

        try:
            never_started = await run.run(to_send, lambda item: self._send_one(*item, state), settle, before=before)
        finally:
            ledger.close()
        reason = run.never_started_reason("sent")
        for recipient, _ in never_started:
            if guard is not None:
                guard.release(recipient.digest)
            if run.rate_limited:
                summary.add("not_reached")
            summary.add("failed", {**recipient.describe(), "error": reason})

    async def _read_back(self, state: _Try) -> None:
        """One conversation-list read per unknown recipient of this try; a proven send becomes delivered."""
        hook, throttle = state.hook, state.run.throttle
        resolved: dict[str, str] = {}
        positions: set[int] = set()
        for recipient in state.unknown:
            started = state.started.get(recipient.digest)
            if started is None:
                continue
            search = recipient.phone.mobile
            try:
                page = await throttle.call(
                    lambda: hook.list_conversations(page=1, per_page=READ_PAGE_SIZE, search=search)  # noqa: B023
                )
            except WapiFlowError as error:
                self.log.warning("Read-back of %s failed (%s): it stays unknown", recipient.phone.masked, error.message)
                continue
            at = sent_at(list(page.get("data") or []), recipient.phone, started)
            if at is not None:
                resolved[recipient.digest] = at
                positions.add(recipient.describe()["position"])
                if state.guard is not None:
                    state.guard.sent(recipient.digest, at, state.who)
        state.ledger.resolve(resolved)
        state.unknown_resolved = state.summary.resolve(positions)
        progress = state.run.progress
        self.log.info(
            "Read-back of %d unknown outcomes: %d proven sent (recorded as delivered), %d stay unknown; %s",
            len(state.unknown), state.unknown_resolved, len(state.unknown) - state.unknown_resolved,
            progress.line(f" ({state.unknown_resolved} unknown resolved)"),
        )  # fmt: skip

    async def _send_one(self, recipient: Recipient, request: api.ApiRequest, state: _Try) -> dict[str, Any]:
        hook, throttle = state.hook, state.run.throttle
        state.started.setdefault(recipient.digest, hook.server_now(earliest=True))
        try:
            return await throttle.call(lambda: hook.call(request))
        except WapiFlowNotAContactError:
            if not recipient.can_create_contact:
                raise WapiFlowNotAContactError(
                    "not a WapiFlow contact, so nothing was sent: add 'firstname' and 'lastname' to the "
                    "recipient so the operator can create the contact, or upsert contacts first "
                    "(UpsertContactsOperator)",
                    remark="exception",
                ) from None
        await throttle.call(lambda: self._create_contact(hook, recipient))
        # The first send proved nothing went out, so sending now cannot duplicate.
        state.started[recipient.digest] = hook.server_now(earliest=True)
        return await throttle.call(lambda: hook.call(request))

    async def _create_contact(self, hook: WapiFlowAsyncHook, recipient: Recipient) -> None:
        contact = recipient.contact
        try:
            await hook.create_contact(
                contact["firstname"], contact["lastname"], recipient.phone.mobile_code, recipient.phone.mobile,
                city=contact.get("city"), state=contact.get("state"),
                post_code=contact.get("post_code"), address=contact.get("address"),
            )  # fmt: skip
        except WapiFlowValidationError as error:
            if api.TAKEN_MOBILE not in error.messages:
                raise WapiFlowValidationError(
                    f"not a WapiFlow contact, and creating it failed: {error.message}"
                ) from None
            # Created meanwhile by someone else: the send can go ahead.
        except (WapiFlowAuthError, WapiFlowRateLimitError):
            raise  # a 429 is waited out by the batch's throttle
        except WapiFlowError as error:
            # Nothing was sent whatever happened to the create: keep this recipient "not sent".
            raise WapiFlowError(f"not a WapiFlow contact, and creating it failed: {error.message}") from None
        self.log.info("Created WapiFlow contact %s before sending", recipient.phone.masked)


def _placeholders(text: Any) -> int:
    """The number of ``{{n}}`` parameters a template text expects (the highest n)."""
    if not isinstance(text, str):
        return 0
    return max((int(n) for n in _PLACEHOLDER.findall(text)), default=0)


@dataclass(frozen=True)
class TemplatePlan:
    """A template send: the approved template, its placeholders and the operator-wide variables."""

    template_id: int
    template_name: str | None
    needs: dict[str, int]
    """Placeholders of the body and of the header: ``{"body_variables": 2, "header_variables": 0}``."""
    shared: dict[str, tuple[str, ...] | None]
    """The operator's variables, for recipients without their own."""
    from_number: str | None

    def summary(self) -> dict[str, Any]:
        return {"template_id": self.template_id, "template_name": self.template_name}

    def request(self, recipient: Recipient) -> api.ApiRequest:
        given = {"body_variables": recipient.body_variables, "header_variables": recipient.header_variables}
        chosen = {name: values if values is not None else self.shared[name] for name, values in given.items()}
        for name, values in chosen.items():
            needed, count = self.needs[name], len(values or ())
            if needed == count:
                continue
            if not needed:
                raise WapiFlowInputError(f"the template has no placeholders for {name}, got {count}")
            problem = f"the template expects {needed} {name} ({{{{1}}}}..{{{{{needed}}}}}), got {count}"
            if values is None:
                # Nothing given anywhere: the operator-level argument is what most DAGs want.
                problem += (
                    f": give the operator's {name}=[...] argument (shared by every recipient) or "
                    f"'{name}' in each recipient dict"
                )
            raise WapiFlowInputError(problem)
        return api.send_template_message(
            recipient.phone.mobile_code, recipient.phone.mobile, self.template_id, self.from_number,
            chosen["body_variables"], chosen["header_variables"],
        )  # fmt: skip


@dataclass(frozen=True)
class MessagePlan:
    """A free-form send: the message kind and its media file, read and checked once."""

    kind: str
    media: dict[str, MediaFile]
    operator: SendMessageOperator

    def summary(self) -> dict[str, Any]:
        return {"message_kind": self.kind}

    def request(self, recipient: Recipient) -> api.ApiRequest:
        op, media = self.operator, self.media
        message = recipient.message if recipient.message is not None else op.message
        return api.send_message(
            recipient.phone.mobile_code, recipient.phone.mobile, message, op.from_number,
            media.get("image"), media.get("document"), media.get("video"), media.get("audio"),
            op.latitude, op.longitude, op.cta_url_id, op.interactive_list_id,
        )  # fmt: skip


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
    :param max_failures: failed + unknown recipients tolerated before the task fails, as a count.
        Invalid recipients are skipped only within the budget. A float is the deprecated spelling of
        ``max_failure_rate``.
    :param max_failure_rate: the same budget as a rate of the recipients (0.0 to 1.0); the larger
        of the two budgets applies.
    :param concurrency: sends in flight at most (1-64); a 429 or 503 halves it for the batch and normal
        answers bring it back gradually (:ref:`guarantees:storms`).
    :param dry_run: validate everything and report what would be sent; send nothing.
    :param resend_unknown: on a later try, send again to recipients whose earlier send had an unknown
        outcome (they may receive the message twice).
    :param read_back_unknown: after the sends, read each unknown recipient's conversations once and
        record the send as delivered when they prove it (:ref:`guarantees:read-back`).
    :param rate_limit_timeout: seconds of nothing but HTTP 429 after which the batch stops; the
        recipients not reached are reported as not sent and the next try sends them.
    :param once_per: a key (e.g. ``"{{ ds }}"`` or a campaign name): skip recipients this task already
        messaged under it in any run or mapped instance (:ref:`guarantees:once-per`; templated).
    :param resend_after_clear: after the DAG run was cleared, send again to recipients delivered
        before the clear (default: a cleared task messages nobody twice).
    :param allow_resend_without_ledger: on an Airflow without a task state store, let a later try run
        although it may message again whom earlier tries messaged.
    :param fail_on_empty: fail when ``recipients`` is empty instead of succeeding with a zero summary.
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
        "once_per",
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

    def _check_arguments(self) -> None:
        self._operator_variables()

    async def _plan(self, hook: WapiFlowAsyncHook, throttle: Throttle) -> TemplatePlan:
        shared = self._operator_variables()
        template = await throttle.call(lambda: hook.get_template(self.template, language=self.language))
        status = template_status(template)
        if status is not TemplateStatus.APPROVED:
            state = status.name.lower() if status is not None else f"in status {template.get('status')!r}"
            raise WapiFlowInputError(
                f"template {template.get('name')!r} (id {template.get('id')}) is {state}: only approved "
                "templates can be sent"
            )
        header = template.get("header")
        header_text = header.get("text") if isinstance(header, dict) else header
        needs = {"body_variables": _placeholders(template.get("body")),
                 "header_variables": _placeholders(header_text)}  # fmt: skip
        plan = TemplatePlan(int(template["id"]), template.get("name"), needs, shared, self.from_number)
        self.log.info("Sending template %r (id %d)", plan.template_name, plan.template_id)
        return plan


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
        "recipients", "message", "image", "document", "video", "audio", "from_number", "once_per",
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

    async def _plan(self, hook: WapiFlowAsyncHook, throttle: Throttle) -> MessagePlan:
        # Read and check the media file once, not once per recipient.
        media: dict[str, MediaFile] = {}
        for kind in ("image", "document", "video", "audio"):
            source = getattr(self, kind)
            if source is not None:
                media[kind] = load_media(kind, source)
        kind = next(iter(media), None) or ("location" if self.latitude is not None else "text")
        return MessagePlan(kind, media, self)
