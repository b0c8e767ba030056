"""Run the WapiFlow simulator in the foreground, or make one of its contacts reply.

``python -m airflow_provider_wapiflow.testing --port 8089 --contact +34600111222:Ana:Ruiz --auto-reply-after 5``
``python -m airflow_provider_wapiflow.testing reply --port 8089 +34600111222 "Yes, thanks"``
"""

from __future__ import annotations

import argparse
import json
import shlex
import signal
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Sequence
from types import FrameType

from airflow_provider_wapiflow.testing.server import WapiFlowSimulator


def parse_contact(value: str) -> tuple[str, str, str, str]:
    """``+34600111222[:First[:Last]]`` → (mobile_code, mobile, firstname, lastname)."""
    import phonenumbers

    phone, _, names = value.partition(":")
    firstname, _, lastname = names.partition(":")
    phone = phone.strip()
    try:
        if not phone.startswith("+") or not phone[1:].isdigit():
            raise phonenumbers.NumberParseException(phonenumbers.NumberParseException.NOT_A_NUMBER, "not E.164")
        parsed = phonenumbers.parse(phone)
    except phonenumbers.NumberParseException:
        raise argparse.ArgumentTypeError(
            f"--contact {value!r}: give the number in E.164 form, e.g. +34600111222:Ana:Ruiz"
        ) from None
    mobile = phonenumbers.national_significant_number(parsed)
    return str(parsed.country_code), mobile, firstname.strip(), lastname.strip()


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m airflow_provider_wapiflow.testing",
        description="A local WapiFlow external API (real-server behaviour and bugs unless --patched). "
        "'python -m airflow_provider_wapiflow.testing reply --help' makes a contact reply.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8089, help="port to bind, 0 = any free port (default 8089)")
    parser.add_argument("--patched", action="store_true", help="model a server without the known bugs")
    parser.add_argument("--server-version", choices=("2.3", "1.8"), default="2.3")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every request")
    parser.add_argument("--seed-contacts", type=int, default=0, metavar="N", help="create N sample contacts")
    parser.add_argument(
        "--contact",
        action="append",
        dest="contacts",
        type=parse_contact,
        default=[],
        metavar="+E164[:FIRST[:LAST]]",
        help="create this contact (repeatable), e.g. --contact +34600111222:Ana:Ruiz",
    )
    parser.add_argument(
        "--auto-reply-after",
        type=float,
        default=None,
        metavar="SECONDS",
        help="every contact answers each message that reached it, SECONDS later",
    )
    parser.add_argument("--auto-reply-text", default="Yes", metavar="TEXT", help="the auto-reply (default 'Yes')")
    parser.add_argument(
        "--rate-limit", type=int, default=None, metavar="N", help="answer 429 above N requests per second"
    )
    parser.add_argument("--client-id", default="wapiflow-test-client")
    parser.add_argument("--client-secret", default="wapiflow-test-secret")
    parser.add_argument(
        "--allow-ip",
        action="append",
        dest="allowed_ips",
        metavar="IP",
        help="whitelisted client IP (repeatable; default 127.0.0.1)",
    )
    args = parser.parse_args(argv)
    if args.auto_reply_after is not None and args.auto_reply_after < 0:
        parser.error("--auto-reply-after must not be negative")
    return args


def parse_reply_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m airflow_provider_wapiflow.testing reply",
        description="Make a contact of a running simulator reply (POST /_simulator/reply).",
    )
    parser.add_argument("phone", help="the contact's number in E.164 form, e.g. +34600111222")
    parser.add_argument("text", nargs="?", default="Yes", help="what the customer writes (default 'Yes')")
    parser.add_argument("--url", default=None, help="the simulator's site URL (default http://127.0.0.1:PORT)")
    parser.add_argument("--port", type=int, default=8089, help="the simulator's port (default 8089)")
    return parser.parse_args(argv)


def reply(argv: Sequence[str]) -> int:
    args = parse_reply_args(argv)
    site = (args.url or f"http://127.0.0.1:{args.port}").rstrip("/")
    body = json.dumps({"phone": args.phone, "text": args.text}).encode()
    request = urllib.request.Request(
        f"{site}/_simulator/reply", data=body, headers={"content-type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            conversation = json.load(answer)["conversation"]
    except urllib.error.HTTPError as exc:
        print(f"reply failed: {json.load(exc).get('error', exc.reason)}", file=sys.stderr)
        return 1
    except urllib.error.URLError as exc:
        print(f"no simulator at {site}: {exc.reason}", file=sys.stderr)
        return 1
    print(f"reply stored in conversation {conversation['id']}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["reply"]:
        return reply(argv[1:])
    args = parse_args(argv)
    simulator = WapiFlowSimulator(
        host=args.host,
        port=args.port,
        client_id=args.client_id,
        client_secret=args.client_secret,
        patched=args.patched,
        server_version=args.server_version,
        allowed_ips=tuple(args.allowed_ips or ("127.0.0.1",)),
        latency=args.latency,
    )
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    with simulator:
        if args.seed_contacts:
            simulator.seed_contacts(args.seed_contacts)
        for mobile_code, mobile, firstname, lastname in args.contacts:
            simulator.add_contact(firstname, lastname, mobile_code, mobile)
        if args.auto_reply_after is not None:
            simulator.auto_reply(text=args.auto_reply_text, delay=args.auto_reply_after)
        if args.rate_limit is not None:
            simulator.rate_limit(args.rate_limit)
        mode = "patched" if args.patched else "real-server (with the known bugs)"
        conn = simulator.connection_json()
        print(f"WapiFlow simulator running, {mode} mode, version {args.server_version}")
        print(f"  base URL:      {simulator.base_url}")
        print(f"  client-id:     {args.client_id}")
        print(f"  client-secret: {args.client_secret}")
        print(f"  contacts:      {len(simulator.contacts())}")
        if args.auto_reply_after is not None:
            delay = f"{args.auto_reply_after:g}"
            print(f"  auto-reply:    {args.auto_reply_text!r}, {delay} s after each delivered message")
        print()
        print("Airflow connection:")
        print(f"  export AIRFLOW_CONN_WAPIFLOW_DEFAULT={shlex.quote(conn)}")
        print()
        print("Try it:")
        print(
            f"  curl -H {shlex.quote('client-id: ' + args.client_id)} "
            f"-H {shlex.quote('client-secret: ' + args.client_secret)} {simulator.base_url}/contact/list"
        )
        print("Make a contact reply:")
        print(f"  curl -d mobile_code=34 -d mobile=600111222 -d text=Yes {simulator.url}/_simulator/reply")
        print(f"  python -m airflow_provider_wapiflow.testing reply --url {simulator.url} +34600111222 Yes")
        print()
        print("Press Ctrl-C to stop.", flush=True)
        while not stop.wait(0.5):
            pass
    print("WapiFlow simulator stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
