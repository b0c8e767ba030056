"""
ConversationTrigger: the deferred half of
:class:`~airflow_provider_wapiflow.sensors.conversations.ConversationSensor`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.sdk.exceptions import AirflowNotFoundException
from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_wapiflow.conversations import ConversationQuery, check_async, is_fatal, public_conversation
from airflow_provider_wapiflow.exceptions import WapiFlowError, redact
from airflow_provider_wapiflow.hooks.wapiflow import WapiFlowAsyncHook

#: The longest wait between two polls after failures (seconds).
MAX_BACKOFF = 600.0


def backoff_wait(poll_interval: float, failures: int) -> float:
    """
    Seconds until the next poll after ``failures`` polls in a row failed (0: the last one worked).

    The hook has already retried each request with its own back-off; a poll that still failed doubles
    the wait, from ``poll_interval`` up to :data:`MAX_BACKOFF` (or ``poll_interval`` if longer).
    """
    if failures <= 0:
        return poll_interval
    return float(min(poll_interval * 2 ** min(failures, 16), max(poll_interval, MAX_BACKOFF)))


class ConversationTrigger(BaseTrigger):
    """
    Poll WapiFlow from the triggerer until a conversation meets the sensor's conditions.

    Every argument is plain JSON, so the trigger is stored and rebuilt without pickles; the
    connection is named, never copied (the client-secret stays in Airflow's connection store).
    It yields exactly one event, a dict with ``status`` and ``message``:

    * ``"success"``: the conditions are met; ``conversation`` holds the conversation.
    * ``"timeout"``: ``end_time`` passed first.
    * ``"error"``: waiting cannot help (wrong credentials, IP not whitelisted, no plan, unknown
      conversation id, bad input…) or the trigger itself failed; ``fatal`` says whether a task
      retry could help.

    Transient WapiFlow failures are retried by the hook and otherwise count as "not yet"; each poll
    that failed in a row doubles the wait before the next one (:func:`backoff_wait`).

    :param conversation_id: the conversation's id; or give ``mobile_code`` + ``mobile``.
    :param mobile_code: the contact's country code, digits only.
    :param mobile: the contact's national number, digits only.
    :param statuses: status values (ints) the conversation must have; None: any.
    :param updated_after: ISO 8601 time the last message must be later than (whole seconds, UTC).
    :param replied_after: ISO 8601 time the customer must have written after (see
        :meth:`~airflow_provider_wapiflow.conversations.ConversationQuery.unmet`).
    :param poll_interval: seconds between two checks.
    :param end_time: Unix time at which to give up with a ``"timeout"`` event; None: never.
    :param wapiflow_conn_id: the Airflow connection to WapiFlow.
    """

    def __init__(
        self,
        *,
        conversation_id: int | None = None,
        mobile_code: str | None = None,
        mobile: str | None = None,
        statuses: list[int] | None = None,
        updated_after: str | None = None,
        replied_after: str | None = None,
        poll_interval: float = 60.0,
        end_time: float | None = None,
        wapiflow_conn_id: str = "wapiflow_default",
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        # Validating here means a trigger rebuilt from bad kwargs fails loudly instead of polling.
        self.query = ConversationQuery.build(
            conversation_id=conversation_id,
            mobile_code=mobile_code,
            mobile=mobile,
            statuses=statuses,
            updated_after=updated_after,
            replied_after=replied_after,
        )
        self.poll_interval = float(poll_interval)
        self.end_time = float(end_time) if end_time is not None else None
        self.wapiflow_conn_id = wapiflow_conn_id

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Return the class path and JSON-only kwargs that rebuild this trigger."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                **self.query.to_json(),
                "poll_interval": self.poll_interval,
                "end_time": self.end_time,
                "wapiflow_conn_id": self.wapiflow_conn_id,
            },
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.query.describe()} conn={self.wapiflow_conn_id!r}>"

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Check every ``poll_interval`` seconds and yield one event (see the class description)."""
        # The event is computed outside the generator's yield so that cancellation or close never
        # lands inside the error handling.
        event = await self._wait()
        yield TriggerEvent(event)  # type: ignore[no-untyped-call]

    async def _wait(self) -> dict[str, Any]:
        hook = WapiFlowAsyncHook(self.wapiflow_conn_id)
        description = self.query.describe()
        last_reason = None
        failures = 0
        try:
            while True:
                try:
                    check = await check_async(hook, self.query)
                except WapiFlowError as error:
                    if is_fatal(error):
                        return _error(f"Stopped waiting for {description}: {error.message}", fatal=True)
                    failures += 1
                    self.log.warning("Checking %s failed, will try again: %s", description, error.message)
                except AirflowNotFoundException as error:  # the connection does not exist
                    return _error(f"Stopped waiting for {description}: {error}", fatal=True)
                else:
                    failures = 0
                    if check.fatal:
                        return _error(f"Stopped waiting for {description}: {check.fatal}", fatal=True)
                    if check.done:
                        self.log.info("%s: conditions met", description)
                        return {
                            "status": "success",
                            "message": f"{description}: conditions met",
                            # Stored in the metadata database as the task's next_kwargs: no personal data.
                            "conversation": public_conversation(check.conversation) if check.conversation else None,
                        }
                    if check.reason != last_reason:
                        self.log.info("Waiting for %s: %s", description, check.reason)
                        last_reason = check.reason
                wait = backoff_wait(self.poll_interval, failures)
                if self.end_time is not None:
                    remaining = self.end_time - time.time()
                    if remaining <= 0:
                        return {
                            "status": "timeout",
                            "message": f"Timed out waiting for {description}"
                            + (f" (last seen: {last_reason})" if last_reason else ""),
                        }
                    wait = min(wait, remaining)
                await asyncio.sleep(wait)
        except Exception as error:  # anything unexpected must reach the task as an event, not hang
            self.log.exception("ConversationTrigger failed")
            return _error(f"ConversationTrigger failed: {type(error).__name__}: {redact(str(error))}", fatal=False)
        finally:
            # Also on cancellation (task cleared, triggerer shutting down): no leaked aiohttp session.
            await hook.close()


def _error(message: str, *, fatal: bool) -> dict[str, Any]:
    return {"status": "error", "message": message, "fatal": fatal}
