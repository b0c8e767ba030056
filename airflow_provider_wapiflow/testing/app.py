"""The WapiFlow external API as a Starlette ASGI app: routing, the ``ExternalAPI`` middleware, the envelope.

A handler reads the request, calls the :class:`~airflow_provider_wapiflow.testing.backend.WapiFlowBackend`
operation and renders its result or its :class:`~airflow_provider_wapiflow.testing.backend.BackendError`
the way Laravel does. The server's rules live in the backend.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote_plus

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.types import Receive, Scope, Send

from airflow_provider_wapiflow.testing.backend import BackendError, Fields, SendEnded, WapiFlowBackend
from airflow_provider_wapiflow.testing.faults import LOG_ENTRY_SCOPE_KEY
from airflow_provider_wapiflow.testing.laravel import (
    NOT_FOUND_PAGE,
    SERVER_ERROR_PAGE,
    UploadedFile,
    encode_json,
    normalise_input,
    php_array_from_pairs,
    php_str,
    php_truthy,
)
from airflow_provider_wapiflow.testing.outcomes import DeliveryLog, SendOutcomeRegistry
from airflow_provider_wapiflow.testing.state import Contact, SimState

logger = logging.getLogger(__name__)


Handler = Callable[..., Response]

# Texts the ExternalAPI middleware answers, kept verbatim.
IP_NOT_WHITELISTED = (
    "Access to this API endpoint is restricted to IP addresses that have been explicitly whitelisted.",
    "In order to access this API endpoint, please add your IP address ({ip}) to the white list from the user "
    "dashboard.",
)
USER_INACTIVE = (
    "The credentials provided do not match the ones associated with this user in our records. "
    "Please verify the credentials and try again."
)
URLENCODED = "application/x-www-form-urlencoded"
FORM_MAX_FIELDS = 10000
FORM_MAX_FIELD_BYTES = 1024 * 1024  # Starlette's max_part_size
HOLD_ATTRIBUTE = "wapiflow_hold_seconds"
"""Seconds an answer waits before it leaves (a send outcome's ``delay``, e.g. a real 30 s cURL 28)."""


class ApiResponse(Response):
    """``apiResponse()``: remark, status, then message and data only when non-empty."""

    media_type = "application/json"

    def __init__(
        self,
        remark: str,
        status: str,
        message: list[str] | None = None,
        data: dict[str, Any] | None = None,
        status_code: int = 200,
    ) -> None:
        payload: dict[str, Any] = {"remark": remark, "status": status}
        if message:
            payload["message"] = message
        if data:
            payload["data"] = data
        super().__init__(encode_json(payload), status_code, headers={"cache-control": "no-cache, private"})
        self.remark = remark


def error(remark: str, *messages: str, status_code: int = 200) -> ApiResponse:
    return ApiResponse(remark, "error", list(messages), status_code=status_code)


class WapiFlowApp:
    """The ASGI app; ``on_sent``, ``outcomes`` and ``deliveries`` configure its :class:`WapiFlowBackend`."""

    def __init__(
        self,
        state: SimState,
        on_sent: Callable[[Contact], None] | None = None,
        outcomes: SendOutcomeRegistry | None = None,
        deliveries: DeliveryLog | None = None,
    ) -> None:
        self.state = state
        self.config = state.config
        self.backend = WapiFlowBackend(state, outcomes, deliveries, on_sent)
        self._contact_remark = "contact_created" if self.config.server_version == "1.8" else "contact_save"
        # external_api.php, in order: (method, path pattern, handler).
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = [
            ("GET", re.compile(r"contact/list"), self.contact_list),
            ("POST", re.compile(r"contact/store"), self.contact_store),
            ("POST", re.compile(r"contact/update/(?P<id>[^/]+)"), self.contact_update),
            ("DELETE", re.compile(r"contact/delete/(?P<id>[^/]+)"), self.contact_delete),
            ("GET", re.compile(r"inbox/conversation-list"), self.conversation_list),
            ("GET", re.compile(r"inbox/template-list"), self.template_list),
            (
                "POST",
                re.compile(r"inbox/change-conversation-status/(?P<id>[^/]+)"),
                self.change_conversation_status,
            ),
            ("GET", re.compile(r"inbox/conversation-details/(?P<id>[^/]+)"), self.conversation_details),
            ("POST", re.compile(r"inbox/send-message"), self.send_message),
            ("POST", re.compile(r"inbox/send-template-message"), self.send_template_message),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        entry: dict[str, Any] | None = scope.get(LOG_ENTRY_SCOPE_KEY)
        try:
            response = await self.dispatch(request, entry)
        except Exception as exc:  # a simulator bug: answer as Laravel's exception handler would
            logger.exception("WapiFlow simulator: unhandled error")
            response = error("exception", str(exc) or type(exc).__name__)
        if entry is not None:
            entry["remark"] = getattr(response, "remark", None)
        hold = float(getattr(response, HOLD_ATTRIBUTE, 0.0))
        if hold > 0:
            await asyncio.sleep(hold)
        await response(scope, receive, send)

    # -- routing, maintenance and the ExternalAPI middleware --------------------------------------

    async def dispatch(self, request: Request, entry: dict[str, Any] | None) -> Response:
        raw_path = request.scope.get("raw_path") or request.url.path.encode()
        laravel_path = raw_path.decode("latin-1").strip("/") or "/"  # $request->path()
        decoded = request.url.path.strip("/")
        site = str(request.base_url).rstrip("/")

        if not decoded.startswith("external-api/"):
            return self.web_page(request, decoded, laravel_path)

        route_path = decoded[len("external-api/") :]
        matches: list[tuple[str, Handler, re.Match[str]]] = []
        for route_method, pattern, route_handler in self.routes:
            found = pattern.fullmatch(route_path)
            if found is not None:
                matches.append((route_method, route_handler, found))
        if not matches:
            return error("not_found", f"The route {laravel_path} could not be found.", status_code=404)

        method = request.method
        allowed = [m for route_method, _, _ in matches for m in self._methods(route_method)]
        if method not in allowed:
            if method == "OPTIONS":
                return Response(status_code=200, headers={"allow": ",".join(allowed)})
            supported = ", ".join(allowed)
            return error(
                "exception",
                f"The {method} method is not supported for route {laravel_path}. Supported methods: {supported}.",
            )
        handler, params = next((h, found.groupdict()) for m, h, found in matches if method in self._methods(m))

        if self.state.maintenance:  # the group's `maintenance` middleware redirects external-api/* requests
            return RedirectResponse(f"{site}/maintenance-mode", status_code=302)

        denied = self.authenticate(request)
        if denied is not None:
            return denied

        inp = await self.read_input(request)
        if entry is not None:
            entry["input"] = _loggable(inp)
        try:
            return handler(request, inp, **params)
        except BackendError as failure:
            return ApiResponse(failure.remark, "error", failure.messages)
        except SendEnded as ended:
            return self.send_ended(ended)

    @staticmethod
    def _methods(route_method: str) -> list[str]:
        return ["GET", "HEAD"] if route_method == "GET" else [route_method]

    def web_page(self, request: Request, decoded: str, laravel_path: str) -> Response:
        """Outside ``external-api/*``: the site's pages, or Laravel's plain 404 (where an ``extern-api`` typo lands)."""
        if decoded == "maintenance-mode":
            return HTMLResponse("<!DOCTYPE html><html><body><h1>We are under maintenance</h1></body></html>")
        if decoded == "" and request.method in ("GET", "HEAD"):
            base = str(request.base_url).rstrip("/")
            return HTMLResponse(
                "<!DOCTYPE html><html><head><title>WapiFlow simulator</title></head><body>"
                f"<h1>WapiFlow simulator</h1><p>API base URL: {base}/external-api</p></body></html>"
            )
        message = f"The route {laravel_path} could not be found."
        accept = request.headers.get("accept", "")
        if "/json" in accept.split(",")[0] or "+json" in accept.split(",")[0]:
            return Response(encode_json({"message": message}), 404, media_type="application/json")
        return HTMLResponse(NOT_FOUND_PAGE, status_code=404)

    def authenticate(self, request: Request) -> Response | None:
        """The ``ExternalAPI`` middleware: nine checks, the first failure wins."""
        client_id = request.headers.get("client-id")
        client_secret = request.headers.get("client-secret")
        if not php_truthy(client_id):
            return error("Unauthorized", "The client id is required", status_code=401)
        if not php_truthy(client_secret):
            return error("Unauthorized", "The client secret is required", status_code=401)
        if not (_sql_equal(client_id, self.config.client_id) and _sql_equal(client_secret, self.config.client_secret)):
            return error("Unauthorized", "Invalid credentials", status_code=401)
        with self.state.lock:
            user_active, plan = self.state.user_active, self.state.plan
        if not user_active:
            return error("Unauthorized", USER_INACTIVE, status_code=401)
        client = request.scope.get("client")
        ip = client[0] if client else None  # $_SERVER['REMOTE_ADDR']; X-Forwarded-For plays no part
        if not ip:
            return error("Unauthorized", "Your ip address is not valid", status_code=401)
        if ip not in self.config.allowed_ips:
            return error("Unauthorized", IP_NOT_WHITELISTED[0], IP_NOT_WHITELISTED[1].format(ip=ip), status_code=401)
        if plan == "none":
            return error(
                "subscription_required", "You cannot proceed without an active plan. Please purchase a plan to continue"
            )
        if plan == "expired":
            return error(
                "subscription_required", "Your plan has expired. Please renew or purchase a new plan to regain access."
            )
        if plan == "no_api":
            return error("not_available", "Your current plan does not support API access. Please upgrade your plan.")
        return None

    async def read_input(self, request: Request) -> dict[str, Any]:
        """``$request->all()``: body over query string, files over both, after TrimStrings/ConvertEmptyStrings."""
        query = php_array_from_pairs(request.query_params.multi_items())
        body: dict[str, Any] = {}
        files: dict[str, Any] = {}
        content_type = request.headers.get("content-type", "").lower()
        if "/json" in content_type or "+json" in content_type:
            try:
                decoded = json.loads(await request.body() or b"null")
            except ValueError:
                decoded = None
            body = decoded if isinstance(decoded, dict) else {}
        elif request.method not in ("GET", "HEAD") and content_type.startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")
        ):
            if content_type.split(";", 1)[0].strip(" \t") == URLENCODED:
                # What every bulk send posts: parsed here in one pass rather than by Starlette's form
                # parser (same fields), which took a fifth of the simulator's time per request.
                body = php_array_from_pairs(_urlencoded_fields(await request.body()) or [])
            else:
                body, files = await self._read_multipart(request)
        merged = normalise_input(query)
        merged.update(normalise_input(body))
        merged.update(files)
        return dict(merged)

    @staticmethod
    async def _read_multipart(request: Request) -> tuple[dict[str, Any], dict[str, Any]]:
        """A ``multipart/form-data`` body: its text fields and its files."""
        try:
            form = await request.form(max_files=100, max_fields=FORM_MAX_FIELDS)
        except Exception:  # a malformed body: PHP would just see no fields
            form = None
        text_pairs: list[tuple[str, Any]] = []
        file_pairs: list[tuple[str, Any]] = []
        for key, value in form.multi_items() if form is not None else []:
            if isinstance(value, UploadFile):
                data = await value.read()
                if value.filename or data:  # an empty file part is "no file chosen"
                    content = value.content_type or "application/octet-stream"
                    file_pairs.append((key, UploadedFile(value.filename or "", content, data)))
            else:
                text_pairs.append((key, value))
        return php_array_from_pairs(text_pairs), php_array_from_pairs(file_pairs)

    def site(self, request: Request) -> str:
        return str(request.base_url).rstrip("/")

    def page_path(self, request: Request) -> str:
        """The paginator's ``path``: the request URL without its query string."""
        raw_path = request.scope.get("raw_path") or request.url.path.encode()
        return self.site(request) + (raw_path.decode("latin-1").rstrip("/") or "/")

    # -- the controllers: the request's input to the backend, its answer to the envelope ------------

    def contact_list(self, request: Request, inp: Fields) -> Response:
        page = self.backend.list_contacts(inp, site=self.site(request), page_path=self.page_path(request))
        return ApiResponse("contact-list", "success", ["Contact data fetched successfully."], {"contacts": page})

    def contact_store(self, request: Request, inp: Fields) -> Response:
        row = self.backend.store_contact(inp, site=self.site(request))
        return ApiResponse(self._contact_remark, "success", ["Contact created successfully"], {"contact": row})

    def contact_update(self, request: Request, inp: Fields, id: str) -> Response:
        row = self.backend.update_contact(inp, id, site=self.site(request))
        # The leading space is the server's.
        return ApiResponse(self._contact_remark, "success", [" Contact updated successfully"], {"contact": row})

    def contact_delete(self, request: Request, inp: Fields, id: str) -> Response:
        self.backend.delete_contact(id)
        return ApiResponse("contact_deleted", "success", ["Contact deleted successfully"])

    def conversation_list(self, request: Request, inp: Fields) -> Response:
        page = self.backend.list_conversations(inp, site=self.site(request), page_path=self.page_path(request))
        return ApiResponse("inbox", "success", ["Conversation data fetched successfully"], {"conversation": page})

    def template_list(self, request: Request, inp: Fields) -> Response:
        page = self.backend.list_templates(inp, page_path=self.page_path(request))
        return ApiResponse("inbox", "success", ["Template data fetched successfully"], {"templates": page})

    def change_conversation_status(self, request: Request, inp: Fields, id: str) -> Response:
        self.backend.set_conversation_status(inp, id)
        return ApiResponse("status_updated", "success", ["Status updated successfully"])

    def conversation_details(self, request: Request, inp: Fields, id: str) -> Response:
        row = self.backend.conversation_details(id, site=self.site(request))
        return ApiResponse(
            "conversation_details", "success", ["Conversation details fetched successfully."], {"conversation": row}
        )

    def send_message(self, request: Request, inp: Fields) -> Response:
        data = self.backend.send_message(inp)
        return ApiResponse("success", "success", ["Message sent successfully"], data)

    def send_template_message(self, request: Request, inp: Fields) -> Response:
        conversation_id = self.backend.send_template(inp)
        return ApiResponse(
            "template_sent", "success", ["Message sent successfully"], {"conversation_id": conversation_id}
        )

    @staticmethod
    def send_ended(ended: SendEnded) -> Response:
        """What the server answers when an injected outcome ended the send (held back ``outcome.delay``)."""
        response: Response
        if ended.outcome.kind == "php_500":
            response = Response(b'{"message":"Server Error"}', 500, media_type="application/json")
        elif ended.text is None:
            response = HTMLResponse(SERVER_ERROR_PAGE, status_code=500)
        else:
            response = error("exception", ended.text)
        setattr(response, HOLD_ATTRIBUTE, ended.outcome.delay)
        return response


def _sql_equal(given: Any, expected: str) -> bool:
    """MySQL's default collation: case-insensitive, trailing spaces ignored."""
    return php_str(given).rstrip(" ").casefold() == expected.rstrip(" ").casefold()


def _urlencoded_fields(body: bytes) -> list[tuple[str, str]] | None:
    """An ``application/x-www-form-urlencoded`` body as Starlette's form parser reads it.

    ``&`` separates fields, empty ones are skipped, a field without ``=`` has an empty value, names and
    values are ``unquote_plus``-ed from latin-1. Starlette's limits make the whole form unreadable
    (None): more than ``FORM_MAX_FIELDS`` fields, or a field whose raw name and value exceed 1 MiB.
    """
    pairs: list[tuple[str, str]] = []
    for field in body.split(b"&"):
        if not field:
            continue
        name, _, value = field.partition(b"=")
        if len(name) + len(value) > FORM_MAX_FIELD_BYTES:
            return None
        pairs.append((unquote_plus(name.decode("latin-1")), unquote_plus(value.decode("latin-1"))))
    return pairs if len(pairs) <= FORM_MAX_FIELDS else None


def _loggable(inp: dict[str, Any]) -> dict[str, Any]:
    """The parsed input for the request log, files reduced to their metadata."""

    def convert(value: Any) -> Any:
        if isinstance(value, UploadedFile):
            return {"filename": value.filename, "content_type": value.content_type, "size": value.size}
        if isinstance(value, list):
            return [convert(v) for v in value]
        if isinstance(value, dict):
            return {k: convert(v) for k, v in value.items()}
        return value

    return {k: convert(v) for k, v in inp.items()}


def create_app(
    state: SimState,
    on_sent: Callable[[Contact], None] | None = None,
    outcomes: SendOutcomeRegistry | None = None,
    deliveries: DeliveryLog | None = None,
) -> WapiFlowApp:
    return WapiFlowApp(state, on_sent, outcomes, deliveries)
