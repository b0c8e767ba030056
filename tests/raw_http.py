"""A raw TCP server on 127.0.0.1 for answers no HTTP framework would give: dripping, endless, lying."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Callable
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qs, urlsplit

Handler = Callable[["Exchange"], None]


class Exchange:
    """One connection: the request line read, and helpers to answer however the test likes."""

    def __init__(self, sock: socket.socket, stopping: threading.Event) -> None:
        self.sock = sock
        self.stopping = stopping
        self.method = ""
        self.path = ""
        self.query: dict[str, str] = {}
        self.sent = 0
        """Bytes written so far."""

    def read_request(self) -> bool:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = self.sock.recv(65536)
            if not chunk:
                return False
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.method, target, _ = lines[0].split(" ", 2)
        parts = urlsplit(target)
        self.path = parts.path
        self.query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        lengths = [int(line.split(":", 1)[1]) for line in lines[1:] if line.lower().startswith("content-length:")]
        length = lengths[0] if lengths else 0
        while len(rest) < length:
            chunk = self.sock.recv(65536)
            if not chunk:
                break
            rest += chunk
        return True

    def write(self, data: bytes) -> bool:
        """False once the client has gone."""
        try:
            self.sock.sendall(data)
        except OSError:
            return False
        self.sent += len(data)
        return True

    def answer(self, status: int, body: bytes | dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode() if isinstance(body, dict) else body
        fields = {
            "Content-Type": "application/json",
            "Content-Length": str(len(data)),
            "Date": formatdate(usegmt=True),
            "Connection": "close",
        }
        fields.update(headers or {})
        head = f"HTTP/1.1 {status} X\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields.items()) + "\r\n"
        self.write(head.encode() + data)

    def drip(self, data: bytes, every: float) -> None:
        """Write ``data`` one byte every ``every`` seconds until done, the client leaves or the server stops."""
        for i in range(len(data)):
            if not self.write(data[i : i + 1]) or self.stopping.wait(every):
                return


class RawServer:
    """Accepts connections on 127.0.0.1 (an ephemeral port) and runs ``handler`` for each, in a thread."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.stopping = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self.exchanges: list[Exchange] = []
        self._threads: list[threading.Thread] = []
        self._acceptor = threading.Thread(target=self._accept, daemon=True)
        self._acceptor.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/external-api"

    def connection_json(self, **extra: Any) -> str:
        return json.dumps(
            {"conn_type": "wapiflow", "host": self.base_url, "login": "client", "password": "secret", "extra": extra}
        )

    @property
    def requests(self) -> list[Exchange]:
        return [e for e in self.exchanges if e.method]

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                sock, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            exchange = Exchange(sock, self.stopping)
            self.exchanges.append(exchange)
            thread = threading.Thread(target=self._serve, args=(exchange,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, exchange: Exchange) -> None:
        with contextlib.closing(exchange.sock):
            try:
                while not self.stopping.is_set() and exchange.read_request():
                    self.handler(exchange)
                    return  # one request per connection: answers say Connection: close
            except OSError:
                return

    def stop(self) -> None:
        self.stopping.set()
        self.listener.close()
        self._acceptor.join(5)
        for thread in self._threads:
            thread.join(5)

    def __enter__(self) -> RawServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
