"""``WapiFlowSimulator``: the simulated WapiFlow server on loopback, with its seeding and inspection API."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import select
import selectors
import socket
import threading
import time
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any

from airflow_provider_wapiflow.testing import serializers
from airflow_provider_wapiflow.testing.faults import (
    Fault,
    FaultMiddleware,
    FaultRegistry,
    RequestLog,
    Throttle,
    api_path,
)
from airflow_provider_wapiflow.testing.outcomes import DeliveryLog, SendOutcome, SendOutcomeRegistry
from airflow_provider_wapiflow.testing.serializers import contact_dict, conversation_dict, message_inspect_dict
from airflow_provider_wapiflow.testing.state import (
    CONVERSATION_STATUSES,
    MESSAGE_RECEIVED,
    MESSAGE_SENT,
    PLANS,
    TEMPLATE_APPROVED,
    Contact,
    SimConfig,
    SimState,
    parse_ts,
    utcnow,
)

if TYPE_CHECKING:
    import uvicorn

DEFAULT_CONNECTION_EXTRA: dict[str, Any] = {"timeout": 10, "max_retries": 3, "backoff_base": 0.05, "backoff_max": 0.5}


class _PreciseSelector(selectors.DefaultSelector):
    """
    The default selector, with timeouts kept to the microsecond.

    epoll counts its timeout in whole milliseconds, rounded up, so every answer held for the injected
    latency would leave up to 1 ms late (0.5 ms on average: 2.5 % of a 20 ms latency, and more at the
    tails). ``select()`` on the one epoll descriptor waits with microsecond precision; epoll then only
    collects what is ready.
    """

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is not None and timeout > 0 and hasattr(self, "fileno"):
            try:
                select.select([self.fileno()], [], [], timeout)
                timeout = 0
            except ValueError:  # a descriptor number above select()'s FD_SETSIZE: wait on epoll alone
                pass
        return super().select(timeout)


class WapiFlowSimulator:
    """A real HTTP server on loopback that behaves like WapiFlow's external API.

    By default it is the *real* server, its bugs included (docs/server-bugs.rst); ``patched=True`` models a
    server where contact search works, unknown numbers are auto-created, a template send answers
    ``template_sent`` with its conversation id, and failed sends leave no empty conversation behind.

    What reached customers' phones is kept apart from what WapiFlow stored: ``deliveries()`` and
    ``delivery_counts()``. ``inject`` puts faults between the client and WapiFlow,
    ``inject_send_outcome`` makes sends end at one of the server's own throw sites,
    ``storm`` and ``rate_limit`` answer 429 before processing. Admin endpoints under ``/_simulator/``
    (``POST /_simulator/reply``, ``GET /_simulator/deliveries``, ``GET /_simulator/messages``) serve
    the command line.

    Use it as a context manager (``with WapiFlowSimulator() as sim:``) or call ``start()``/``stop()``.
    Account knobs (properties, thread-safe, read on every request): ``plan`` (see ``set_plan``),
    ``user_active``, ``contact_limit``, ``maintenance``, ``has_whatsapp_account``, ``meta_outage``
    (``meta_outage_for`` makes one pass after a number of sends), and ``latency`` (seconds added to every
    request).

    With ``latency_includes_processing=True`` a request (without an injected fault) is processed as soon
    as it arrives and its answer leaves ``latency`` seconds after its arrival: the simulator's own
    processing, one request at a time, is hidden in the latency, as a real server's parallel workers
    hide theirs. Benchmarks use it so that they measure the client, not the simulator.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        client_id: str = "wapiflow-test-client",
        client_secret: str = "wapiflow-test-secret",
        patched: bool = False,
        server_version: str = "2.3",
        allowed_ips: tuple[str, ...] | list[str] = ("127.0.0.1",),
        latency: float = 0.0,
        seed: int = 0,
        seed_templates: bool = True,
        meta_access_token: str = "EAAGsimulatedMetaAccessToken0123456789",
        latency_includes_processing: bool = False,
    ) -> None:
        if server_version not in ("2.3", "1.8"):
            raise ValueError("server_version must be '2.3' or '1.8'")
        self.host = host
        self.port = port
        self.config = SimConfig(
            client_id=client_id,
            client_secret=client_secret,
            patched=patched,
            server_version=server_version,
            allowed_ips=tuple(allowed_ips),
            meta_access_token=meta_access_token,
            seed_templates=seed_templates,
        )
        self.state = SimState(self.config, seed=seed)
        self.faults = FaultRegistry(seed)
        self.send_outcomes = SendOutcomeRegistry(seed)
        self.throttle = Throttle()
        self.delivery_log = DeliveryLog()
        self.log = RequestLog()
        self.latency = latency
        self.latency_includes_processing = latency_includes_processing
        self._auto_replies: list[tuple[str | None, str | None, str, float]] = []
        self._timers: set[threading.Timer] = set()
        self._timers_lock = threading.Lock()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self._middleware: FaultMiddleware | None = None
        self._bound_port: int | None = None
        self._error: BaseException | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> WapiFlowSimulator:
        """Bind the port and serve in a background thread with its own event loop; returns self."""
        if self._thread is not None:
            raise RuntimeError("the simulator is already running")
        # Imported here so that importing the package (e.g. by the pytest plugin) stays cheap.
        import uvicorn

        from airflow_provider_wapiflow.testing.admin import AdminApp
        from airflow_provider_wapiflow.testing.app import create_app

        app = create_app(self.state, self._on_sent, self.send_outcomes, self.delivery_log)
        self._middleware = FaultMiddleware(
            app,
            self.faults,
            self.log,
            lambda: self.latency,
            lambda: self.latency_includes_processing,
            self.throttle,
        )
        admin = AdminApp(self._middleware, self.simulate_reply, self.deliveries, self.messages, self._number_of)
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        # proto=IPPROTO_TCP matters: asyncio only sets TCP_NODELAY on accepted sockets whose proto says
        # TCP, and without it every keep-alive answer waits ~40 ms for a delayed ACK (Nagle).
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError:
            sock.close()
            raise
        self._socket = sock
        self._bound_port = sock.getsockname()[1]
        config = uvicorn.Config(
            admin,
            lifespan="off",
            log_config=None,
            log_level="warning",
            access_log=False,
            proxy_headers=False,  # REMOTE_ADDR is the peer: X-Forwarded-For must not rewrite it
            server_header=False,
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._error = None
        self._thread = threading.Thread(target=self._serve, name=f"wapiflow-simulator-{self._bound_port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the WapiFlow simulator did not start: {self._error!r}")
            time.sleep(0.005)
        return self

    def _serve(self) -> None:
        assert self._server is not None
        assert self._socket is not None
        loop = asyncio.SelectorEventLoop(_PreciseSelector())
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._server.serve(sockets=[self._socket]))
        except BaseException as exc:  # reported by start()
            self._error = exc
        finally:
            loop.close()

    def stop(self) -> None:
        """Stop serving, join the thread and cancel pending auto-replies. Safe to call twice."""
        with self._timers_lock:
            for timer in self._timers:
                timer.cancel()
            self._timers.clear()
        if self._thread is None:
            return
        if self._middleware is not None:
            self._middleware.close()
        if self._server is not None:
            self._server.should_exit = True
        self._thread.join(timeout=10)
        if self._thread.is_alive() and self._server is not None:
            self._server.force_exit = True
            self._thread.join(timeout=5)
        if self._socket is not None:
            self._socket.close()
        self._thread = self._server = self._socket = self._middleware = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> WapiFlowSimulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- addresses ------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``: the site root."""
        if self._bound_port is None or self._thread is None:
            raise RuntimeError("the simulator is not running; call start() first")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self._bound_port}"

    @property
    def base_url(self) -> str:
        """The API base URL, what a connection's host should be."""
        return f"{self.url}/external-api"

    @property
    def bound_port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    @property
    def client_id(self) -> str:
        return self.config.client_id

    @property
    def client_secret(self) -> str:
        return self.config.client_secret

    @property
    def meta_access_token(self) -> str:
        """WapiFlow's Meta token, which the real server leaks in Meta-outage errors
        (docs/server-bugs.rst#bug-meta-outage)."""
        return self.config.meta_access_token

    @property
    def patched(self) -> bool:
        return self.config.patched

    @property
    def server_version(self) -> str:
        return self.config.server_version

    def connection_json(self, conn_id: str = "wapiflow_default", **extra: Any) -> str:
        """The JSON for ``AIRFLOW_CONN_<CONN_ID>``; ``extra`` overrides the default extras."""
        del conn_id  # the id is the env var's name, not part of its value
        return json.dumps(
            {
                "conn_type": "wapiflow",
                "host": self.base_url,
                "login": self.config.client_id,
                "password": self.config.client_secret,
                "extra": {**DEFAULT_CONNECTION_EXTRA, **extra},
            }
        )

    def _site(self) -> str:
        return self.url if self.running else f"http://{self.host}"

    # -- account knobs --------------------------------------------------------------------------

    @property
    def plan(self) -> str:
        return self.state.plan

    def set_plan(self, plan: str) -> None:
        """``"active"``, ``"none"`` (no plan), ``"expired"`` or ``"no_api"`` (plan without API access)."""
        if plan not in PLANS:
            raise ValueError(f"plan must be one of {PLANS}")
        with self.state.lock:
            self.state.plan = plan

    @property
    def user_active(self) -> bool:
        """False → 401 "The credentials provided do not match…" (auth row 4)."""
        return self.state.user_active

    @user_active.setter
    def user_active(self, value: bool) -> None:
        with self.state.lock:
            self.state.user_active = bool(value)

    @property
    def contact_limit(self) -> int | None:
        """Remaining contact allowance: None = unlimited; creates need > 0; every update spends one."""
        return self.state.contact_limit

    @contact_limit.setter
    def contact_limit(self, value: int | None) -> None:
        with self.state.lock:
            self.state.contact_limit = value

    @property
    def maintenance(self) -> bool:
        """True → every API route answers 302 to ``<site>/maintenance-mode`` before auth."""
        return self.state.maintenance

    @maintenance.setter
    def maintenance(self, value: bool) -> None:
        with self.state.lock:
            self.state.maintenance = bool(value)

    @property
    def has_whatsapp_account(self) -> bool:
        """False → the user has no WhatsApp account (sends fail with not_found)."""
        return self.state.has_whatsapp_account

    @has_whatsapp_account.setter
    def has_whatsapp_account(self, value: bool) -> None:
        self.state.has_whatsapp_account = bool(value)

    @property
    def whatsapp_phone_number(self) -> str | None:
        """The default account's ``phone_number`` (what ``from_number`` must equal), None without one."""
        account = self.state.default_account()
        return account.phone_number if account else None

    @property
    def meta_outage(self) -> bool:
        """True → WapiFlow cannot reach Meta: sends answer the cURL error 6 text, nothing is sent."""
        return self.state.meta_outage

    @meta_outage.setter
    def meta_outage(self, value: bool) -> None:
        with self.state.lock:
            self.state.meta_outage = bool(value)

    def meta_outage_for(self, times: int, after: int = 0) -> None:
        """A Meta outage for part of a batch: of the next sends that call Meta, the first ``after`` go out,
        the ``times`` after them fail as with ``meta_outage``, then Meta is back.

        Only sends that get as far as calling Meta count (not those refused earlier, e.g. a non-contact).
        """
        if times < 0 or after < 0:
            raise ValueError("times and after must not be negative")
        with self.state.lock:
            self.state.meta_outage_window = (after, times)

    # -- seeding --------------------------------------------------------------------------------

    def add_contact(
        self,
        firstname: str,
        lastname: str,
        mobile_code: str,
        mobile: str,
        city: str = "",
        state: str = "",
        post_code: str = "",
        address: str = "",
        is_blocked: bool = False,
    ) -> dict[str, Any]:
        """Create a contact directly (no validation beyond uniqueness, no plan allowance used)."""
        with self.state.lock:
            if self.state.contact_by_number(mobile_code, mobile) is not None:
                raise ValueError(f"a contact with +{mobile_code} {mobile} already exists")
            contact = self.state.add_contact(
                firstname,
                lastname,
                mobile_code,
                mobile,
                city=city,
                state=state,
                post_code=post_code,
                address=address,
                is_blocked=is_blocked,
            )
            return contact_dict(self.state, contact, self._site())

    def seed_contacts(self, count: int, mobile_code: str = "34", first_mobile: int = 600000001) -> list[dict[str, Any]]:
        """Create ``count`` contacts with generated names and consecutive numbers."""
        with self.state.lock:
            site = self._site()
            return [contact_dict(self.state, c, site) for c in self._seed(count, mobile_code, first_mobile)]

    def bulk_seed_contacts(self, count: int, mobile_code: str = "34", first_mobile: int = 600000001) -> int:
        """:meth:`seed_contacts` for big accounts (a million contacts in seconds); returns the count, not the rows."""
        return len(self._seed(count, mobile_code, first_mobile))

    def _seed(self, count: int, mobile_code: str, first_mobile: int) -> list[Contact]:
        first = ["Ana", "Luis", "Marta", "Jorge", "Lucía", "Pablo", "Elena", "Diego", "Sara", "Iker"]
        last = ["García", "López", "Martín", "Sánchez", "Pérez", "Gómez", "Ruiz", "Díaz", "Moreno", "Muñoz"]
        numbers = [str(first_mobile + i) for i in range(count)]
        with self.state.lock:
            taken = next((n for n in numbers if self.state.contact_by_number(mobile_code, n) is not None), None)
            if taken is not None:
                raise ValueError(f"a contact with +{mobile_code} {taken} already exists")
            return [
                self.state.add_contact(first[i % 10], last[(i // 10) % 10], mobile_code, number)
                for i, number in enumerate(numbers)
            ]

    def set_contact_blocked(self, contact_id: int, blocked: bool = True) -> dict[str, Any]:
        with self.state.lock:
            contact = self._contact(contact_id)
            contact.is_blocked = int(blocked)
            contact.blocked_by = 1 if blocked else 0
            return contact_dict(self.state, contact, self._site())

    def tag_contact(self, contact_id: int, tag: str) -> dict[str, Any]:
        """Attach a tag (created by name if new); shows in conversation-details' ``contact.tags``."""
        with self.state.lock:
            self.state.add_label("tags", self._contact(contact_id), tag)
            return contact_dict(self.state, self._contact(contact_id), self._site(), with_labels=True)

    def add_contact_to_list(self, contact_id: int, list_name: str) -> dict[str, Any]:
        """Put a contact on a list (created by name if new); shows in ``contact.lists``."""
        with self.state.lock:
            self.state.add_label("lists", self._contact(contact_id), list_name)
            return contact_dict(self.state, self._contact(contact_id), self._site(), with_labels=True)

    def add_template(
        self,
        name: str,
        body: str,
        status: int = TEMPLATE_APPROVED,
        header: str | dict[str, Any] | None = None,
        header_format: str | None = None,
    ) -> dict[str, Any]:
        """Add a template; ``body`` and a text ``header`` may hold ``{{1}}``… placeholders."""
        template = self.state.add_template(name, body, status=int(status), header=header, header_format=header_format)
        return serializers.template_dict(template)

    def pause_template(self, template: int | str, paused: bool = True) -> dict[str, Any]:
        """Meta pauses a template (low quality): WapiFlow still lists it as approved, and sends of it are
        refused by Meta (``Template is paused due to low quality…``, nothing delivered) until unpaused.

        ``template`` is its id or name.
        """
        with self.state.lock:
            found = next(
                (t for t in self.state.templates.values() if template in (t.id, t.name)),
                None,
            )
            if found is None:
                raise ValueError(f"no template {template!r}")
            found.paused = bool(paused)
            return serializers.template_dict(found)

    def add_conversation(
        self,
        mobile_code: str,
        mobile: str,
        status: int = 0,
        last_message_at: datetime | str | None = None,
        whatsapp_account_id: int | None = None,
    ) -> dict[str, Any]:
        """
        Create a conversation of an existing contact, one per WhatsApp account id.

        ``whatsapp_account_id`` None: the WhatsApp account's (where replies arrive, what agents see in
        the web inbox); 0: one the external API created (docs/server-bugs.rst#bug-conversation-split).
        """
        if status not in (*CONVERSATION_STATUSES, 4):
            raise ValueError("status must be 0, 1, 2, 3 or 4")
        with self.state.lock:
            contact = self._contact_by_number(mobile_code, mobile)
            if whatsapp_account_id is None:
                account = self.state.default_account()
                whatsapp_account_id = account.id if account else 0
            if any(
                c.contact_id == contact.id and c.whatsapp_account_id == whatsapp_account_id
                for c in self.state.conversations.values()
            ):
                raise ValueError(
                    f"+{mobile_code} {mobile} already has a conversation with whatsapp_account_id {whatsapp_account_id}"
                )
            conversation = self.state.create_conversation(contact.id)
            conversation.status = int(status)
            conversation.whatsapp_account_id = int(whatsapp_account_id)
            conversation.last_message_at = parse_ts(last_message_at)
            return conversation_dict(self.state, conversation, self._site())

    def add_note(self, conversation_id: int, note: str) -> dict[str, Any]:
        with self.state.lock:
            conversation = self.state.find_conversation(conversation_id)
            if conversation is None:
                raise ValueError(f"no conversation {conversation_id}")
            self.state.add_note(conversation.id, note)
            return conversation_dict(self.state, conversation, self._site())

    def set_conversation_status(self, conversation_id: int, status: int) -> dict[str, Any]:
        """What an agent does in the web inbox (4 = unread is allowed here, unlike the API)."""
        with self.state.lock:
            conversation = self.state.find_conversation(conversation_id)
            if conversation is None:
                raise ValueError(f"no conversation {conversation_id}")
            conversation.status = int(status)
            conversation.updated_at = utcnow()
            return conversation_dict(self.state, conversation, self._site())

    def simulate_reply(self, mobile_code: str, mobile: str, text: str = "Yes") -> dict[str, Any]:
        """
        An inbound customer message: stored as received, its conversation's ``last_message_at`` = now.

        In real-server mode the message lands in the contact's conversation of the WhatsApp account
        (created if none), not in the API's conversation (``whatsapp_account_id`` 0); patched: the one.
        """
        with self.state.lock:
            contact = self._contact_by_number(mobile_code, mobile)
            if contact.is_blocked:
                raise ValueError(f"+{mobile_code} {mobile} is blocked")
            # Filed under the contact's conversation of the WhatsApp account, created if none.
            conversation = self.state.reply_conversation(contact.id)
            self.state.store_message(conversation, contact, type=MESSAGE_RECEIVED, message=text, rendered=text)
            return conversation_dict(self.state, conversation, self._site())

    def auto_reply(
        self, mobile_code: str | None = None, mobile: str | None = None, text: str = "Yes", delay: float = 0.0
    ) -> None:
        """After each successful send to that number (any number when both are None) the customer answers.

        With ``delay`` 0 the reply is stored before the send's answer leaves; otherwise a timer fires
        ``delay`` seconds later (``stop()`` cancels pending ones). The latest matching rule wins.
        """
        if (mobile_code is None) != (mobile is None):
            raise ValueError("give both mobile_code and mobile, or neither")
        with self._timers_lock:
            self._auto_replies.append((mobile_code, mobile, text, delay))

    def clear_auto_replies(self) -> None:
        with self._timers_lock:
            self._auto_replies.clear()

    def _on_sent(self, contact: Contact) -> None:
        with self._timers_lock:
            rule = next(
                (
                    r
                    for r in reversed(self._auto_replies)
                    if r[0] is None or (str(r[0]) == contact.mobile_code and str(r[1]) == contact.mobile)
                ),
                None,
            )
            if rule is None:
                return
            text, delay = rule[2], rule[3]
            if delay > 0:
                code, number = contact.mobile_code, contact.mobile
                timer = threading.Timer(delay, self._fire_reply, args=(code, number, text))
                timer.daemon = True
                self._timers.add(timer)
                timer.start()
                return
        self._reply_quietly(contact.mobile_code, contact.mobile, text)

    def _fire_reply(self, mobile_code: str, mobile: str, text: str) -> None:
        with self._timers_lock:
            current = threading.current_thread()
            if current not in self._timers:  # cancelled by stop() / reset_state()
                return
            self._timers.discard(current)
        self._reply_quietly(mobile_code, mobile, text)

    def _reply_quietly(self, mobile_code: str, mobile: str, text: str) -> None:
        with contextlib.suppress(ValueError):  # the contact was deleted or blocked in the meantime
            self.simulate_reply(mobile_code, mobile, text)

    # -- inspection -----------------------------------------------------------------------------

    def contacts(self) -> list[dict[str, Any]]:
        """Every contact, id order, shaped like the API's contact objects."""
        with self.state.lock:
            site = self._site()
            return [contact_dict(self.state, c, site) for c in sorted(self.state.contacts.values(), key=lambda c: c.id)]

    def get_contact(self, mobile_code: str, mobile: str) -> dict[str, Any] | None:
        with self.state.lock:
            contact = self.state.contact_by_number(mobile_code, mobile)
            return contact_dict(self.state, contact, self._site()) if contact else None

    def conversations(self) -> list[dict[str, Any]]:
        """Every conversation, id order, with ``contact`` and ``notes`` like conversation-list items."""
        with self.state.lock:
            site = self._site()
            return [
                conversation_dict(self.state, c, site)
                for c in sorted(self.state.conversations.values(), key=lambda c: c.id)
            ]

    def messages(
        self, direction: str | None = None, template_id: int | None = None, mobile: str | None = None
    ) -> list[dict[str, Any]]:
        """Stored messages, id order. ``mobile`` matches the national number or code + number."""
        if direction not in (None, "sent", "received"):
            raise ValueError("direction must be None, 'sent' or 'received'")
        wanted_type = {None: None, "sent": MESSAGE_SENT, "received": MESSAGE_RECEIVED}[direction]
        with self.state.lock:
            rows = sorted(self.state.messages.values(), key=lambda m: m.id)
            return [
                message_inspect_dict(m)
                for m in rows
                if (wanted_type is None or m.type == wanted_type)
                and (template_id is None or m.template_id == template_id)
                and (mobile is None or str(mobile).lstrip("+") in (m.mobile, m.mobile_code + m.mobile))
            ]

    def templates(self) -> list[dict[str, Any]]:
        with self.state.lock:
            return [serializers.template_dict(t) for t in sorted(self.state.templates.values(), key=lambda t: t.id)]

    def requests(self) -> list[dict[str, Any]]:
        """The request log: method, path (without ``/external-api/``), query, status (None when the
        connection was dropped), remark (what the handler answered, even if a fault replaced it),
        fault (kind or None), processed, input (the parsed body and query)."""
        return self.log.snapshot()

    def request_count(self, method: str | None = None, path_prefix: str | None = None) -> int:
        prefix = api_path(path_prefix).lstrip("/") if path_prefix is not None else None
        return sum(
            1
            for r in self.log.snapshot()
            if (method is None or r["method"] == method.upper())
            and (prefix is None or r["path"].lstrip("/").startswith(prefix))
        )

    def clear_requests(self) -> None:
        self.log.clear()

    def reset_state(self) -> None:
        """Wipe contacts, conversations, messages and knobs back to the seed; drop auto-replies.

        The delivery log is emptied too. Faults, send outcomes, throttles and the request log are kept
        (``clear_faults()``, ``clear_requests()``).
        """
        with self._timers_lock:
            for timer in self._timers:
                timer.cancel()
            self._timers.clear()
            self._auto_replies.clear()
        self.state.reset()
        self.delivery_log.clear()

    # -- faults ---------------------------------------------------------------------------------

    def inject(
        self,
        kind: str,
        *,
        times: int | None = None,
        probability: float | None = None,
        method: str | None = None,
        path: str | None = None,
        status: int | None = None,
        retry_after: float | str | None = None,
        seconds: float = 0.0,
        process: bool = False,
        body: str | bytes | None = None,
    ) -> Fault:
        """Add a fault rule (see ``Fault``). ``status`` defaults to 503 for "error", 502 for "html"."""
        if status is None:
            status = 502 if kind == "html" else 503
        fault = Fault(
            kind,
            times=times,
            probability=probability,
            method=method,
            path=path,
            status=status,
            retry_after=retry_after,
            seconds=seconds,
            process=process,
            body=body,
        )
        return self.faults.add(fault)

    def inject_send_outcome(
        self,
        kind: str,
        *,
        delivered: bool | None = None,
        times: int | None = 1,
        after: int = 0,
        route: str | None = None,
        delay: float = 0.0,
        probability: float | None = None,
    ) -> SendOutcome:
        """Make the next sends end at one of the real server's throw sites.

        Of the next sends on ``route`` (None = both, ``"text"`` = send-message, ``"template"`` =
        send-template-message) that get as far as calling Meta, the first ``after`` go through and the
        ``times`` after them end as ``kind`` says (``outcomes.SEND_OUTCOME_KINDS``), with the server's
        exact answer and side effects. ``delivered`` says whether Meta delivered to the phone where both
        are possible (default True); it is forced for the others. ``delay`` holds the answer back (a
        real ``curl_28`` comes after 30 s). ``times=None`` hits every matching send; ``probability``
        hits each with that chance (seeded), for random fault runs. Returns the rule, for ``remove_fault``.
        """
        rule = SendOutcome(
            kind, delivered=delivered, times=times, after=after, route=route, delay=delay, probability=probability
        )
        return self.send_outcomes.add(rule)

    def remove_fault(self, fault: Fault | SendOutcome) -> None:
        """Remove a rule returned by ``inject`` or ``inject_send_outcome``."""
        if isinstance(fault, SendOutcome):
            self.send_outcomes.remove(fault)
        else:
            self.faults.remove(fault)

    def clear_faults(self) -> None:
        """Remove every fault and send-outcome rule, end a storm and switch the rate limit off."""
        self.faults.clear()
        self.send_outcomes.clear()
        self.throttle.clear()

    def storm(self, seconds: float, retry_after: float = 1.0) -> None:
        """For ``seconds`` from now every request is answered 429 ``Too Many Attempts.`` with ``Retry-After``,
        before processing (nothing sent); then normal again. ``storm(0)`` ends one."""
        self.throttle.storm(seconds, retry_after)

    def rate_limit(self, per_second: int | None, retry_after: float | None = None) -> None:
        """429 (before processing) for requests above ``per_second`` in any one-second window; None = off.

        ``Retry-After`` is the time until the window has room (seconds, 3 decimals) unless ``retry_after``
        is given.
        """
        self.throttle.rate_limit(per_second, retry_after)

    # -- the customer's side ----------------------------------------------------------------------

    def deliveries(self, mobile_code: str | None = None, mobile: str | None = None) -> list[dict[str, Any]]:
        """Every message that reached a customer's phone, in order, whether or not WapiFlow stored it.

        Keys: ``mobile_code``, ``mobile``, ``e164``, ``kind`` (text, template, image, document, video,
        audio, location), ``template_id``, ``body`` (the rendered text, None for a location or an empty
        text), ``location``, ``route`` (text or template), ``outcome`` ("success" or the send-outcome
        kind), ``stored``, ``message_id``, ``whatsapp_message_id``, ``at`` (ISO UTC). ``mobile`` matches
        the national number, code + number or E.164.
        """
        return self.delivery_log.snapshot(mobile_code, mobile)

    def delivery_counts(self) -> dict[str, int]:
        """How many messages reached each phone, by E.164 (only phones that got at least one)."""
        return self.delivery_log.counts()

    # -- helpers --------------------------------------------------------------------------------

    def _number_of(self, digits: str) -> tuple[str, str] | None:
        """The ``(mobile_code, mobile)`` of the contact whose E.164 number (without ``+``) is ``digits``."""
        with self.state.lock:
            return next(
                ((c.mobile_code, c.mobile) for c in self.state.contacts.values() if c.mobile_code + c.mobile == digits),
                None,
            )

    def _contact(self, contact_id: int) -> Contact:
        contact = self.state.contacts.get(contact_id)
        if contact is None:
            raise ValueError(f"no contact {contact_id}")
        return contact

    def _contact_by_number(self, mobile_code: str, mobile: str) -> Contact:
        contact = self.state.contact_by_number(mobile_code, mobile)
        if contact is None:
            raise ValueError(f"+{mobile_code} {mobile} is not a contact")
        return contact

    def __repr__(self) -> str:
        where = self.base_url if self.running else "stopped"
        mode = "patched" if self.config.patched else "real"
        return f"<WapiFlowSimulator {where} {mode} v{self.config.server_version}>"

    def snapshot(self) -> dict[str, Any]:
        """Everything at once (contacts, conversations, messages, templates, deliveries), for debugging a test."""
        return copy.deepcopy(
            {
                "contacts": self.contacts(),
                "conversations": self.conversations(),
                "messages": self.messages(),
                "templates": self.templates(),
                "deliveries": self.deliveries(),
            }
        )
