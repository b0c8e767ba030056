"""``[core] hostname_callable`` for e2e workers: each worker reports the name in WAPIFLOW_E2E_WORKER_HOST.

All e2e workers run on one machine, so the real host name cannot tell them apart; a task instance's
``hostname`` (shown by the REST API) then says which worker ran each try.
"""

from __future__ import annotations

import os


def hostname() -> str:
    return os.environ["WAPIFLOW_E2E_WORKER_HOST"]
