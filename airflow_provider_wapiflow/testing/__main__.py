"""Run the WapiFlow simulator in the foreground: ``python -m airflow_provider_wapiflow.testing --port 8089``."""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from airflow_provider_wapiflow.testing.server import WapiFlowSimulator


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m airflow_provider_wapiflow.testing",
        description="A local WapiFlow external API (real-server behaviour and bugs unless --patched).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8089, help="port to bind, 0 = any free port (default 8089)")
    parser.add_argument("--patched", action="store_true", help="model a server without the known bugs")
    parser.add_argument("--server-version", choices=("2.3", "1.8"), default="2.3")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every request")
    parser.add_argument("--seed-contacts", type=int, default=0, metavar="N", help="create N sample contacts")
    parser.add_argument("--client-id", default="wapiflow-test-client")
    parser.add_argument("--client-secret", default="wapiflow-test-secret")
    parser.add_argument(
        "--allow-ip",
        action="append",
        dest="allowed_ips",
        metavar="IP",
        help="whitelisted client IP (repeatable; default 127.0.0.1)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
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
        mode = "patched" if args.patched else "real-server (with the known bugs)"
        conn = simulator.connection_json()
        print(f"WapiFlow simulator running, {mode} mode, version {args.server_version}")
        print(f"  base URL:      {simulator.base_url}")
        print(f"  client-id:     {args.client_id}")
        print(f"  client-secret: {args.client_secret}")
        print()
        print("Airflow connection:")
        print(f"  export AIRFLOW_CONN_WAPIFLOW_DEFAULT={shlex.quote(conn)}")
        print()
        print("Try it:")
        print(
            f"  curl -H {shlex.quote('client-id: ' + args.client_id)} "
            f"-H {shlex.quote('client-secret: ' + args.client_secret)} {simulator.base_url}/contact/list"
        )
        print()
        print("Press Ctrl-C to stop.", flush=True)
        while not stop.wait(0.5):
            pass
    print("WapiFlow simulator stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
