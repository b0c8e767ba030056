"""WapiFlowNotifier: WhatsApp alerts from Airflow callbacks (task and DAG callbacks, deadline alerts)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseNotifier

from airflow_provider_wapiflow.exceptions import WapiFlowError, WapiFlowInputError, WapiFlowNotAContactError
from airflow_provider_wapiflow.hooks import _requests as api
from airflow_provider_wapiflow.hooks.wapiflow import WapiFlowAsyncHook, WapiFlowHook
from airflow_provider_wapiflow.operators._recipients import Recipient, format_problems, parse_recipients

if TYPE_CHECKING:
    from airflow.sdk import Context

MAX_MESSAGE_LENGTH = 4000  # WhatsApp's limit is 4096 characters


class WapiFlowNotifier(BaseNotifier):
    """
    Send a WhatsApp message or an approved template from a callback, e.g. to the on-call engineer.

    Every field is rendered with Jinja against the callback context (``dag``, ``ti``, ``run_id``,
    ``exception``, ``ti.log_url``…). A notification that fails is logged and never raised: it must not
    mask the error of the task it reports.

    .. seealso::
        :ref:`howto/notifier:WapiFlowNotifier`

    :param recipients: E.164 phone(s) of WapiFlow contacts: a string, or a list of strings or dicts with
        ``phone`` / ``mobile_code`` + ``mobile`` (templated).
    :param template: an approved template's id or name; sent instead of a text message (templated).
    :param body_variables: values for the template's ``{{1}}``, ``{{2}}``… (templated).
    :param header_variables: values for the template's header placeholder (templated).
    :param message: the text to send when no template is given (templated). WhatsApp delivers free-form
        text only within 24 hours of the recipient's last message: use a template for cold alerts.
        Default: the DAG, task, try, run, exception and log URL (:func:`default_message`).
    :param wapiflow_conn_id: the WapiFlow connection.
    """

    template_fields = ("recipients", "template", "body_variables", "header_variables", "message", "wapiflow_conn_id")

    def __init__(
        self,
        recipients: str | Sequence[Any],
        template: int | str | None = None,
        body_variables: Sequence[Any] | None = None,
        header_variables: Sequence[Any] | None = None,
        message: str | None = None,
        wapiflow_conn_id: str = WapiFlowHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if template is not None and message is not None:
            raise WapiFlowInputError("give either 'template' or 'message', not both")
        self.recipients = recipients
        self.template = template
        self.body_variables = body_variables
        self.header_variables = header_variables
        self.message = message
        self.wapiflow_conn_id = wapiflow_conn_id

    @cached_property
    def hook(self) -> WapiFlowHook:
        return WapiFlowHook(self.wapiflow_conn_id)

    def _recipients(self) -> list[Recipient]:
        items = [self.recipients] if isinstance(self.recipients, str) else self.recipients
        parsed = parse_recipients(items)
        if parsed.invalid:
            raise WapiFlowInputError(format_problems(parsed.invalid, len(parsed.valid) + len(parsed.invalid)))
        return parsed.valid

    def _text(self, context: Context) -> str:
        text = str(self.message).strip() if self.message is not None else default_message(context)
        return text if len(text) <= MAX_MESSAGE_LENGTH else text[: MAX_MESSAGE_LENGTH - 1] + "…"

    def _requests(self, context: Context, template_id: int | None) -> list[tuple[Recipient, api.ApiRequest]]:
        requests = []
        for recipient in self._recipients():
            code, mobile = recipient.phone.mobile_code, recipient.phone.mobile
            if template_id is not None:
                request = api.send_template_message(
                    code,
                    mobile,
                    template_id,
                    body_variables=self.body_variables,
                    header_variables=self.header_variables,
                )
            else:
                request = api.send_message(code, mobile, message=self._text(context))
            requests.append((recipient, request))
        return requests

    def _report(self, sent: int, failures: list[str]) -> None:
        if failures:
            self.log.error(
                "WapiFlow notification: %d sent, %d not delivered: %s", sent, len(failures), "; ".join(failures)
            )
        else:
            self.log.info("WapiFlow notification sent to %d recipients", sent)

    @staticmethod
    def _failure(recipient: Recipient, error: Exception) -> str:
        if isinstance(error, WapiFlowNotAContactError):
            return f"{recipient.phone.masked} is not a WapiFlow contact (create it once, e.g. in WapiFlow's UI)"
        text = error.message if isinstance(error, WapiFlowError) else f"{type(error).__name__}: {error}"
        return f"{recipient.phone.masked}: {text}"

    def notify(self, context: Context) -> None:
        """Send the notification; log, never raise, when it fails."""
        sent, failures = 0, []
        try:
            template_id = int(self.hook.get_template(self.template)["id"]) if self.template is not None else None
            requests = self._requests(context, template_id)
        except Exception as error:
            self.log.error("WapiFlow notification not sent: %s", error)
            return
        for recipient, request in requests:
            try:
                self.hook.call(request)
                sent += 1
            except Exception as error:
                failures.append(self._failure(recipient, error))
        self._report(sent, failures)

    async def async_notify(self, context: Context) -> None:
        """Send the notification from the triggerer (deadline alerts); log, never raise, when it fails."""
        sent, failures = 0, []
        async with WapiFlowAsyncHook(self.wapiflow_conn_id) as hook:
            try:
                template_id = int((await hook.get_template(self.template))["id"]) if self.template is not None else None
                requests = self._requests(context, template_id)
            except Exception as error:
                self.log.error("WapiFlow notification not sent: %s", error)
                return
            for recipient, request in requests:
                try:
                    await hook.call(request)
                    sent += 1
                except Exception as error:
                    failures.append(self._failure(recipient, error))
        self._report(sent, failures)


def default_message(context: Context) -> str:
    """The alert text used without ``message`` or ``template``: what failed, where, and the log link."""
    ti = context.get("ti")
    dag = context.get("dag")
    dag_run: Any = context.get("dag_run")
    # Deadline alerts only carry the dag run (a dict there) and the deadline.
    run_dag_id = dag_run.get("dag_id") if isinstance(dag_run, dict) else getattr(dag_run, "dag_id", None)
    dag_id = getattr(dag, "dag_id", None) or getattr(ti, "dag_id", None) or run_dag_id or "?"
    state = getattr(ti, "state", None)
    state = getattr(state, "value", state) or ("deadline missed" if context.get("deadline") else "alert")
    parts = [f"Airflow {state}: DAG {dag_id}"]
    if ti is not None:
        parts.append(f"task {ti.task_id} (try {ti.try_number})")
    run_id = context.get("run_id") or (dag_run.get("run_id") if isinstance(dag_run, dict) else None)
    if run_id:
        parts.append(f"run {run_id}")
    text = ", ".join(parts)
    exception = context.get("exception")
    if exception:
        text += f": {str(exception)[:500]}"
    log_url = getattr(ti, "log_url", None)
    if log_url:
        text += f" {log_url}"
    return text


send_wapiflow_notification = WapiFlowNotifier
