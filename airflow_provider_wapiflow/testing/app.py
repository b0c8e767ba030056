"""The WapiFlow external API as a Starlette ASGI app: routing, the ``ExternalAPI`` middleware, the controllers.

Each handler follows the server code step by step (reference ``wapiflow-api.md`` §4, corrected by §7),
including the confirmed server bugs of §7.2 unless the simulator runs ``patched``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timezone
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.types import Receive, Scope, Send

from airflow_provider_wapiflow.testing.faults import LOG_ENTRY_SCOPE_KEY
from airflow_provider_wapiflow.testing.laravel import (
    UploadedFile,
    Validator,
    encode_json,
    like_matcher,
    mysql_like,
    mysql_number,
    normalise_input,
    paginate,
    php_array_from_pairs,
    php_str,
    php_truthy,
)
from airflow_provider_wapiflow.testing.outcomes import (
    HTTP_500_KINDS,
    DeliveryLog,
    SendOutcome,
    SendOutcomeRegistry,
    sql_conversation_update,
    sql_messages_insert,
)
from airflow_provider_wapiflow.testing.state import (
    MESSAGE_SENT,
    MESSAGE_TYPES,
    Contact,
    Conversation,
    SimState,
    Template,
    address_object,
    fmt_ts,
    placeholders,
    render,
    utcnow,
)

logger = logging.getLogger(__name__)


Handler = Callable[..., Awaitable[Response]]

# Texts the server produces (reference §1.2, §4, §7.2), kept verbatim.
IP_NOT_WHITELISTED = (
    "Access to this API endpoint is restricted to IP addresses that have been explicitly whitelisted.",
    "In order to access this API endpoint, please add your IP address ({ip}) to the white list from the user "
    "dashboard.",
)
USER_INACTIVE = (
    "The credentials provided do not match the ones associated with this user in our records. "
    "Please verify the credentials and try again."
)
CONTACT_LIMIT = "You\u2019ve reached your  contact limit. Please upgrade your plan to continue."
BLOCKED = "You cannot send or receive messages with this contact because they have been blocked."
UNDEFINED_CONVERSATION_ID = "Undefined variable $conversationId"
HOLD_ATTRIBUTE = "wapiflow_hold_seconds"
"""Seconds an answer waits before it leaves (a send outcome's ``delay``, e.g. a real 30 s cURL 28)."""
MOBILE_REGEX = "regex:^([0-9]*)$"


def sql_contact_id_null(now: datetime) -> str:
    """§7.2.2: the conversation insert for an unsaved contact."""
    ts = now.strftime("%Y-%m-%d %H:%M:%S")
    return (
        "SQLSTATE[23000]: Integrity constraint violation: 1048 Column 'contact_id' cannot be null "
        "(Connection: mysql, SQL: insert into `conversations` (`contact_id`, `user_id`, `updated_at`, "
        f"`created_at`) values (?, 1, {ts}, {ts}))"
    )


def sql_unknown_email_column(search: str) -> str:
    """§7.2.1: contact search ORs over a ``contacts.email`` column that does not exist."""
    like = f"%{search}%"
    return (
        "SQLSTATE[42S22]: Column not found: 1054 Unknown column 'email' in 'WHERE' (Connection: mysql, SQL: "
        "select count(*) as aggregate from `contacts` where `user_id` = 1 and "
        f"(`mobile` LIKE {like} or `firstname` LIKE {like} or `lastname` LIKE {like}) and "
        f"(`firstname` LIKE {like} or `lastname` LIKE {like} or `mobile` LIKE {like} or `email` LIKE {like}))"
    )


def curl_could_not_resolve(url: str) -> str:
    """§7.2.4: what Guzzle says when WapiFlow cannot reach Meta."""
    return (
        "cURL error 6: Could not resolve host: graph.facebook.com "
        f"(see https://curl.haxx.se/libcurl/c/libcurl-errors.html) for {url}"
    )


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


def validation_error(messages: list[str]) -> ApiResponse:
    return ApiResponse("validation_error", "error", messages)


def _php_type(value: Any) -> str:
    return {bool: "bool", int: "int", float: "float", str: "string"}.get(type(value), "null")


class WapiFlowApp:
    """The ASGI app. ``on_sent(contact)`` runs after every message that reached the phone (auto-replies);
    ``outcomes`` decide how sends end at the call to Meta, ``deliveries`` records what reached phones."""

    def __init__(
        self,
        state: SimState,
        on_sent: Callable[[Contact], None] | None = None,
        outcomes: SendOutcomeRegistry | None = None,
        deliveries: DeliveryLog | None = None,
    ) -> None:
        self.state = state
        self.config = state.config
        self.on_sent = on_sent
        self.outcomes = outcomes if outcomes is not None else SendOutcomeRegistry()
        self.deliveries = deliveries if deliveries is not None else DeliveryLog()
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
        return await handler(request, inp, **params)

    @staticmethod
    def _methods(route_method: str) -> list[str]:
        return ["GET", "HEAD"] if route_method == "GET" else [route_method]

    def web_page(self, request: Request, decoded: str, laravel_path: str) -> Response:
        """Outside ``external-api/*``: the site's pages, or Laravel's plain 404 (§0: the ``extern-api`` typo)."""
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
        """The ``ExternalAPI`` middleware, §1.2: nine checks, the first failure wins."""
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
            try:
                form = await request.form(max_files=100, max_fields=10000)
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
            body = php_array_from_pairs(text_pairs)
            files = php_array_from_pairs(file_pairs)
        merged = normalise_input(query)
        merged.update(normalise_input(body))
        merged.update(files)
        return dict(merged)

    def site(self, request: Request) -> str:
        return str(request.base_url).rstrip("/")

    def page_path(self, request: Request) -> str:
        """The paginator's ``path``: the request URL without its query string."""
        raw_path = request.scope.get("raw_path") or request.url.path.encode()
        return self.site(request) + (raw_path.decode("latin-1").rstrip("/") or "/")

    # -- ContactController ----------------------------------------------------------------------

    async def contact_list(self, request: Request, inp: dict[str, Any]) -> Response:
        errors = Validator(inp, [("search", ["nullable", "string"])]).errors()
        if errors:
            return validation_error(errors)
        search = inp.get("search")
        with self.state.lock:
            rows: Sequence[Contact] = self.state.contacts_newest_first()
            if php_truthy(search):
                if not self.config.patched:
                    return error("exception", sql_unknown_email_column(php_str(search)))
                like = like_matcher(php_str(search))
                rows = [c for c in rows if like(c.mobile) or like(php_str(c.firstname)) or like(php_str(c.lastname))]
            page = paginate(rows, page=inp.get("page"), per_page=inp.get("paginate"), path=self.page_path(request))
            site = self.site(request)
            page["data"] = [self.state.contact_dict(c, site) for c in page["data"]]
        return ApiResponse("contact-list", "success", ["Contact data fetched successfully."], {"contacts": page})

    async def contact_store(self, request: Request, inp: dict[str, Any]) -> Response:
        return self.save_contact(request, inp, None)

    async def contact_update(self, request: Request, inp: dict[str, Any], id: str) -> Response:
        return self.save_contact(request, inp, id)

    def save_contact(self, request: Request, inp: dict[str, Any], contact_id: str | None) -> Response:
        """``ContactController::save``: create when ``contact_id`` is None, else a full-replace update."""
        state = self.state

        def unique_mobile(attribute: str, value: Any) -> str | None:
            taken = state.mobile_taken(inp.get("mobile_code"), value, ignore_id=contact_id)
            return "The mobile has already been taken." if taken else None

        with state.lock:
            errors = Validator(
                inp,
                [
                    ("firstname", ["required", "string", "max:40"]),
                    ("lastname", ["required", "string", "max:40"]),
                    ("mobile_code", ["required"]),
                    ("profile_image", ["nullable", "image", "mimes:jpg,jpeg,png"]),
                    ("mobile", ["required", MOBILE_REGEX, unique_mobile]),
                    ("city", ["nullable", "string"]),
                    ("state", ["nullable", "string"]),
                    ("post_code", ["nullable", "string"]),
                    ("address", ["nullable", "string"]),
                ],
            ).errors()
            if errors:
                return validation_error(errors)

            if contact_id is None and not state.contact_allowance_left():
                return error("contact_limit_error", CONTACT_LIMIT)
            contact: Contact | None = None
            if contact_id is not None:
                contact = state.find_contact(contact_id)
                if contact is None:
                    return error("unknown_contact", "The contact is not found")
                message = " Contact updated successfully"
            else:
                message = "Contact created successfully"

            code, mobile = inp["mobile_code"], inp["mobile"]
            address = address_object(inp.get("city"), inp.get("state"), inp.get("post_code"), inp.get("address"), code)
            upload = inp.get("profile_image")
            image = None
            if isinstance(upload, UploadedFile):
                # FileManager names uploads uniqid() . time() . '.' . the client's extension
                image = f"{state.random_hex(13)}{int(time.time())}.{upload.client_extension}"
            site = self.site(request)
            remark = "contact_created" if self.config.server_version == "1.8" else "contact_save"

            if contact is None:
                created = state.add_contact(inp["firstname"], inp["lastname"], code, mobile, image=image)
                created.address = address
                # A new model holds only what was assigned, then the timestamps, the id and the appends;
                # the values echo the request (a JSON number stays a number).
                row: dict[str, Any] = {
                    "user_id": created.user_id,
                    "firstname": inp["firstname"],
                    "lastname": inp["lastname"],
                    "mobile_code": code,
                    "mobile": mobile,
                    "address": dict(address),
                }
                if image is not None:
                    row["image"] = image
                row["updated_at"] = fmt_ts(created.updated_at)
                row["created_at"] = fmt_ts(created.created_at)
                row["id"] = created.id
                row["image_src"] = state.image_src(image, site)
                row["full_name"] = state.full_name(inp["firstname"], inp["lastname"], code, mobile)
                return ApiResponse(remark, "success", [message], {"contact": row})

            new_values = {
                "firstname": inp["firstname"],
                "lastname": inp["lastname"],
                "mobile_code": php_str(code),
                "mobile": php_str(mobile),
                "address": address,
                "image": image if image is not None else contact.image,
            }
            dirty = any(getattr(contact, k) != v for k, v in new_values.items())
            state.renumber_contact(contact, new_values.pop("mobile_code"), new_values.pop("mobile"))
            for key, value in new_values.items():
                setattr(contact, key, value)
            if dirty:  # Eloquent only touches updated_at when an attribute changed
                contact.updated_at = utcnow()
            # §7.2.6: every update spends one unit of the plan's contact allowance (in both modes).
            state.use_contact_allowance()
            row = state.contact_dict(contact, site)
            row["mobile_code"], row["mobile"] = code, mobile
            return ApiResponse(remark, "success", [message], {"contact": row})

    async def contact_delete(self, request: Request, inp: dict[str, Any], id: str) -> Response:
        state = self.state
        with state.lock:
            contact = state.find_contact(id)
            if contact is None:
                return error("not_found", "The contact not found")
            conversation = state.conversation_for_contact(contact.id)
            if conversation is not None and state.messages_of(conversation.id):
                return error("contact_error", "Unable to delete contact with messages")
            if contact.is_blocked:
                return error("contact_error", "Unable to delete contact which is blocked")
            # Tags and lists are detached with the contact; the conversation row stays behind.
            state.delete_contact(contact)
        return ApiResponse("contact_deleted", "success", ["Contact deleted successfully"])

    # -- InboxController ------------------------------------------------------------------------

    async def conversation_list(self, request: Request, inp: dict[str, Any]) -> Response:
        state = self.state
        search, status = inp.get("search"), inp.get("status")
        if isinstance(search, (list, dict)):
            return error("exception", "Array to string conversion")
        with state.lock:
            rows = sorted(state.conversations.values(), key=lambda c: c.id)
            # latest('last_message_at'): newest first, NULLs last (MySQL sorts NULL lowest).
            rows.sort(key=lambda c: c.last_message_at.timestamp() if c.last_message_at else float("-inf"), reverse=True)
            if php_truthy(search):
                term = php_str(search)
                rows = [c for c in rows if self._contact_matches(c, term)]
            if status is not None:  # filter(['status']): a plain equality, so 4 matches a stored 4
                wanted = status if isinstance(status, list) else [status]
                rows = [c for c in rows if any(float(c.status) == mysql_number(w) for w in wanted)]
            page = paginate(rows, page=inp.get("page"), per_page=inp.get("paginate"), path=self.page_path(request))
            site = self.site(request)
            page["data"] = [state.conversation_dict(c, site) for c in page["data"]]
        return ApiResponse("inbox", "success", ["Conversation data fetched successfully"], {"conversation": page})

    def _contact_matches(self, conversation: Conversation, term: str) -> bool:
        contact = self.state.contacts.get(conversation.contact_id) if conversation.contact_id else None
        if contact is None:
            return False
        return any(mysql_like(term, v) for v in (contact.firstname, contact.lastname, contact.mobile))

    async def template_list(self, request: Request, inp: dict[str, Any]) -> Response:
        with self.state.lock:
            rows = sorted(self.state.templates.values(), key=lambda t: t.id)  # no ORDER BY: id order
            page = paginate(rows, page=inp.get("page"), per_page=inp.get("paginate"), path=self.page_path(request))
            page["data"] = [self.state.template_dict(t) for t in page["data"]]
        return ApiResponse("inbox", "success", ["Template data fetched successfully"], {"templates": page})

    async def change_conversation_status(self, request: Request, inp: dict[str, Any], id: str) -> Response:
        errors = Validator(inp, [("status", ["required", "integer", "in:1,2,3,0"])]).errors()
        if errors:
            return validation_error(errors)
        with self.state.lock:
            conversation = self.state.find_conversation(id)
            if conversation is None:
                return error("not_found", "Conversation not found")
            new_status = int(mysql_number(inp["status"]))
            if new_status != conversation.status:
                conversation.status = new_status
                conversation.updated_at = utcnow()
        return ApiResponse("status_updated", "success", ["Status updated successfully"])

    async def conversation_details(self, request: Request, inp: dict[str, Any], id: str) -> Response:
        with self.state.lock:
            conversation = self.state.find_conversation(id)
            if conversation is None:
                return error("not_found", "Conversation not found")
            row = self.state.conversation_dict(conversation, self.site(request), details=True)
        return ApiResponse(
            "conversation_details", "success", ["Conversation details fetched successfully."], {"conversation": row}
        )

    async def send_message(self, request: Request, inp: dict[str, Any]) -> Response:
        """``InboxController::sendMessage`` + ``WhatsAppLib::messageSend`` (§4.8, §7.2, §7.3)."""
        state = self.state
        errors = Validator(
            inp,
            [
                (
                    "message",
                    [
                        "required_without_all:image,document,video,audio,cta_url_id,latitude,longitude,"
                        "interactive_list_id,product,created_order_data"
                    ],
                ),
                ("image", ["nullable", "image", "mimes:jpg,jpeg,png", "max:5120"]),
                ("document", ["nullable", "file", "mimes:pdf,doc,docx", "max:102400"]),
                ("video", ["nullable", "file", "mimes:mp4", "max:16384"]),
                ("audio", ["nullable", "file", "max:16384"]),
                ("cta_url_id", ["nullable", "int"]),
                ("interactive_list_id", ["nullable", "int"]),
                ("latitude", ["required_if:longitude,!=,0"]),
                ("longitude", ["required_if:latitude,!=,0"]),
                ("mobile_code", ["required"]),
                ("mobile", ["required", MOBILE_REGEX]),
                ("from_number", ["nullable"]),
            ],
            {
                "message.required_without_all": "The message should not be empty.",
                "longitude.required_if": "The longitude field is required when latitude is not empty.",
            },
        ).errors()
        if errors:
            return validation_error(errors)

        with state.lock:
            account = state.account_for_send(inp.get("from_number"))
            if account is None:
                return error("not_found", "The whatsapp account is not found")
            code, mobile = inp["mobile_code"], inp["mobile"]
            contact = state.contact_by_number(code, mobile)
            conversation: Conversation | None = None
            if not self.config.patched:
                # §7.2.2: the unsaved new contact has no id, so the conversation insert fails.
                if contact is None:
                    return error("exception", sql_contact_id_null(utcnow()))
                # §7.2.5: the conversation row exists before any of the checks below.
                conversation = state.conversation_for_contact(contact.id) or state.create_conversation(contact.id)
            if contact is not None and contact.is_blocked:
                return error("not_found", BLOCKED)
            if php_truthy(inp.get("cta_url_id")):
                return error("not_found", "The cta url is not found")
            if php_truthy(inp.get("interactive_list_id")):
                return error("not_found", "The interactive list is not found")
            if _json_value(inp.get("product")) or _json_value(inp.get("created_order_data")):
                return error(
                    "not_found",
                    "Your current plan does not support e-commerce configured messages. Please upgrade your plan.",
                )

            media_kind = next(
                (k for k in ("image", "document", "video", "audio") if isinstance(inp.get(k), UploadedFile)), None
            )
            graph = f"https://graph.facebook.com/v22.0/{account.phone_number_id}"
            if state.meta_unreachable():  # media are uploaded first, so that is the call that fails
                return error("exception", curl_could_not_resolve(f"{graph}/{'media' if media_kind else 'messages'}"))

            text = inp.get("message")
            latitude, longitude = inp.get("latitude"), inp.get("longitude")
            columns: dict[str, Any] = {"message": text}
            if media_kind is not None:
                upload: UploadedFile = inp[media_kind]
                media_id = state.random_digits(16)
                columns.update(
                    media_id=media_id,
                    media_caption=text,
                    media_type=media_kind,
                    mime_type=upload.guess_mime(),
                    media_url=(
                        "https://lookaside.fbsbx.com/whatsapp_business/attachments/"
                        f"?mid={media_id}&ext={int(time.time())}&hash=ATu{state.random_hex(24)}"
                    ),
                    message_type=MESSAGE_TYPES[media_kind],
                )
                if media_kind == "document":
                    columns["media_filename"] = upload.filename
                else:
                    now = utcnow()
                    ext = upload.guess_extension() or upload.client_extension
                    columns["media_path"] = f"{now:%Y/%m/%d}/{state.random_hex(13)}.{ext}"
            elif php_truthy(latitude) and php_truthy(longitude):
                columns["message_type"] = MESSAGE_TYPES["location"]
                columns["location"] = {
                    "latitude": latitude,
                    "longitude": longitude,
                    "name": inp.get("name") if inp.get("name") is not None else "",
                    "address": inp.get("address") if inp.get("address") is not None else "",
                }
            else:  # a text, possibly empty (§7.3 and §7.4: a lone or zero coordinate sends an empty text)
                columns["message_type"] = MESSAGE_TYPES["text"]

            # The call to Meta: an injected outcome may end the send here (§7.4).
            delivery = {
                "kind": media_kind or ("location" if "location" in columns else "text"),
                "route": "text",
                "body": None if "location" in columns or text is None else php_str(text),
                "location": columns.get("location"),
            }
            outcome = self.outcomes.pick("text")
            if outcome is not None and not outcome.meta_accepted:
                if outcome.delivered:
                    self._deliver(code, mobile, outcome=outcome.kind, **delivery)
                    if contact is not None:
                        self._notify_sent(contact)
                early_curl = media_kind is not None and outcome.kind in ("curl_6", "curl_7")
                return self._outcome_answer(outcome, "text", f"{graph}/{'media' if early_curl else 'messages'}")

            if contact is None:  # patched: the documented auto-create
                contact = self._auto_create_contact(code, mobile)
            if conversation is None:
                conversation = state.conversation_for_contact(contact.id) or state.create_conversation(contact.id)
            if outcome is not None and outcome.kind == "messages_insert_sql":  # the SQL shows the text
                row = {
                    "message": php_str(text) if text is not None else None,
                    "message_type": columns["message_type"],
                    "location": json.dumps(columns["location"]) if "location" in columns else None,
                }
                return self._message_insert_failed(outcome, contact, conversation, account.id, delivery, row)
            untouched = _conversation_columns(conversation)
            message = state.store_message(
                conversation,
                contact,
                type=MESSAGE_SENT,
                whatsapp_account_id=account.id,
                rendered=php_str(text) if text is not None else None,
                **columns,
            )
            self._deliver(
                code,
                mobile,
                outcome=outcome.kind if outcome is not None else "success",
                message_id=message.id,
                whatsapp_message_id=message.whatsapp_message_id,
                **delivery,
            )
            if outcome is not None:  # conversation_update_sql: stored, the conversation update failed
                _restore_conversation(conversation, untouched)
                self._notify_sent(contact)
                return error("exception", sql_conversation_update(conversation.id, utcnow()))
            answer = {
                "user_id": message.user_id,
                "whatsapp_account_id": message.whatsapp_account_id,
                "whatsapp_message_id": message.whatsapp_message_id,
                "conversation_id": message.conversation_id,
                "cta_url_id": message.cta_url_id,
                "interactive_list_id": message.interactive_list_id,
                "type": message.type,
                "message": message.message,
                "media_id": message.media_id,
                "message_type": message.message_type,
                "location": message.location,
                "media_caption": message.media_caption,
                "media_filename": message.media_filename,
                "media_url": message.media_url,
                "media_path": message.media_path,
                "mime_type": message.mime_type,
                "media_type": message.media_type,
                "agent_id": message.agent_id,
                "status": message.status,
                "ordering": message.ordering.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "product_data": message.product_data,
                "updated_at": fmt_ts(message.updated_at),
                "created_at": fmt_ts(message.created_at),
                "id": message.id,
            }
            conversation_id = conversation.id
        self._notify_sent(contact)
        return ApiResponse(
            "success", "success", ["Message sent successfully"], {"conversation_id": conversation_id, "message": answer}
        )

    async def send_template_message(self, request: Request, inp: dict[str, Any]) -> Response:
        """``InboxController::sendTemplateMessage`` + ``WhatsAppLib::sendTemplateMessage`` (§4.9, §7.2)."""
        state = self.state
        errors = Validator(
            inp,
            [
                ("template_id", ["required"]),
                ("mobile_code", ["required"]),
                ("mobile", ["required", MOBILE_REGEX]),
                ("from_number", ["nullable"]),  # validated, then ignored (§7.3)
            ],
        ).errors()
        if errors:
            return validation_error(errors)

        with state.lock:
            code, mobile = inp["mobile_code"], inp["mobile"]
            contact = state.contact_by_number(code, mobile)
            conversation: Conversation | None = None
            if not self.config.patched:
                if contact is None:  # §7.2.2, before the template check
                    return error("exception", sql_contact_id_null(utcnow()))
                conversation = state.conversation_for_contact(contact.id) or state.create_conversation(contact.id)
            if contact is not None and contact.is_blocked:
                return error("not_found", BLOCKED)
            template = state.approved_template(inp["template_id"])
            if template is None:
                return error("not_found", "The template is not found")
            account = state.default_account()
            if account is None:
                return error("not_found", "Please connect your whatsapp account first")

            params: dict[str, list[str]] = {}
            for key in ("body_variables", "header_variables"):
                given = inp.get(key)
                if given is not None and not isinstance(given, (list, dict)):
                    return error(
                        "exception", f"foreach() argument must be of type array|object, {_php_type(given)} given"
                    )
                values = list(given.values()) if isinstance(given, dict) else list(given or [])
                params[key] = [self._personalise(php_str(v), contact, code, mobile) for v in values]

            url = f"https://graph.facebook.com/v22.0/{account.phone_number_id}/messages"
            if state.meta_unreachable():  # §7.2.4: the token rides in the query string of the logged URL
                return error("exception", curl_could_not_resolve(f"{url}?access_token={self.config.meta_access_token}"))
            header = render(template.header_text, params["header_variables"])
            body = render(template.body, params["body_variables"])
            rendered = f"{header}\n{body}" if header else body
            delivery = {"kind": "template", "route": "template", "body": rendered, "template_id": template.id}

            # The call to Meta: an injected outcome may end the send here (§7.4).
            outcome = self.outcomes.pick("template")
            if outcome is not None and not outcome.meta_accepted:
                if outcome.delivered:
                    self._deliver(code, mobile, outcome=outcome.kind, **delivery)
                    if contact is not None:
                        self._notify_sent(contact)
                return self._outcome_answer(outcome, "template", url)
            refusal = meta_template_refusal(template, params["body_variables"], params["header_variables"])
            if refusal is not None:  # Meta answers 4xx; the template path returns error_data.details
                return error("exception", refusal)

            if contact is None:  # patched: the documented auto-create
                contact = self._auto_create_contact(code, mobile)
            if conversation is None:
                conversation = state.conversation_for_contact(contact.id) or state.create_conversation(contact.id)
            if outcome is not None and outcome.kind == "messages_insert_sql":
                row = {"template_id": template.id, "message_type": MESSAGE_TYPES["text"]}
                return self._message_insert_failed(outcome, contact, conversation, account.id, delivery, row)
            untouched = _conversation_columns(conversation)
            message = state.store_message(
                conversation,
                contact,
                type=MESSAGE_SENT,
                template_id=template.id,
                whatsapp_account_id=account.id,
                body_variables=params["body_variables"],
                header_variables=params["header_variables"],
                rendered=rendered,
            )
            self._deliver(
                code,
                mobile,
                outcome=outcome.kind if outcome is not None else "success",
                message_id=message.id,
                whatsapp_message_id=message.whatsapp_message_id,
                **delivery,
            )
            if outcome is not None:  # conversation_update_sql: stored, the conversation update failed
                _restore_conversation(conversation, untouched)
                self._notify_sent(contact)
                return error("exception", sql_conversation_update(conversation.id, utcnow()))
            conversation_id = conversation.id
        self._notify_sent(contact)
        if not self.config.patched:
            # §7.2.3: $conversationId is undefined; the ErrorException is caught after the send.
            return error("exception", UNDEFINED_CONVERSATION_ID)
        return ApiResponse(
            "template_sent", "success", ["Message sent successfully"], {"conversation_id": conversation_id}
        )

    # -- helpers --------------------------------------------------------------------------------

    def _auto_create_contact(self, code: Any, mobile: Any) -> Contact:
        """What the docs promise for a new number (only a patched server does it)."""
        return self.state.add_contact("", "", code, mobile)

    def _personalise(self, value: str, contact: Contact | None, code: Any, mobile: Any) -> str:
        """``parseTemplateParams``: the ``{{ contactName }}``-style shortcodes inside variable values."""
        if "{{" not in value:
            return value
        name = (
            self.state.full_name(contact.firstname, contact.lastname, code, mobile)
            if contact is not None
            else self.state.full_name("", "", code, mobile)
        )
        account = self.state.default_account()
        replacements = {
            "contactName": name,
            "contactMobile": f"{php_str(code)}{php_str(mobile)}",
            "userName": "simulator",
            "userMobile": account.phone_number if account else "",
        }
        return re.sub(
            r"\{\{\s*(contactName|contactMobile|userName|userMobile)\s*\}\}",
            lambda m: replacements[m.group(1)],
            value,
        )

    def _deliver(self, mobile_code: Any, mobile: Any, **details: Any) -> None:
        """The message reached the customer's phone (Meta delivered), stored or not."""
        self.deliveries.record(php_str(mobile_code), php_str(mobile), **details)

    def _message_insert_failed(
        self,
        outcome: SendOutcome,
        contact: Contact,
        conversation: Conversation,
        account_id: int,
        delivery: dict[str, Any],
        row: dict[str, Any],
    ) -> Response:
        """Meta delivered, then ``insert into messages`` failed: nothing stored, the SQL in the answer."""
        wamid = self.state.wamid()
        self._deliver(contact.mobile_code, contact.mobile, outcome=outcome.kind, whatsapp_message_id=wamid, **delivery)
        self._notify_sent(contact)
        now = utcnow().strftime("%Y-%m-%d %H:%M:%S")
        head = {
            "user_id": conversation.user_id,
            "whatsapp_account_id": account_id,
            "whatsapp_message_id": wamid,
            "conversation_id": conversation.id,
        }
        if "template_id" in row:
            head["template_id"] = row.pop("template_id")
        head["type"] = MESSAGE_SENT
        tail = {"status": 1, "ordering": now, "updated_at": now, "created_at": now}
        return error("exception", sql_messages_insert({**head, **row, **tail}))

    def _outcome_answer(self, outcome: SendOutcome, route: str, url: str) -> Response:
        """What the server answers when the send ended at ``outcome`` (held back ``outcome.delay`` seconds)."""
        response: Response
        if outcome.kind == "php_500":
            response = Response(b'{"message":"Server Error"}', 500, media_type="application/json")
        elif outcome.kind in HTTP_500_KINDS:
            response = HTMLResponse(SERVER_ERROR_PAGE, status_code=500)
        else:
            response = error("exception", outcome.text(route, url, self.config.meta_access_token))
        setattr(response, HOLD_ATTRIBUTE, outcome.delay)
        return response

    def _notify_sent(self, contact: Contact) -> None:
        if self.on_sent is not None:
            try:
                self.on_sent(contact)
            except Exception:  # an auto-reply hook must never break the answer
                logger.exception("WapiFlow simulator: on_sent hook failed")


TEMPLATE_PAUSED = "Template is paused due to low quality so it cannot be sent in a template message."


def meta_template_refusal(template: Template, body_variables: list[str], header_variables: list[str]) -> str | None:
    """Meta's ``error_data.details`` for a paused template, or a component whose parameter count differs
    from its placeholders."""
    if template.paused:
        return TEMPLATE_PAUSED
    for component, text, given in (
        ("header", template.header_text, header_variables),
        ("body", template.body, body_variables),
    ):
        expected = len(placeholders(text))
        if len(given) != expected:
            return (
                f"{component}: number of localizable_params ({len(given)}) does not match the expected number "
                f"of params ({expected})"
            )
    return None


def _conversation_columns(conversation: Conversation) -> tuple[Any, ...]:
    return (
        conversation.last_message_at,
        conversation.updated_at,
        conversation.whatsapp_account_id,
        conversation.needs_human_reply,
    )


def _restore_conversation(conversation: Conversation, columns: tuple[Any, ...]) -> None:
    """The ``update conversations`` that failed: none of its columns changed."""
    (
        conversation.last_message_at,
        conversation.updated_at,
        conversation.whatsapp_account_id,
        conversation.needs_human_reply,
    ) = columns


def _sql_equal(given: Any, expected: str) -> bool:
    """MySQL's default collation: case-insensitive, trailing spaces ignored."""
    return php_str(given).rstrip(" ").casefold() == expected.rstrip(" ").casefold()


def _json_value(value: Any) -> Any:
    """``json_decode($value, true)`` for the product / created_order_data inputs (invalid JSON is null)."""
    if not php_truthy(value) or not isinstance(value, str):
        return None
    try:
        return json.loads(value)
    except ValueError:
        return None


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


def laravel_error_page(status: int, title: str) -> str:
    """Laravel's stock HTML error page (what a PHP error or an unknown non-API route answers)."""
    return f"""<!DOCTYPE html>
<html lang="en">
    <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>{title}</title>
    </head>
    <body class="antialiased">
        <div class="relative flex items-top justify-center min-h-screen sm:items-center sm:pt-0">
            <div class="max-w-xl mx-auto sm:px-6 lg:px-8">
                <div class="flex items-center pt-8 sm:justify-start sm:pt-0">
                    <div class="px-4 text-lg text-gray-500 border-r border-gray-400 tracking-wider">{status}</div>
                    <div class="ml-4 text-lg text-gray-500 uppercase tracking-wider">{title}</div>
                </div>
            </div>
        </div>
    </body>
</html>
"""


NOT_FOUND_PAGE = laravel_error_page(404, "Not Found")
SERVER_ERROR_PAGE = laravel_error_page(500, "Server Error")


def create_app(
    state: SimState,
    on_sent: Callable[[Contact], None] | None = None,
    outcomes: SendOutcomeRegistry | None = None,
    deliveries: DeliveryLog | None = None,
) -> WapiFlowApp:
    return WapiFlowApp(state, on_sent, outcomes, deliveries)
