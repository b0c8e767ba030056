"""
WapiFlowHook: one method per WapiFlow endpoint, over an Airflow ``wapiflow`` connection.

The hook sends the ``client-id`` / ``client-secret`` headers, unwraps WapiFlow's envelope, turns
errors into :mod:`airflow_provider_wapiflow.exceptions` and retries only what cannot send twice.
``WapiFlowAsyncHook`` does the same with aiohttp for triggers and async notifiers.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import re
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, Generic, TypeVar
from urllib.parse import quote_plus

from airflow.sdk import BaseHook

from airflow_provider_wapiflow.exceptions import SendOutcome, WapiFlowError, WapiFlowServerError
from airflow_provider_wapiflow.hooks import _log_filter
from airflow_provider_wapiflow.hooks import endpoints as api
from airflow_provider_wapiflow.hooks._clock import ServerClock
from airflow_provider_wapiflow.hooks._envelope import (
    POST_SEND_EXCEPTION,
    Answer,
    Unwrapped,
    connection_error,
    expect_object,
    expect_page,
    header,
    unwrap,
)
from airflow_provider_wapiflow.hooks._pages import PageWalk
from airflow_provider_wapiflow.hooks._settings import ConnectionSettings
from airflow_provider_wapiflow.hooks._templates import TemplateChoice, WapiFlowTemplateNotFoundError
from airflow_provider_wapiflow.media import MediaSource
from airflow_provider_wapiflow.models import TemplateStatus

if TYPE_CHECKING:
    import aiohttp
    import requests
    from yarl import URL

    from airflow_provider_wapiflow.hooks._deadline import Watch

DEFAULT_PAGE_SIZE = 100


class _WapiFlowHookBase(BaseHook):
    conn_name_attr = "wapiflow_conn_id"
    default_conn_name = "wapiflow_default"
    conn_type = "wapiflow"
    hook_name = "WapiFlow"

    def __init__(
        self,
        wapiflow_conn_id: str = default_conn_name,
        *,
        timeout: float | None = None,
        max_retries: int | None = None,
        backoff_base: float | None = None,
        backoff_max: float | None = None,
        max_retry_after: float | None = None,
        send_timeout: float | None = None,
        deadline: float | None = None,
        max_answer_bytes: int | None = None,
        pool_size: int = 16,
        on_answer: Callable[[int], None] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.wapiflow_conn_id = wapiflow_conn_id
        self.pool_size = pool_size
        self.on_answer = on_answer
        """Called with the HTTP status of every answer read (retries included): a bulk run's throttle."""
        self._overrides: dict[str, Any] = {
            "timeout": timeout,
            "max_retries": max_retries,
            "backoff_base": backoff_base,
            "backoff_max": backoff_max,
            "max_retry_after": max_retry_after,
            "send_timeout": send_timeout,
            "deadline": deadline,
            "max_answer_bytes": max_answer_bytes,
        }
        self.requests_made = 0
        """HTTP requests sent by this hook, retries included."""
        self._post_send_logged = False
        self._clock = ServerClock()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(wapiflow_conn_id={self.wapiflow_conn_id!r})"

    def _settings_from(self, conn: Any) -> ConnectionSettings:
        settings = ConnectionSettings.from_connection(conn, self._overrides)
        if settings.cleartext:
            # Once per hook instance: the settings are read once per hook.
            self.log.warning(
                "WapiFlow connection %r uses plain http:// to %s, which is not a loopback address: the "
                "client-secret travels in clear text with every request. Use https:// in the Base URL.",
                settings.conn_id,
                settings.endpoint,
            )
        return settings

    def server_now(self, *, earliest: bool = False) -> datetime:
        """
        WapiFlow's clock now (UTC), for comparing with the times it stores (whole seconds).

        Estimated from the ``Date`` header of the answers this hook got (see
        :class:`~airflow_provider_wapiflow.hooks._clock.ServerClock`): it errs late, by at most 1 s;
        with ``earliest`` it errs early instead. Before any answer it is the worker's clock.
        """
        return self._clock.now(earliest=earliest)

    def _answer(self, request: api.ApiRequest, answer: Answer, settings: ConnectionSettings) -> dict[str, Any]:
        self._clock.observe(answer.headers)
        if self.on_answer is not None:
            self.on_answer(answer.status)
        return self._result(request, unwrap(request, answer, where=settings.where()))

    def _too_large(self, request: api.ApiRequest, settings: ConnectionSettings, size: str) -> WapiFlowServerError:
        error = WapiFlowServerError(
            f"{request.describe()}: WapiFlow's answer is larger than max_answer_bytes={settings.max_answer_bytes} "
            f"({size}); it was not read [{settings.where()}]."
            + (" The message may have been sent." if request.is_send else ""),
            outcome=SendOutcome.NOT_SENT if request.safe else SendOutcome.UNKNOWN,
        )
        error.retryable = True
        return error

    def _deadline_error(self, request: api.ApiRequest, settings: ConnectionSettings) -> WapiFlowError:
        return connection_error(
            request,
            f"no complete answer within the {settings.deadline:g} s deadline",
            connected=True,
            where=settings.where(),
        )

    def _log_retry(self, request: api.ApiRequest, error: WapiFlowError, attempt: int, wait: float) -> None:
        self.log.warning(
            "%s failed (%s); retry %d in %.1f s",
            request.describe(),
            error.message,
            attempt,
            wait,
        )

    def _result(self, request: api.ApiRequest, unwrapped: Unwrapped) -> dict[str, Any]:
        text = unwrapped.sent_despite_error
        if text is None:
            return unwrapped.data
        if text.strip() == POST_SEND_EXCEPTION:
            if not self._post_send_logged:
                self._post_send_logged = True
                self.log.info(
                    "WapiFlow answers successful template sends with its known post-send error %r "
                    "(a server bug): they are counted as sent, without a conversation id.",
                    POST_SEND_EXCEPTION,
                )
        else:
            # Logged without the text: for a text send it holds the SQL with the message body.
            self.log.warning(
                "%s: WapiFlow answered with a database error after Meta accepted the message (%s); counted "
                "as sent, without a conversation id.",
                request.describe(),
                "storing the message failed" if "messages" in text else "updating the conversation failed",
            )
        return unwrapped.data

    def _log_answer(self, request: api.ApiRequest, status: int | None, started: float) -> None:
        log = self.log
        if log.isEnabledFor(logging.DEBUG):  # describe() is not free, and a bulk send makes thousands
            log.debug("%s -> HTTP %s in %.0f ms", request.describe(), status, (time.monotonic() - started) * 1000)


# The return types of the endpoint methods: the values on the sync hook, awaitables of them on the async one.
_Data = TypeVar("_Data")
"""What an endpoint method with a result returns: ``dict[str, Any]``, or an awaitable of it."""
_Done = TypeVar("_Done")
"""What an endpoint method without a result returns: ``None``, or an awaitable of it."""
_Items = TypeVar("_Items")
"""What a list walk returns: ``Iterator[dict[str, Any]]``, or an ``AsyncIterator`` of them."""


class _Endpoints(Generic[_Data, _Done, _Items]):
    """
    One method per WapiFlow endpoint, written once for both hooks.

    Each builds its request with :mod:`~airflow_provider_wapiflow.hooks.endpoints` (which checks the
    input) and sends it with the hook's :meth:`call`, the path the operators and the notifier use too.
    A hook provides the few primitives below, sync or async.
    """

    def call(self, request: api.ApiRequest) -> _Data:
        raise NotImplementedError

    def _object(self, request: api.ApiRequest, key: str) -> _Data:
        """``call``, then the ``key`` object of the data (see :func:`~._envelope.expect_object`)."""
        raise NotImplementedError

    def _page(self, request: api.ApiRequest, key: str) -> _Data:
        """``call``, then the ``key`` paginator of the data (see :func:`~._envelope.expect_page`)."""
        raise NotImplementedError

    def _no_result(self, request: api.ApiRequest) -> _Done:
        raise NotImplementedError

    def _iter_pages(self, build: Callable[[int], api.ApiRequest], key: str) -> _Items:
        raise NotImplementedError

    def _choose_template(self, template: int | str, language: int | str | None) -> _Data:
        raise NotImplementedError

    # --- contacts ---------------------------------------------------------------------------------

    def list_contacts(self, page: int = 1, per_page: int = 20, search: str | None = None) -> _Data:
        """
        Return one page of contacts, newest first, as WapiFlow's paginator dict.

        ``search`` fails on the real server (docs/server-bugs.rst#bug-contact-search; raised as
        :class:`WapiFlowServerError`).
        """
        return self._page(api.list_contacts(page, per_page, search), "contacts")

    def iter_contacts(self, search: str | None = None, per_page: int = DEFAULT_PAGE_SIZE) -> _Items:
        """Yield every contact, newest first, reading one page at a time."""
        return self._iter_pages(lambda page: api.list_contacts(page, per_page, search), "contacts")

    def create_contact(
        self,
        firstname: str,
        lastname: str,
        mobile_code: str,
        mobile: str,
        city: str | None = None,
        state: str | None = None,
        post_code: str | None = None,
        address: str | None = None,
        profile_image: MediaSource | None = None,
    ) -> _Data:
        """Create a contact and return it. A taken mobile raises :class:`WapiFlowValidationError`."""
        request = api.save_contact(
            None, firstname, lastname, mobile_code, mobile, city, state, post_code, address, profile_image
        )
        return self._object(request, "contact")

    def update_contact(
        self,
        contact_id: int,
        firstname: str,
        lastname: str,
        mobile_code: str,
        mobile: str,
        city: str | None = None,
        state: str | None = None,
        post_code: str | None = None,
        address: str | None = None,
        profile_image: MediaSource | None = None,
    ) -> _Data:
        """Replace a contact (WapiFlow resets every optional field not sent) and return it."""
        request = api.save_contact(
            contact_id, firstname, lastname, mobile_code, mobile, city, state, post_code, address, profile_image
        )
        return self._object(request, "contact")

    def delete_contact(self, contact_id: int) -> _Done:
        """Delete a contact; WapiFlow refuses contacts with messages or blocked ones."""
        return self._no_result(api.delete_contact(contact_id))

    # --- conversations ----------------------------------------------------------------------------

    def list_conversations(
        self, status: int | None = None, page: int = 1, per_page: int = 20, search: str | None = None
    ) -> _Data:
        """Return one page of conversations (latest message first) as WapiFlow's paginator dict."""
        return self._page(api.list_conversations(status, page, per_page, search), "conversation")

    def iter_conversations(
        self, status: int | None = None, search: str | None = None, per_page: int = DEFAULT_PAGE_SIZE
    ) -> _Items:
        """Yield every conversation matching ``status`` / ``search``, one page at a time."""
        return self._iter_pages(lambda page: api.list_conversations(status, page, per_page, search), "conversation")

    def get_conversation(self, conversation_id: int) -> _Data:
        """Return a conversation with its contact and notes."""
        return self._object(api.get_conversation(conversation_id), "conversation")

    def set_conversation_status(self, conversation_id: int, status: int) -> _Done:
        """Set a conversation's status: a :class:`ConversationStatus` other than UNREAD."""
        return self._no_result(api.set_conversation_status(conversation_id, status))

    # --- messages ---------------------------------------------------------------------------------

    def send_message(
        self,
        mobile_code: str,
        mobile: str,
        message: str | None = None,
        from_number: str | None = None,
        image: MediaSource | None = None,
        document: MediaSource | None = None,
        video: MediaSource | None = None,
        audio: MediaSource | None = None,
        latitude: float | None = None,
        longitude: float | None = None,
        cta_url_id: int | None = None,
        interactive_list_id: int | None = None,
    ) -> _Data:
        """
        Send a free-form message (text, one media file, a location, a CTA URL or a list).

        :return: ``{"conversation_id": …, "message": {…}}``.
        :raises WapiFlowError: with :attr:`~WapiFlowError.outcome` telling whether it may have been sent.
        """
        return self.call(api.send_message(
            mobile_code, mobile, message, from_number, image, document, video, audio,
            latitude, longitude, cta_url_id, interactive_list_id,
        ))  # fmt: skip

    def send_template_message(
        self,
        mobile_code: str,
        mobile: str,
        template_id: int,
        from_number: str | None = None,
        body_variables: Sequence[Any] | None = None,
        header_variables: Sequence[Any] | None = None,
    ) -> _Data:
        """
        Send an approved template; the variables fill its ``{{n}}`` placeholders in order.

        :return: ``{"conversation_id": int | None}``: None when WapiFlow answered with its known
            post-send error, which means the message was sent (docs/server-bugs.rst#bug-post-send-exception).
        :raises WapiFlowError: with :attr:`~WapiFlowError.outcome` telling whether it may have been sent.
        """
        return self.call(
            api.send_template_message(mobile_code, mobile, template_id, from_number, body_variables, header_variables)
        )

    # --- templates --------------------------------------------------------------------------------

    def list_templates(self, page: int = 1, per_page: int = 20) -> _Data:
        """Return one page of templates, every status, as WapiFlow's paginator dict."""
        return self._page(api.list_templates(page, per_page), "templates")

    def iter_templates(self, per_page: int = DEFAULT_PAGE_SIZE) -> _Items:
        """Yield every template of the account, whatever its status."""
        return self._iter_pages(lambda page: api.list_templates(page, per_page), "templates")

    def get_template(self, template: int | str, *, language: int | str | None = None) -> _Data:
        """
        Find a template, whatever its status: never a guess (see :mod:`~airflow_provider_wapiflow.hooks._templates`).

        :param template: an ``int`` (or ``"id:7"``) is an id, any other string a name (``"2"`` is the
            template *named* 2). An id stops reading at its page; a name reads the whole list.
        :param language: narrows templates of the same name: a ``language_id``, or a language code
            where WapiFlow's templates carry one.
        :raises WapiFlowInputError: unknown (listing the approved templates and the closest name, as
            :class:`WapiFlowTemplateNotFoundError`, also a :class:`WapiFlowNotFoundError`) or ambiguous
            (listing the candidates), before any send.
        """
        return self._choose_template(template, language)


def _template_pages() -> PageWalk:
    """The walk over the template list that :meth:`_Endpoints.get_template` reads, on either hook."""
    return PageWalk(lambda page: api.list_templates(page, DEFAULT_PAGE_SIZE), "templates")


class WapiFlowHook(_WapiFlowHookBase, _Endpoints[dict[str, Any], None, Iterator[dict[str, Any]]]):
    """
    Talk to the WapiFlow external API.

    :param wapiflow_conn_id: an Airflow connection of type ``wapiflow``: host = Base URL (empty: the
        production URL), login = client-id, password = client-secret.
    :param timeout: seconds to wait for the next bytes of an answer to a read or a contact write
        (overrides the connection's ``timeout`` extra).
    :param max_retries: retries of requests that are safe to repeat (overrides ``max_retries``).
    :param backoff_base: first wait between retries, doubled each time (overrides ``backoff_base``).
    :param backoff_max: longest wait between retries (overrides ``backoff_max``).
    :param max_retry_after: longest ``Retry-After`` honoured (overrides ``max_retry_after``).
    :param send_timeout: seconds to wait for a send's answer, above WapiFlow's own 30 s Meta timeout
        (overrides ``send_timeout``, default 60).
    :param deadline: seconds one request may take in all, connect and whole answer (overrides
        ``deadline``, default 120).
    :param max_answer_bytes: the largest answer read (overrides ``max_answer_bytes``, default 16 MiB).
    :param pool_size: HTTP connections kept open, at least the number of concurrent callers.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # User code may share one sync hook between threads; the async hook lives in one event loop.
        self._count_lock = threading.Lock()

    @cached_property
    def settings(self) -> ConnectionSettings:
        """The connection's settings, read once."""
        return self._settings_from(self.get_connection(self.wapiflow_conn_id))

    @cached_property
    def session(self) -> requests.Session:
        """
        A ``requests.Session`` with a connection pool, credentials and proxy; no redirects.

        The environment (``HTTPS_PROXY`` / ``NO_PROXY``, ``REQUESTS_CA_BUNDLE``) is read once, here:
        requests would re-read it on every request, which costs a bulk send more CPU than the rest of
        each request. The connection's ``proxy`` extra wins over the environment; ``.netrc`` is not
        used (WapiFlow authenticates with the client-id / client-secret headers). Its pools obey the
        per-request deadline (:mod:`~airflow_provider_wapiflow.hooks._deadline`).
        """
        import requests
        from requests.utils import get_environ_proxies

        _log_filter.install()

        settings = self.settings
        session = requests.Session()
        session.trust_env = False
        adapter = _watched_adapter(self.pool_size)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        session.headers.update(settings.headers())
        session.verify = settings.verify_ssl
        if settings.verify_ssl:
            session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        if settings.proxy:
            session.proxies = {"http": settings.proxy, "https": settings.proxy}
        else:
            session.proxies = get_environ_proxies(settings.base_url)
        return session

    def get_conn(self) -> requests.Session:
        return self.session

    def close(self) -> None:
        """Close the pooled HTTP connections."""
        if "session" in self.__dict__:
            self.session.close()
            del self.__dict__["session"]

    def _send_once(self, request: api.ApiRequest) -> dict[str, Any]:
        import requests

        from airflow_provider_wapiflow.hooks._deadline import deadline

        settings = self.settings
        files = {name: (f.filename, f.content, f.content_type) for name, f in request.files.items()} or None
        started = time.monotonic()
        with self._count_lock:
            self.requests_made += 1
        with deadline(settings.deadline) as watch:
            try:
                response = self.session.request(
                    request.method,
                    settings.url(request),
                    params=request.params or None,
                    data=request.form or None,
                    files=files,
                    timeout=(settings.connect_timeout, settings.read_timeout(request)),
                    allow_redirects=False,
                    stream=True,
                )
            except requests.RequestException as error:
                self._log_answer(request, None, started)
                if watch.expired:
                    raise self._deadline_error(request, settings) from None
                raise connection_error(
                    request, error, connected=_reached_server(error), where=settings.where()
                ) from None
            try:
                body = self._read_body(request, response, settings, watch)
            except (requests.RequestException, OSError, _BodyError) as error:
                self._log_answer(request, response.status_code, started)
                if watch.expired:
                    raise self._deadline_error(request, settings) from None
                raise connection_error(request, error, connected=True, where=settings.where()) from None
            finally:
                response.close()
            if watch.expired:  # the socket was shut mid-answer: what was read may look complete
                self._log_answer(request, response.status_code, started)
                raise self._deadline_error(request, settings)
        self._log_answer(request, response.status_code, started)
        answer = Answer(response.status_code, response.headers, body, url=settings.url(request))
        return self._answer(request, answer, settings)

    def _read_body(
        self, request: api.ApiRequest, response: requests.Response, settings: ConnectionSettings, watch: Watch
    ) -> bytes:
        import urllib3

        limit = settings.max_answer_bytes
        declared = header(response.headers, "content-length")
        if declared and declared.strip().isdigit() and int(declared) > limit:
            self._clock.observe(response.headers)
            raise self._too_large(request, settings, f"Content-Length {int(declared)}")
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in response.iter_content(chunk_size=64 * 1024):
                if watch.remaining <= 0:  # the watchdog shuts the socket; this catches a fast endless body
                    watch.expire()
                    break
                size += len(chunk)
                if size > limit:
                    self._clock.observe(response.headers)
                    raise self._too_large(request, settings, f"more than {limit} bytes and still coming")
                chunks.append(chunk)
        except urllib3.exceptions.HTTPError as error:
            raise _BodyError(f"{type(error).__name__}: {error}") from None
        return b"".join(chunks)

    def call(self, request: api.ApiRequest) -> dict[str, Any]:
        """Send one request, retrying as the retry policy allows, and return the envelope's data."""
        policy = self.settings.retry
        attempt = 1
        while True:
            try:
                return self._send_once(request)
            except WapiFlowError as error:
                if not policy.should_retry(request, error, attempt):
                    raise
                wait = policy.wait(error, attempt)
                self._log_retry(request, error, attempt, wait)
                time.sleep(wait)
                attempt += 1

    def _iter_pages(self, build: Callable[[int], api.ApiRequest], key: str) -> Iterator[dict[str, Any]]:
        walk = PageWalk(build, key)
        while not walk.done:
            request = walk.request()
            yield from walk.accept(request, self.call(request))

    def _object(self, request: api.ApiRequest, key: str) -> dict[str, Any]:
        return expect_object(request, self.call(request), key)

    def _page(self, request: api.ApiRequest, key: str) -> dict[str, Any]:
        return expect_page(request, self.call(request), key)

    def _no_result(self, request: api.ApiRequest) -> None:
        self.call(request)

    def _choose_template(self, template: int | str, language: int | str | None) -> dict[str, Any]:
        choice, walk = TemplateChoice(template, language), _template_pages()
        while not walk.done:
            request = walk.request()
            if choice.offer(walk.accept(request, self.call(request))):
                break
        return choice.result()

    # --- connection test --------------------------------------------------------------------------

    def test_connection(self) -> tuple[bool, str]:
        """Check URL, credentials, IP whitelist and plan with one read-only request."""
        try:
            page = self.list_templates(page=1, per_page=1)
        except (WapiFlowError, ValueError) as error:
            return False, str(error)
        except Exception as error:  # the UI shows the text; anything unexpected must not crash the endpoint
            return False, f"{type(error).__name__}: {error}"
        return True, f"Connected to WapiFlow at {self.settings.base_url} ({page.get('total', 0)} templates)"


def find_template(
    templates: Iterator[dict[str, Any]], template: int | str, *, language: int | str | None = None
) -> dict[str, Any]:
    """Choose ``template`` among ``templates`` as :meth:`WapiFlowHook.get_template` does."""
    choice = TemplateChoice(template, language)
    for item in templates:
        if choice.offer([item]):
            break
    return choice.result()


__all__ = ["WapiFlowAsyncHook", "WapiFlowHook", "WapiFlowTemplateNotFoundError", "find_template", "template_status"]


def template_status(template: dict[str, Any]) -> TemplateStatus | None:
    """The template's status, or None for a value this provider does not know."""
    try:
        return TemplateStatus(int(template.get("status", -1)))
    except (TypeError, ValueError):
        return None


class _BodyError(Exception):
    """The answer's body broke off (a transport error while it was read)."""


def _watched_adapter(pool_size: int) -> requests.adapters.HTTPAdapter:
    """An HTTPAdapter whose urllib3 pools (direct and through a proxy) obey the request deadline."""
    from requests.adapters import HTTPAdapter

    from airflow_provider_wapiflow.hooks._deadline import WatchedHTTPConnectionPool, WatchedHTTPSConnectionPool

    classes = {"http": WatchedHTTPConnectionPool, "https": WatchedHTTPSConnectionPool}

    class WatchedAdapter(HTTPAdapter):
        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = classes

        def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
            manager = super().proxy_manager_for(proxy, **proxy_kwargs)
            manager.pool_classes_by_scheme = classes
            return manager

    return WatchedAdapter(pool_connections=1, pool_maxsize=pool_size, max_retries=0)


def _environment_proxy(base_url: str) -> tuple[URL | None, aiohttp.BasicAuth | None]:
    """The proxy (and its credentials) the environment sets for ``base_url``, as aiohttp reads them."""
    from aiohttp.helpers import get_env_proxy_for_url
    from yarl import URL

    try:
        return get_env_proxy_for_url(URL(base_url))
    except LookupError:  # no proxy variable for the scheme, or NO_PROXY matches
        return None, None


def _reached_server(error: BaseException) -> bool:
    """False only when the request certainly never reached WapiFlow (DNS, refused, connect timeout)."""
    import requests
    from urllib3.exceptions import NewConnectionError

    if isinstance(
        error,
        (
            requests.exceptions.ConnectTimeout,
            requests.exceptions.InvalidURL,
            requests.exceptions.MissingSchema,
            requests.exceptions.InvalidSchema,
        ),
    ):
        return False
    if isinstance(error, requests.exceptions.ProxyError):
        return False
    seen: set[int] = set()
    cause: BaseException | None = error
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, NewConnectionError):
            return False
        reason = getattr(cause, "reason", None)
        if isinstance(reason, NewConnectionError):
            return False
        nested = cause.args[0] if cause.args and isinstance(cause.args[0], BaseException) else None
        cause = nested or cause.__cause__ or cause.__context__
    return True


_FORM_HEADERS = {"Content-Type": "application/x-www-form-urlencoded"}
_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]*").fullmatch


@functools.lru_cache(maxsize=1024)
def _parsed_url(url: str) -> URL:
    """The URL object aiohttp would parse from ``url`` on every request; a batch uses a few, many times."""
    from yarl import URL

    return URL(url)


_quoted_name = functools.lru_cache(maxsize=256)(quote_plus)  # a handful of field names, over and over


def _urlencoded(form: Sequence[tuple[str, str]]) -> str:
    """``application/x-www-form-urlencoded`` as ``urllib.parse.urlencode`` writes it (quote_plus)."""
    return "&".join(
        f"{_quoted_name(name)}={value if _UNRESERVED(value) else quote_plus(value)}" for name, value in form
    )


class WapiFlowAsyncHook(
    _WapiFlowHookBase,
    _Endpoints[Awaitable[dict[str, Any]], Awaitable[None], AsyncIterator[dict[str, Any]]],
):
    """
    The async twin of :class:`WapiFlowHook` (aiohttp) for triggers, the bulk operators and async notifiers.

    Same connection, settings, envelope handling, retry policy and endpoint methods (which return
    awaitables here; ``iter_*`` return async iterators). Use it as an async context manager, or call
    :meth:`close`.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._settings: ConnectionSettings | None = None
        self._session: aiohttp.ClientSession | None = None
        self._proxy: str | URL | None = None
        self._proxy_auth: aiohttp.BasicAuth | None = None

    async def get_settings(self) -> ConnectionSettings:
        if self._settings is None:
            self._settings = self._settings_from(await self.aget_connection(self.wapiflow_conn_id))
        return self._settings

    async def _get_session(self) -> aiohttp.ClientSession:
        import aiohttp

        if self._session is not None and not self._session.closed:
            return self._session
        _log_filter.install()
        settings = await self.get_settings()
        # Like the sync hook: the proxy extra, else HTTPS_PROXY / NO_PROXY from the environment, read
        # once per session (aiohttp's trust_env re-reads them, and .netrc, in a thread per request).
        if settings.proxy:
            proxy: tuple[str | URL | None, aiohttp.BasicAuth | None] = (settings.proxy, None)
        else:
            proxy = await asyncio.to_thread(_environment_proxy, settings.base_url)
        # Concurrent first requests all got here: the first to resume makes the one session.
        if self._session is None or self._session.closed:
            self._proxy, self._proxy_auth = proxy
            self._session = aiohttp.ClientSession(
                headers=settings.headers(),
                timeout=aiohttp.ClientTimeout(sock_connect=settings.connect_timeout, total=settings.timeout),
                connector=aiohttp.TCPConnector(limit=self.pool_size, ssl=settings.verify_ssl),
                cookie_jar=aiohttp.DummyCookieJar(),  # WapiFlow authenticates with headers, never cookies
            )
            # aiohttp silently repeats idempotent requests on a dropped keep-alive connection; the
            # retry policy must be the only one deciding what is repeated (a DELETE is not harmless).
            self._session._retry_connection = False
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> WapiFlowAsyncHook:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _send_once(self, request: api.ApiRequest) -> dict[str, Any]:
        import aiohttp

        settings = self._settings or await self.get_settings()
        session = self._session if self._session is not None and not self._session.closed else None
        session = session or await self._get_session()
        data: aiohttp.FormData | str | None = None
        headers: dict[str, str] | None = None
        if request.files:
            data = aiohttp.FormData(request.form)
            for name, media in request.files.items():
                data.add_field(name, media.content, filename=media.filename, content_type=media.content_type)
        elif request.form:
            # Encoded here rather than by aiohttp's FormData: the same bytes at a fraction of the CPU.
            data, headers = _urlencoded(request.form), _FORM_HEADERS
        started = time.monotonic()
        self.requests_made += 1
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=settings.connect_timeout, sock_read=settings.read_timeout(request)
        )
        limit = settings.max_answer_bytes
        status: int | None = None
        url = settings.url(request)
        try:
            async with asyncio.timeout(settings.deadline) as watch:
                async with session.request(
                    request.method,
                    _parsed_url(url),
                    params=request.params or None,
                    data=data,
                    headers=headers,
                    allow_redirects=False,
                    proxy=self._proxy,
                    proxy_auth=self._proxy_auth,
                    timeout=timeout,
                ) as response:
                    status = response.status
                    if response.content_length is not None and response.content_length > limit:
                        self._clock.observe(response.headers)
                        raise self._too_large(request, settings, f"Content-Length {response.content_length}")
                    if response.content_length is not None:
                        # Declared and within the cap: aiohttp reads exactly that much, no more.
                        body = await response.read()
                    else:
                        chunks: list[bytes] = []
                        size = 0
                        async for chunk in response.content.iter_any():
                            size += len(chunk)
                            if size > limit:
                                self._clock.observe(response.headers)
                                raise self._too_large(request, settings, f"more than {limit} bytes and still coming")
                            chunks.append(chunk)
                        body = b"".join(chunks)
                    answer = Answer(response.status, response.headers, body, url=url)
        except WapiFlowError:
            self._log_answer(request, status, started)
            raise
        except (aiohttp.ClientConnectorError, aiohttp.InvalidURL, aiohttp.ConnectionTimeoutError) as error:
            self._log_answer(request, None, started)
            raise connection_error(request, error, connected=False, where=settings.where()) from None
        except (aiohttp.ClientError, asyncio.TimeoutError) as error:
            self._log_answer(request, status, started)
            if watch.expired():
                raise self._deadline_error(request, settings) from None
            raise connection_error(request, error, connected=True, where=settings.where()) from None
        self._log_answer(request, answer.status, started)
        return self._answer(request, answer, settings)

    async def call(self, request: api.ApiRequest) -> dict[str, Any]:
        """Send one request with the same retry policy as the sync hook."""
        policy = (self._settings or await self.get_settings()).retry
        attempt = 1
        while True:
            try:
                return await self._send_once(request)
            except WapiFlowError as error:
                if not policy.should_retry(request, error, attempt):
                    raise
                wait = policy.wait(error, attempt)
                self._log_retry(request, error, attempt, wait)
                await asyncio.sleep(wait)
                attempt += 1

    async def _object(self, request: api.ApiRequest, key: str) -> dict[str, Any]:
        return expect_object(request, await self.call(request), key)

    async def _page(self, request: api.ApiRequest, key: str) -> dict[str, Any]:
        return expect_page(request, await self.call(request), key)

    async def _no_result(self, request: api.ApiRequest) -> None:
        await self.call(request)

    async def _iter_pages(self, build: Callable[[int], api.ApiRequest], key: str) -> AsyncIterator[dict[str, Any]]:
        walk = PageWalk(build, key)
        while not walk.done:
            request = walk.request()
            for item in walk.accept(request, await self.call(request)):
                yield item

    async def _choose_template(self, template: int | str, language: int | str | None) -> dict[str, Any]:
        choice, walk = TemplateChoice(template, language), _template_pages()
        while not walk.done:
            request = walk.request()
            if choice.offer(walk.accept(request, await self.call(request))):
                break
        return choice.result()
