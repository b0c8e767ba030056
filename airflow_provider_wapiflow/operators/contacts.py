"""
UpsertContactsOperator: make WapiFlow's contacts match a table with the fewest requests.

One streamed read of the contact list finds the existing contacts (contact search is broken on the
real server: docs/server-bugs.rst#bug-contact-search); then only the missing contacts are created and
only the contacts whose fields differ are updated. Every update also uses up the plan's contact
allowance on the real server (docs/server-bugs.rst#bug-update-allowance), so a write that changes
nothing is a cost to the customer, not only a request. What a row needs is decided by
:mod:`airflow_provider_wapiflow.contacts`; this module does the reads and writes.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_wapiflow.contacts import (
    Action,
    ContactRow,
    ExistingContact,
    Key,
    PlannedWrite,
    contact_key,
    desired_fields,
    parse_row,
    plan_row,
)
from airflow_provider_wapiflow.exceptions import (
    SendOutcome,
    WapiFlowAuthError,
    WapiFlowError,
    WapiFlowInputError,
    WapiFlowPlanError,
    WapiFlowValidationError,
)
from airflow_provider_wapiflow.hooks.endpoints import TAKEN_MOBILE
from airflow_provider_wapiflow.hooks.wapiflow import WapiFlowAsyncHook
from airflow_provider_wapiflow.models import check_region
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
    one_per_key,
    run_sync,
)
from airflow_provider_wapiflow.operators._rendered import MaskedRenderedFields
from airflow_provider_wapiflow.recipients import masked_input

if TYPE_CHECKING:
    from airflow.sdk import Context

#: Contacts per page of the one pass that builds the index (WapiFlow has no upper cap on the page size).
DEFAULT_PAGE_SIZE = 500
#: Contacts per page when looking for a contact created meanwhile: it is among the newest.
_LOOKUP_PAGE_SIZE = 50


@dataclass
class _Outcome:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    failed: list[dict[str, Any]] = field(default_factory=list)
    failed_count: int = 0
    rows: dict[int, dict[str, Any]] = field(default_factory=dict)
    """Row position → how the row appears in a failure (masked phone, ``ref``), filled when parsing."""

    def fail(self, position: int, error: str) -> None:
        self.failed_count += 1
        if len(self.failed) < SUMMARY_LIST_CAP:
            self.failed.append({**self.rows.get(position, {"row": position}), "error": error})

    def count(self, action: Action) -> None:
        name = {"create": "created", "update": "updated", "unchanged": "unchanged", "skip": "skipped"}[action]
        setattr(self, name, getattr(self, name) + 1)


class UpsertContactsOperator(MaskedRenderedFields, BaseOperator):
    """
    Make WapiFlow's contacts match ``contacts``: create the missing, update those that differ.

    Contacts are matched by (mobile_code, mobile) with one read of the contact list. An update
    sends, for every optional field the row does not set, the contact's current value, so an upsert
    never blanks a city or post code the input did not mention; ``""`` blanks it on purpose.
    Creates run before updates: on the real server each update uses up the plan's contact allowance
    (:ref:`bug-update-allowance`), and that should not starve the new contacts.

    A create that WapiFlow refuses because the mobile was taken meanwhile is resolved by finding the
    contact in the list (newest first) and updating it if it differs. A write whose outcome is unknown
    (5xx, lost answer) is reported as failed and not repeated: the next run, or a retry of the task,
    reads the list again and will not create the contact twice.

    :param contacts: a list of dicts with ``firstname``, ``lastname``, the phone as ``phone`` (E.164)
        or ``mobile_code`` + ``mobile``, and optionally ``city``, ``state``, ``post_code``,
        ``address`` and ``ref`` (your own reference, e.g. a customer id, returned with the row's
        failure); templated, or an XComArg. Repeated phones: the last row wins. Rows count from 1.
    :param default_region: an ISO country (``"ES"``) for phones written without '+'
        (``"600 111 222"``, ``"0034 600 111 222"``).
    :param update_existing: update existing contacts whose fields differ; when False, only create.
    :param concurrency: writes in flight at most (1-64); a 429 or 503 halves it for the batch and normal
        answers bring it back gradually (:ref:`guarantees:storms`).
    :param max_failures: rows that may fail (a count) before the task fails; invalid rows within the
        budget are skipped and reported as failed. A float here is the deprecated spelling of
        ``max_failure_rate``.
    :param max_failure_rate: rows that may fail as a rate of the rows (0.0 to 1.0); the budget is the
        larger of the two.
    :param rate_limit_timeout: seconds of nothing but HTTP 429 answers after which the upsert stops;
        rows not written are reported as failed ("not written") and the next run writes them.
    :param dry_run: validate, read the contact list and report what would change, without writing.
    :param page_size: contacts per page when reading the contact list.
    :param wapiflow_conn_id: the WapiFlow connection.
    :return: (XCom) ``created``, ``updated``, ``unchanged``, ``skipped``, ``duplicates``,
        ``failed`` (``[{row, contact, ref, error}]``: 1-based row, masked phone, ``ref`` when set; capped),
        ``failed_count``, ``requests``, ``dry_run``.
    """

    template_fields: Sequence[str] = ("contacts",)
    template_fields_renderers = {"contacts": "json"}
    personal_fields = ("contacts",)
    ui_color = "#25d366"

    def __init__(
        self,
        *,
        contacts: Any,
        update_existing: bool = True,
        concurrency: int = 8,
        max_failures: int | float = 0,
        max_failure_rate: float | None = None,
        rate_limit_timeout: float = 600.0,
        dry_run: bool = False,
        page_size: int = DEFAULT_PAGE_SIZE,
        wapiflow_conn_id: str = "wapiflow_default",
        default_region: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.default_region = check_region(default_region)
        self.contacts = contacts
        self.update_existing = update_existing
        self.concurrency = check_concurrency(concurrency)
        self.max_failures, self.max_failure_rate = deprecated_ratio(max_failures, max_failure_rate)
        self.rate_limit_timeout = check_rate_limit_timeout(rate_limit_timeout)
        # BaseOperator.dry_run() is a method: keep it usable, store the flag under another name.
        self.is_dry_run = dry_run
        if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 1:
            raise WapiFlowInputError(f"'page_size' must be a positive integer, got {page_size!r}")
        self.page_size = page_size
        self.wapiflow_conn_id = wapiflow_conn_id

    # --- input ------------------------------------------------------------------------------------

    def _input_rows(self) -> list[Any]:
        rows = self.contacts
        if isinstance(rows, str):
            # A Jinja template renders to text unless the DAG renders native objects.
            rows = rendered_list(rows, "contacts")
        if isinstance(rows, (bytes, Mapping)) or not isinstance(rows, Iterable):
            raise WapiFlowInputError(f"'contacts' must be a list of contact dicts, got {type(rows).__name__}")
        return list(rows)

    def _parse(self, rows: list[Any], outcome: _Outcome) -> tuple[list[ContactRow], int]:
        """Valid rows, the last row winning per phone, and how many rows were repeats; fails on bad input."""
        parsed: list[ContactRow] = []
        invalid: list[tuple[int, list[str]]] = []
        for position, raw in enumerate(rows, start=1):
            row = parse_row(raw, position, default_region=self.default_region)
            if not isinstance(row, ContactRow):
                invalid.append((position, row))
                ref = raw.get("ref") if isinstance(raw, Mapping) else None
                entry = {"row": position, "contact": masked_input(raw)}
                outcome.rows[position] = entry if ref is None else {**entry, "ref": ref}
                continue
            outcome.rows[position] = row.describe()
            parsed.append(row)
        # One contact per phone: the row written last in the table is the newest truth.
        valid, repeated = one_per_key(parsed, key=lambda row: row.key, keep="last")
        budget = failure_budget(self.max_failures, self.max_failure_rate, len(rows))
        if len(invalid) > budget:
            lines = [
                f"row {position} of the input: {problem}" for position, problems in invalid for problem in problems
            ]
            listed = "\n".join(f"  {line}" for line in lines[:LISTED_PROBLEMS])
            more = f"\n  … and {len(lines) - LISTED_PROBLEMS} more" if len(lines) > LISTED_PROBLEMS else ""
            raise WapiFlowInputError(
                f"{len(invalid)} of {len(rows)} contact rows are invalid "
                f"({'max_failure_rate' if self.max_failure_rate is not None else 'max_failures'} allows {budget}); "
                f"nothing was written:\n{listed}{more}",
                messages=lines,
            )
        for position, problems in invalid:
            outcome.fail(position, "; ".join(problems))
        if invalid:
            self.log.warning(
                "Skipping %d invalid contact rows (the failure budget allows %d): %s",
                len(invalid),
                budget,
                "; ".join(f"row {p}: {'; '.join(problems)}" for p, problems in invalid[:LISTED_PROBLEMS]),
            )
        if repeated:
            hidden = len(repeated) - LISTED_PROBLEMS
            self.log.warning(
                "%d contact rows repeat the phone of a later row: one contact per phone, the last row wins: %s%s",
                len(repeated),
                "; ".join(f"row {dropped.position} ({dropped.phone.masked}) is replaced by row {kept.position}"
                          for dropped, kept in repeated[:LISTED_PROBLEMS]),
                f"; … and {hidden} more" if hidden > 0 else "",
            )  # fmt: skip
        return valid, len(repeated)

    # --- reading ----------------------------------------------------------------------------------

    async def _index(self, hook: WapiFlowAsyncHook, wanted: Collection[Key]) -> dict[Key, ExistingContact]:
        """
        The existing contacts among ``wanted``, from one streamed pass over the contact list.

        The pass stops early once every wanted phone has been found.
        """
        found: dict[Key, ExistingContact] = {}
        if not wanted:
            return found
        listed = 0
        async for contact in hook.iter_contacts(per_page=self.page_size):
            listed += 1
            key = contact_key(contact)
            if key in wanted and key not in found:
                found[key] = ExistingContact.from_api(contact)
                if len(found) == len(wanted):
                    break
        self.log.info("Read %d WapiFlow contacts; %d of %d input phones exist", listed, len(found), len(wanted))
        return found

    @staticmethod
    async def _find_newest(hook: WapiFlowAsyncHook, key: Key) -> ExistingContact | None:
        """Find a contact created after the index was built: newest first, so among the first pages."""
        async for contact in hook.iter_contacts(per_page=_LOOKUP_PAGE_SIZE):
            if contact_key(contact) == key:
                return ExistingContact.from_api(contact)
        return None

    # --- writing ----------------------------------------------------------------------------------

    @staticmethod
    async def _update(hook: WapiFlowAsyncHook, contact: ExistingContact, row: ContactRow) -> None:
        fields = desired_fields(row, contact)
        await hook.update_contact(
            contact.id, row.firstname, row.lastname, contact.mobile_code, contact.mobile,
            city=fields["city"], state=fields["state"],
            post_code=fields["post_code"], address=fields["address"],
        )  # fmt: skip

    @staticmethod
    async def _create(hook: WapiFlowAsyncHook, row: ContactRow) -> None:
        await hook.create_contact(
            row.firstname, row.lastname, row.phone.mobile_code, row.phone.mobile,
            city=row.city, state=row.state, post_code=row.post_code, address=row.address,
        )  # fmt: skip

    async def _write(self, hook: WapiFlowAsyncHook, throttle: Throttle, write: PlannedWrite) -> Action:
        """Do one planned write; return the action that took effect."""
        row = write.row
        if write.action == "update":
            assert write.contact is not None
            contact = write.contact
            await throttle.call(lambda: self._update(hook, contact, row))
            return "update"
        try:
            await throttle.call(lambda: self._create(hook, row))
            return "create"
        except WapiFlowValidationError as error:
            if TAKEN_MOBILE not in error.messages:
                raise
        # Someone created the contact after the index was read: update it under the same rules.
        existing = await throttle.call(lambda: self._find_newest(hook, row.key))
        if existing is None:
            raise WapiFlowValidationError(
                f"WapiFlow says {row.phone.masked} is taken, but the contact is not in the contact list",
                remark="validation_error",
                outcome=SendOutcome.NOT_SENT,
            )
        resolved = plan_row(row, existing, self.update_existing)
        if resolved.action == "update":
            await throttle.call(lambda: self._update(hook, existing, row))
        return resolved.action

    def _describe_failure(self, write: PlannedWrite, error: BaseException) -> str:
        if not isinstance(error, WapiFlowError):
            return f"{write.action}: {type(error).__name__}: {error}"
        text = f"{write.action}: {error.message}"
        if error.outcome is SendOutcome.UNKNOWN:
            text += (
                " (the outcome is unknown and the write was not repeated; the next run reads the contact"
                " list again, so it cannot create the contact twice)"
                if write.action == "create"
                else " (the outcome is unknown and the update was not repeated; the next run compares again)"
            )
        return text

    async def _run_writes(
        self, run: BulkRun[PlannedWrite, Action], hook: WapiFlowAsyncHook, writes: list[PlannedWrite], outcome: _Outcome
    ) -> None:
        """Do the writes with bounded, adaptive concurrency; a batch-fatal error stops them."""
        logged = 0

        def settle(write: PlannedWrite, action: Action | None, error: BaseException | None) -> Verdict:
            nonlocal logged
            if error is None:
                assert action is not None
                outcome.count(action)
                return "ok"
            reason = self._describe_failure(write, error)
            outcome.fail(write.row.position, reason)
            if logged < LISTED_PROBLEMS:
                logged += 1
                self.log.warning("row %d (%s) failed: %s", write.row.position, write.row.phone.masked, reason)
            unknown = isinstance(error, WapiFlowError) and error.outcome is SendOutcome.UNKNOWN
            return "unknown" if unknown else "failed"

        never_started = await run.run(writes, lambda write: self._write(hook, run.throttle, write), settle)
        if never_started and run.stopped_by is not None:
            for write in never_started:
                outcome.fail(
                    write.row.position, f"{write.action}: not written, the batch stopped: {run.stopped_by.message}"
                )
            self.log.error(
                "Stopped the batch: %s; %d writes were not started", run.stopped_by.message, len(never_started)
            )

    # --- execute ----------------------------------------------------------------------------------

    def execute(self, context: Context) -> dict[str, Any]:
        try:
            return self._execute(context)
        except (WapiFlowInputError, WapiFlowAuthError, WapiFlowPlanError) as error:
            # No retry can fix bad rows, credentials or the plan: fail without using the retries.
            raise fail_without_retry(error) from error

    def _execute(self, context: Context) -> dict[str, Any]:
        rows = self._input_rows()
        outcome = _Outcome()
        valid, duplicates = self._parse(rows, outcome)
        run: BulkRun[PlannedWrite, Action] = BulkRun(
            log=self.log,
            verb="written",
            concurrency=self.concurrency,
            rate_limit_timeout=self.rate_limit_timeout,
            budget=failure_budget(self.max_failures, self.max_failure_rate, len(rows)),
            budget_text=describe_budget(self.max_failures, self.max_failure_rate),
        )
        return run_sync(self._upsert(context, run, rows, valid, duplicates, outcome))

    async def _upsert(
        self,
        context: Context,
        run: BulkRun[PlannedWrite, Action],
        rows: list[Any],
        valid: list[ContactRow],
        duplicates: int,
        outcome: _Outcome,
    ) -> dict[str, Any]:
        hook = run.hook(self.wapiflow_conn_id, pool_size=self.concurrency)
        try:
            wanted = {row.key for row in valid}
            # A 429 while reading restarts the read after the batch's shared back-off.
            try:
                index = await run.throttle.call(lambda: self._index(hook, wanted))
            except RateLimitTimeout:
                raise RateLimitTimeout(
                    f"WapiFlow rate-limited the contact upsert (HTTP 429) for longer than rate_limit_timeout="
                    f"{self.rate_limit_timeout:g}s while reading the contact list: nothing was written; the next "
                    "run or try writes every row",
                    http_status=429,
                ) from None
            plan = [plan_row(row, index.get(row.key), self.update_existing) for row in valid]
            writes = [w for w in plan if w.action == "create"] + [w for w in plan if w.action == "update"]
            for write in plan:
                if write.action in ("unchanged", "skip"):
                    outcome.count(write.action)
            verb = "Would" if self.is_dry_run else "Will"
            self.log.info(
                "%s create %d and update %d contacts; %d unchanged, %d differ but update_existing=False, "
                "%d invalid, %d repeated rows (of %d rows)",
                verb,
                sum(w.action == "create" for w in plan),
                sum(w.action == "update" for w in plan),
                outcome.unchanged,
                outcome.skipped,
                outcome.failed_count,
                duplicates,
                len(rows),
            )
            if self.is_dry_run:
                for write in writes:
                    outcome.count(write.action)
            elif writes:
                await self._run_writes(run, hook, writes, outcome)
        finally:
            await hook.close()
        summary = self._summary(outcome, duplicates, hook.requests_made)
        self.log.info(
            "%screated %d, updated %d, unchanged %d, skipped %d, failed %d; %d requests; at most %d in flight "
            "(concurrency=%d), %d rate-limited answers",
            "dry run: " if self.is_dry_run else "",
            outcome.created,
            outcome.updated,
            outcome.unchanged,
            outcome.skipped,
            outcome.failed_count,
            summary["requests"],
            run.throttle.peak,
            self.concurrency,
            run.throttle.rate_limited,
        )

        def stopped(fatal: WapiFlowError) -> str:
            return f"WapiFlow stopped the contact upsert: {fatal.message} ({_counts(summary)})"

        def over_budget() -> str:
            listed = "; ".join(f"row {f['row']}: {f['error']}" for f in summary["failed"][:10])
            more = f"; … and {outcome.failed_count - 10} more" if outcome.failed_count > 10 else ""
            return (
                f"{outcome.failed_count} of {len(rows)} contact rows failed, more than max_failures allows "
                f"({run.budget}); {_counts(summary)}: {listed}{more}"
            )

        def rate_limited() -> str:
            return (
                f"WapiFlow rate-limited the contact upsert (HTTP 429) for longer than rate_limit_timeout="
                f"{self.rate_limit_timeout:g}s; the rows not written are in the summary and the next run or try "
                f"writes them ({_counts(summary)})"
            )

        run.raise_if_failed(
            context,
            summary,
            problems=outcome.failed_count,
            stopped=stopped,
            over_budget=over_budget,
            rate_limited=rate_limited,
        )
        return summary

    def _summary(self, outcome: _Outcome, duplicates: int, requests: int) -> dict[str, Any]:
        return {
            "created": outcome.created,
            "updated": outcome.updated,
            "unchanged": outcome.unchanged,
            "skipped": outcome.skipped,
            "duplicates": duplicates,
            "failed": sorted(outcome.failed, key=lambda failure: int(failure["row"])),
            "failed_count": outcome.failed_count,
            "requests": requests,
            "dry_run": self.is_dry_run,
        }


def _counts(summary: Mapping[str, Any]) -> str:
    return (
        f"created {summary['created']}, updated {summary['updated']}, unchanged {summary['unchanged']}, "
        f"failed {summary['failed_count']}"
    )
