"""ConversationSensor: wait until a WapiFlow conversation has a status, or a new message, or both."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, NoReturn

from airflow.sdk import BaseSensorOperator, PokeReturnValue, conf
from airflow.sdk.exceptions import (
    AirflowException,
    AirflowFailException,
    AirflowNotFoundException,
    AirflowSensorTimeout,
    AirflowSkipException,
)

from airflow_provider_wapiflow.conversations import (
    ConversationQuery,
    check_sync,
    check_target_args,
    is_fatal,
    public_conversation,
)
from airflow_provider_wapiflow.exceptions import WapiFlowError, WapiFlowInputError
from airflow_provider_wapiflow.hooks.wapiflow import WapiFlowHook
from airflow_provider_wapiflow.parsing import is_templated, parse_datetime, parse_statuses

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_wapiflow.models import ConversationStatus


def _is_summary(value: Any) -> bool:
    """A send summary (checked once rendered, with the phone): a mapping or its JSON / repr text."""
    return isinstance(value, Mapping) or (isinstance(value, str) and value.strip().startswith("{"))


class ConversationSensor(BaseSensorOperator):
    """
    Wait until a WapiFlow conversation meets every given condition.

    Typical uses: send an approval request, then wait until the manager answers
    (``replied_after=`` the send task's summary); or wait until support marks the conversation done
    (``statuses=[ConversationStatus.DONE]``).

    The conversation is found by the contact's phone number (exact match on country code and number)
    or by its id. By phone, only the conversation where replies arrive counts
    (``whatsapp_account_id`` ≠ 0): WapiFlow files the API's own sends under a separate conversation
    (``whatsapp_account_id`` 0) that never receives a reply (:ref:`bug-conversation-split`); with
    several, the first one (latest activity) meeting the conditions. A contact with only the API conversation is "not
    yet". An API-created conversation given by id fails at once: wait by phone. Conditions are ANDed:

    * ``statuses``: the conversation's status is one of them;
    * ``updated_after``: its latest message (``last_message_at``, sent or received) is later than
      this time. WapiFlow keeps whole seconds, so the comparison is made in whole seconds (UTC) and a
      message in the same second as ``updated_after`` does not count: it cannot be told apart from
      the message just sent.

    * ``replied_after``: the customer wrote after our message. A datetime or ISO string, or the send
      operator's summary itself (then the first try's delivery time to this phone, so a retry never
      moves the cut-off). Our own later sends do not satisfy it: they move the API conversation. When
      the customer wrote first, WapiFlow keeps one shared conversation and our sends land there too:
      then a message in the cut-off's second does not count, and a later send of ours to the same
      phone cannot be told from a reply (no endpoint returns messages).

    With none, the sensor waits until a conversation where replies arrive exists.

    The sensor returns the matching conversation without personal data (``return_value`` XCom):
    ``{"id": 7, "user_id": 3, "contact_id": 12, "status": 1, "whatsapp_account_id": 1,
    "last_message_at": "…", "created_at": "…", "updated_at": "…", "phone": "+********222"}``.

    Waiting and failing:

    * a phone with no conversation yet, and transient WapiFlow failures that outlast the hook's own
      retries, count as "not yet";
    * wrong credentials, an IP missing from the whitelist, a plan without API access, invalid input
      and an unknown ``conversation_id`` fail the task at once (without retries): waiting cannot fix
      them, so a wrong secret never waits out the timeout. With ``soft_fail`` or ``never_fail`` the
      task is skipped instead, as for any sensor.

    Modes: ``poke`` and ``reschedule`` work as for any sensor. With ``deferrable=True`` the sensor
    checks once on the worker, then hands over to :class:`ConversationTrigger`, which polls every
    ``poke_interval`` seconds in the triggerer until the conditions are met or ``timeout`` passes.

    :param conversation_id: the conversation's id (templated; e.g.
        ``"{{ ti.xcom_pull('send')['conversation_id'] }}"``).
    :param phone: the contact's number in E.164 form, ``"+34600111222"`` (templated).
    :param mobile_code: instead of ``phone``: the country code, ``"34"`` (templated).
    :param mobile: instead of ``phone``: the national number, ``"600111222"`` (templated).
    :param statuses: the statuses to wait for: :class:`~airflow_provider_wapiflow.models.ConversationStatus`
        members, ints or names, one or a list (templated). None: any status.
    :param updated_after: wait for a message later than this: a datetime or an ISO 8601 string
        (templated, e.g. the send summary's ``finished_at`` or ``"{{ data_interval_end }}"``). A naive
        time means UTC. None: no condition on messages.
    :param replied_after: wait until the customer wrote after this: a send summary (the send task's
        XCom, e.g. ``send.output``), a datetime or an ISO 8601 string (templated). None: no condition.
    :param deferrable: check from the triggerer instead of holding a worker slot. Default: the
        ``[operators] default_deferrable`` setting.
    :param wapiflow_conn_id: the Airflow connection to WapiFlow.
    :param kwargs: :class:`~airflow.sdk.BaseSensorOperator` arguments: ``poke_interval``, ``timeout``,
        ``mode``, ``soft_fail``, ``exponential_backoff``… and the usual operator arguments.
    """

    template_fields: Sequence[str] = (
        "conversation_id",
        "phone",
        "mobile_code",
        "mobile",
        "statuses",
        "updated_after",
        "replied_after",
    )
    ui_color = "#dcf8c6"

    def __init__(
        self,
        *,
        conversation_id: int | str | None = None,
        phone: str | None = None,
        mobile_code: str | int | None = None,
        mobile: str | int | None = None,
        statuses: ConversationStatus | int | str | Sequence[ConversationStatus | int | str] | None = None,
        updated_after: Any = None,
        replied_after: Any = None,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        wapiflow_conn_id: str = "wapiflow_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        # Parse-time checks of everything that is not templated: bad input fails at DAG import.
        check_target_args(conversation_id, phone, mobile_code, mobile)
        if not is_templated(statuses):
            parse_statuses(statuses)
        if updated_after is not None and not is_templated(updated_after):
            parse_datetime(updated_after, "updated_after")
        if replied_after is not None and not is_templated(replied_after) and not _is_summary(replied_after):
            parse_datetime(replied_after, "replied_after")
        self.conversation_id = conversation_id
        self.phone = phone
        self.mobile_code = mobile_code
        self.mobile = mobile
        self.statuses = statuses
        self.updated_after = updated_after
        self.replied_after = replied_after
        self.deferrable = deferrable
        self.wapiflow_conn_id = wapiflow_conn_id

    @cached_property
    def hook(self) -> WapiFlowHook:
        """The WapiFlow hook, reused across pokes."""
        return WapiFlowHook(wapiflow_conn_id=self.wapiflow_conn_id)

    def _query(self) -> ConversationQuery:
        """The rendered arguments, validated. Bad input fails the task at once."""
        try:
            return ConversationQuery.build(
                conversation_id=self.conversation_id,
                phone=self.phone,
                mobile_code=self.mobile_code,
                mobile=self.mobile,
                statuses=self.statuses,
                updated_after=self.updated_after,
                replied_after=self.replied_after,
            )
        except WapiFlowInputError as error:
            raise AirflowFailException(f"{type(self).__name__} {self.task_id!r}: {error.message}") from error

    def poke(self, context: Context) -> PokeReturnValue:
        """Check once: done with the conversation as XCom, or not yet."""
        query = self._query()
        description = query.describe()
        try:
            check = check_sync(self.hook, query)
        except WapiFlowError as error:
            if is_fatal(error):
                # AirflowFailException: no task retry, and silent_fail cannot turn it into more pokes.
                raise AirflowFailException(f"Stopped waiting for {description}: {error.message}") from error
            self.log.warning("Checking %s failed, will try again: %s", description, error.message)
            return PokeReturnValue(is_done=False)
        except AirflowNotFoundException as error:  # the connection does not exist
            raise AirflowFailException(f"Stopped waiting for {description}: {error}") from error
        if check.fatal:
            raise AirflowFailException(f"Stopped waiting for {description}: {check.fatal}")
        if check.done:
            self.log.info("%s: conditions met", description)
            xcom = public_conversation(check.conversation) if check.conversation else None
            return PokeReturnValue(is_done=True, xcom_value=xcom)
        self.log.info("Waiting for %s: %s", description, check.reason)
        return PokeReturnValue(is_done=False)

    def execute(self, context: Context) -> Any:
        """Poke as usual, or with ``deferrable=True`` check once and defer to :class:`ConversationTrigger`."""
        if not self.deferrable:
            return super().execute(context)
        started = time.time()
        try:
            result = self.poke(context)
        except AirflowFailException as error:
            # The same rule BaseSensorOperator.execute applies to a failing poke.
            if self.soft_fail or self.never_fail:
                flag = "soft_fail" if self.soft_fail else "never_fail"
                raise AirflowSkipException(f"Skipping due to {flag} is set to True.") from error
            raise
        if result.is_done:
            return result.xcom_value
        remaining = started + self.timeout - time.time()
        if remaining <= 0:
            self._timed_out(f"Sensor has timed out: {self.timeout} s passed")
        query = self._query()
        # Imported here: airflow.triggers.base would add to the parse time of every DAG using the sensor.
        from airflow_provider_wapiflow.triggers.conversations import ConversationTrigger

        self.defer(
            trigger=ConversationTrigger(
                **query.to_json(),
                poll_interval=self.poke_interval,
                end_time=started + self.timeout,
                wapiflow_conn_id=self.wapiflow_conn_id,
            ),
            method_name="execute_complete",
            # The triggerer enforces this too, should the trigger itself be stuck.
            timeout=timedelta(seconds=remaining),
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        """
        Resume after :class:`ConversationTrigger` fired: return the conversation, or raise.

        :raises AirflowSensorTimeout: the sensor's ``timeout`` passed (skipped with ``soft_fail``).
        :raises AirflowFailException: waiting could not help (credentials, plan, unknown id…).
        :raises AirflowException: the trigger failed unexpectedly (the task may be retried).
        """
        if not event:
            raise AirflowException(f"{type(self).__name__} {self.task_id!r} resumed without a trigger event")
        status, message = event.get("status"), str(event.get("message", ""))
        if status == "success":
            self.log.info("%s", message)
            return event.get("conversation")
        if status == "timeout":
            self._timed_out(message)
        if event.get("fatal"):
            raise AirflowFailException(message)
        raise AirflowException(message or f"ConversationTrigger sent an unexpected event: {status!r}")

    def _timed_out(self, message: str) -> NoReturn:
        # BaseSensorOperator.resume_execution turns AirflowSensorTimeout into a skip under soft_fail /
        # never_fail; execute() is not wrapped, so mirror its timeout rule there.
        if self.soft_fail:
            raise AirflowSkipException(message)
        raise AirflowSensorTimeout(message)
