"""Structured logs: one JSON object per line on stderr, carrying the delivery id (and the
repository and pull request) so one delivery can be followed across replicas."""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any

_lock = threading.Lock()


def log(message: str, level: str = "info", **fields: Any) -> None:
    record = {"ts": round(time.time(), 3), "level": level, "msg": message}
    record.update({k: v for k, v in fields.items() if v is not None})
    line = json.dumps(record, default=str)
    with _lock:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()
