"""
WapiFlowConversationEventTrigger: WapiFlow conversation activity as Airflow asset events.

An :class:`~airflow.sdk.AssetWatcher` runs this trigger in the triggerer for as long as a DAG is
scheduled on its asset; every event it yields becomes an asset event and (usually) a DAG run. It polls
``inbox/conversation-list`` — the only thing the API shows: no endpoint returns messages — and fires
one event per change that matches its filter:

* ``activity``: a customer's new message, seen as ``last_message_at`` moving on a conversation where
  replies arrive (``whatsapp_account_id`` ≠ 0). The API conversations (``whatsapp_account_id`` 0),
  which our own sends move, never fire;
* ``status``: a conversation where replies arrive entered the given status.

The watermark (the latest ``last_message_at`` seen, and which conversations had the status) lives in
Airflow's asset-scoped state store, so a triggerer restart or a move to another triggerer continues
where the last poll ended instead of starting afresh. See ``docs/events.rst`` for exactly what can be
missed or fired twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from airflow.sdk.exceptions import AirflowNotFoundException
from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from airflow_provider_wapiflow.conversations import is_api_conversation, is_fatal, masked_phone_of
from airflow_provider_wapiflow.exceptions import WapiFlowError, WapiFlowInputError, redact
from airflow_provider_wapiflow.hooks.wapiflow import WapiFlowAsyncHook
from airflow_provider_wapiflow.models import ConversationStatus
from airflow_provider_wapiflow.parsing import parse_datetime, parse_status
from airflow_provider_wapiflow.triggers.conversations import MAX_BACKOFF, backoff_wait

#: The key of the watermark in the watched asset's state store.
WATERMARK_KEY = "wapiflow_conversation_watermark"
#: Conversations per page of conversation-list.
PAGE_SIZE = 100
_STATE_VERSION = 1
_FATAL = -1  # "failures" after an error waiting cannot fix: retry at the longest back-off
# The wait between polls (a name of its own so tests can drive the polls instead of waiting).
_sleep = asyncio.sleep


@dataclass
class Watermark:
    """
    What the watcher has already seen; JSON in the asset state store.

    :param since: the latest ``last_message_at`` seen (WapiFlow's clock, ISO); None: nothing seen
        (every activity is new).
    :param at_since: ids of the conversations whose ``last_message_at`` is exactly ``since``
        (WapiFlow keeps whole seconds: two replies can share a second).
    :param in_status: ids of the reply conversations that had the watched status; None: not watched.
    :param filter: the filter this watermark was taken with; another filter starts a new baseline.
    """

    since: str | None = None
    at_since: list[int] = field(default_factory=list)
    in_status: list[int] | None = None
    filter: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "v": _STATE_VERSION,
            "since": self.since,
            "at_since": sorted(self.at_since),
            "in_status": sorted(self.in_status) if self.in_status is not None else None,
            "filter": self.filter,
        }

    @classmethod
    def from_json(cls, data: Any) -> Watermark | None:
        """The stored watermark, or None when absent or not readable (then a new baseline is taken)."""
        if not isinstance(data, Mapping) or data.get("v") != _STATE_VERSION:
            return None
        try:
            in_status = data.get("in_status")
            return cls(
                since=str(data["since"]) if data.get("since") else None,
                at_since=[int(i) for i in data.get("at_since") or []],
                in_status=[int(i) for i in in_status] if in_status is not None else None,
                filter=dict(data.get("filter") or {}),
            )
        except (TypeError, ValueError, KeyError):
            return None


@dataclass(frozen=True)
class ConversationFilter:
    """Which changes fire: new customer activity, entering a status, or both; optionally a search term."""

    activity: bool = True
    status: ConversationStatus | None = None
    search: str | None = None

    def __post_init__(self) -> None:
        if not self.activity and self.status is None:
            raise WapiFlowInputError("watch something: 'activity=True', a 'status', or both")
        if self.search is not None and not str(self.search).strip():
            raise WapiFlowInputError("'search' is empty: give a name or number fragment, or None for all")

    def signature(self) -> dict[str, Any]:
        return {
            "activity": self.activity,
            "status": int(self.status) if self.status is not None else None,
            "search": self.search,
        }


def _lma(conversation: Mapping[str, Any]) -> datetime | None:
    raw = conversation.get("last_message_at")
    if not raw:
        return None
    try:
        return parse_datetime(raw, "last_message_at").replace(microsecond=0)
    except WapiFlowInputError:
        return None


def _id(conversation: Mapping[str, Any]) -> int | None:
    try:
        return int(conversation.get("id"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def new_activity(
    conversations: Iterable[Mapping[str, Any]], watermark: Watermark
) -> tuple[list[dict[str, Any]], str | None, list[int]]:
    """
    The reply conversations whose ``last_message_at`` moved past the watermark, and the new watermark.

    ``conversations`` come in WapiFlow's order (latest ``last_message_at`` first, nulls last); the scan
    stops at the first one older than the watermark. Returns (changed, new ``since``, new ``at_since``).
    """
    since = parse_datetime(watermark.since, "since") if watermark.since else None
    seen_at_since = set(watermark.at_since)
    changed: list[dict[str, Any]] = []
    newest: datetime | None = since
    at_newest: set[int] = set(seen_at_since)
    for conversation in conversations:
        moment, cid = _lma(conversation), _id(conversation)
        if moment is None or (since is not None and moment < since):
            break  # ordered by last_message_at: nothing further down is newer
        if cid is None:
            continue
        # The watermark follows every conversation, so that the next poll's scan stops early even when
        # only our own sends moved; events come only from reply conversations.
        if newest is None or moment > newest:
            newest, at_newest = moment, {cid}
        elif moment == newest:
            at_newest.add(cid)
        if is_api_conversation(conversation):
            continue  # our own sends move the API conversations: never a customer's activity
        if since is None or moment > since or cid not in seen_at_since:
            changed.append(dict(conversation))
    return changed, (_iso(newest) if newest else None), sorted(at_newest)


def entered_status(
    conversations: Iterable[Mapping[str, Any]], watermark: Watermark
) -> tuple[list[dict[str, Any]], list[int]]:
    """The reply conversations now in the status that were not before, and the new set of ids."""
    before = set(watermark.in_status or [])
    now: list[int] = []
    changed = []
    for conversation in conversations:
        cid = _id(conversation)
        if cid is None or is_api_conversation(conversation):
            continue
        now.append(cid)
        if cid not in before:
            changed.append(dict(conversation))
    return changed, sorted(now)


def event_payload(conversation: Mapping[str, Any], changed: list[str], watcher: str) -> dict[str, Any]:
    """The JSON payload of one event: ids, status, time, the masked phone and what changed."""
    return {
        "conversation_id": _id(conversation),
        "contact_id": conversation.get("contact_id"),
        "status": conversation.get("status"),
        "whatsapp_account_id": conversation.get("whatsapp_account_id"),
        "last_message_at": conversation.get("last_message_at"),
        "phone": masked_phone_of(conversation),
        "changed": changed,
        "watcher": watcher,
    }


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class WapiFlowConversationEventTrigger(BaseEventTrigger):
    """
    Fire one event per matching change of a WapiFlow conversation (for an :class:`~airflow.sdk.AssetWatcher`).

    Use :func:`~airflow_provider_wapiflow.assets.wapiflow_conversation_asset` to declare the asset and
    its watcher in one line. Every argument is plain JSON; the connection is named, never copied.

    Polling follows :class:`~airflow_provider_wapiflow.triggers.conversations.ConversationTrigger`'s
    rule: the hook retries transient failures itself; a poll that still fails counts as "nothing new"
    and the next one waits twice as long (up to 10 minutes), back to ``poll_interval`` after a success.
    Errors waiting cannot fix (wrong credentials, IP not whitelisted, plan, a wrong Base URL) are logged
    as errors and retried at the longest back-off with a fresh hook, so a fixed connection resumes the
    watch without a redeploy; they never fire an event.

    Each event's payload (``triggering_asset_events[asset][i].extra["payload"]``)::

        {"conversation_id": 8, "contact_id": 12, "status": 0, "whatsapp_account_id": 1,
         "last_message_at": "2026-11-25T14:53:37.000000Z", "phone": "+********222",
         "changed": ["activity"], "watcher": "vip_replies"}

    :param name: the watcher's name (keeps two watchers with otherwise equal arguments apart).
    :param activity: fire on a customer's new activity.
    :param status: fire when a conversation enters this status (member, int or name); None: not watched.
    :param search: only conversations whose contact's first name, last name or number contains this.
    :param poll_interval: seconds between two polls.
    :param replay_existing: on the very first start (no stored watermark), fire for what already exists
        (every reply conversation with activity, every one in ``status``). Default: only what changes
        after the watcher started.
    :param wapiflow_conn_id: the Airflow connection to WapiFlow.
    """

    def __init__(
        self,
        *,
        name: str,
        activity: bool = True,
        status: int | str | None = None,
        search: str | None = None,
        poll_interval: float = 60.0,
        replay_existing: bool = False,
        wapiflow_conn_id: str = "wapiflow_default",
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        if not isinstance(name, str) or not name.strip():
            raise WapiFlowInputError("'name' must be a non-empty string naming the watcher")
        if float(poll_interval) <= 0:
            raise WapiFlowInputError(f"'poll_interval' must be a positive number of seconds, got {poll_interval!r}")
        self.name = name
        self.filter = ConversationFilter(
            activity=bool(activity),
            status=parse_status(status, "status") if status is not None else None,
            search=search,
        )
        self.poll_interval = float(poll_interval)
        self.replay_existing = bool(replay_existing)
        self.wapiflow_conn_id = wapiflow_conn_id

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Return the class path and JSON-only kwargs (no secret: the connection is named)."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "name": self.name,
                "activity": self.filter.activity,
                "status": int(self.filter.status) if self.filter.status is not None else None,
                "search": self.filter.search,
                "poll_interval": self.poll_interval,
                "replay_existing": self.replay_existing,
                "wapiflow_conn_id": self.wapiflow_conn_id,
            },
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} {self.filter.signature()} conn={self.wapiflow_conn_id!r}>"

    # --- the watermark in the asset state store -----------------------------------------------------

    async def load_watermark(self) -> Watermark | None:
        """The stored watermark of this watcher's asset, or None (first start, or no store)."""
        store = self.asset_state_store
        if store is None:
            return None
        try:
            stored = Watermark.from_json(await store.aget(WATERMARK_KEY))
        except (ValueError, KeyError) as error:  # several assets on one trigger: no single accessor
            self.log.warning(
                "No asset state store for watcher %r, keeping the watermark in memory: %s", self.name, error
            )
            self.asset_state_store = None
            return None
        if stored is not None and stored.filter != self.filter.signature():
            self.log.info("Watcher %r: the filter changed, taking a new baseline", self.name)
            return None
        return stored

    async def save_watermark(self, watermark: Watermark) -> None:
        store = self.asset_state_store
        if store is not None:
            await store.aset(WATERMARK_KEY, watermark.to_json())

    # --- polling ------------------------------------------------------------------------------------

    async def poll(self, hook: WapiFlowAsyncHook, watermark: Watermark) -> tuple[list[dict[str, Any]], Watermark]:
        """One poll: the event payloads of what changed since ``watermark``, and the new watermark."""
        found: dict[int, tuple[dict[str, Any], list[str]]] = {}
        since, at_since, in_status = watermark.since, watermark.at_since, watermark.in_status
        if self.filter.activity:
            listing = hook.iter_conversations(search=self.filter.search, per_page=PAGE_SIZE)
            changed, since, at_since = new_activity(await _take_until_older(listing, watermark.since), watermark)
            for conversation in changed:
                found[int(conversation["id"])] = (conversation, ["activity"])
        if self.filter.status is not None:
            listing = hook.iter_conversations(
                status=int(self.filter.status), search=self.filter.search, per_page=PAGE_SIZE
            )
            changed, in_status = entered_status([c async for c in listing], watermark)
            for conversation in changed:
                entry = found.setdefault(int(conversation["id"]), (conversation, []))
                entry[1].append("status")
        events = [event_payload(c, kinds, self.name) for c, kinds in found.values()]
        new = Watermark(since=since, at_since=at_since, in_status=in_status, filter=self.filter.signature())
        return events, new

    def baseline(self) -> Watermark:
        """What a watcher that has seen nothing starts from (with ``replay_existing`` everything is new)."""
        return Watermark(in_status=[] if self.filter.status is not None else None, filter=self.filter.signature())

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll for ever; yield one event per change; keep the watermark in the asset state store."""
        hook = WapiFlowAsyncHook(self.wapiflow_conn_id)
        failures = 0
        try:
            watermark = await self.load_watermark()
            first = watermark is None
            if watermark is None:
                watermark = self.baseline()
            while True:
                try:
                    events, new = await self.poll(hook, watermark)
                except (WapiFlowError, AirflowNotFoundException) as error:
                    fatal = not isinstance(error, WapiFlowError) or is_fatal(error)
                    failures = _FATAL if fatal else failures + 1
                    message = redact(getattr(error, "message", None) or str(error))
                    if fatal:
                        self.log.error("Watcher %r cannot poll WapiFlow, retrying slowly: %s", self.name, message)
                        await hook.close()  # a fixed connection is read again by the next hook
                        hook = WapiFlowAsyncHook(self.wapiflow_conn_id)
                    else:
                        self.log.warning("Watcher %r: polling WapiFlow failed, will try again: %s", self.name, message)
                else:
                    failures = 0
                    if first and not self.replay_existing:
                        events = []  # what existed before the watcher started does not fire
                        self.log.info("Watcher %r: baseline taken (%s)", self.name, new.to_json())
                    first = False
                    for payload in events:
                        self.log.info(
                            "Watcher %r: conversation %s changed: %s",
                            self.name,
                            payload["conversation_id"],
                            payload["changed"],
                        )
                        yield TriggerEvent(payload)  # type: ignore[no-untyped-call]
                    if new != watermark:
                        # After the events are handed over: a crash in between fires them again rather than losing them.
                        await self.save_watermark(new)
                        watermark = new
                wait = (
                    max(self.poll_interval, MAX_BACKOFF)
                    if failures == _FATAL
                    else backoff_wait(self.poll_interval, failures)
                )
                await _sleep(wait)
        finally:
            await hook.close()


async def _take_until_older(listing: AsyncIterator[dict[str, Any]], since: str | None) -> list[dict[str, Any]]:
    """Read pages only as far as the watermark: the list is ordered by ``last_message_at``, newest first."""
    cutoff = parse_datetime(since, "since") if since else None
    taken: list[dict[str, Any]] = []
    try:
        async for conversation in listing:
            taken.append(conversation)
            moment = _lma(conversation)
            if moment is None or (cutoff is not None and moment < cutoff):
                break
    finally:
        aclose = getattr(listing, "aclose", None)
        if aclose is not None:
            await aclose()
    return taken


__all__ = [
    "WATERMARK_KEY",
    "ConversationFilter",
    "WapiFlowConversationEventTrigger",
    "Watermark",
    "entered_status",
    "event_payload",
    "new_activity",
]
