"""The sandbox clock: one notion of "now" shared by the GitHub stand-in, moto and workflow jobs.

Why: launcher decides by the time (scheduled launches, expiries, stale requests). On GitHub
its jobs read the runner's OS clock, which is GitHub's; nobody with write access can move it.
Tests and the demo must still make hours pass in seconds. Rather than giving launcher an
"as of" input (which a real repository could then be fed), the sandbox moves the clock
*around* launcher:

- the GitHub stand-in stamps created_at, submitted_at, commit dates... from `now()`;
- the in-process moto server's LaunchTime etc. read it (`patch_moto`);
- the local Actions runner starts each job's processes under libfaketime (`faketime_env`),
  driven by a timestamp file this clock rewrites whenever it moves, with
  FAKETIME_NO_CACHE so a process already running sees the move.

launcher itself keeps calling `datetime.now(UTC)`: the only way to move its clock is to run it
under this sandbox. The clock is an offset from the OS clock (time keeps flowing, so events
stay ordered), process-wide, and starts at offset 0 (the real time).
"""

from __future__ import annotations

import datetime as _dt
import os
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

LIBFAKETIME_DIRS = (
    "/usr/lib/x86_64-linux-gnu/faketime",
    "/usr/lib/aarch64-linux-gnu/faketime",
    "/usr/lib/faketime",
    "/usr/local/lib/faketime",
)


class SandboxClock:
    """Real time plus an offset the sandbox can move (never backwards past a frozen point)."""

    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()
        self._file: Path | None = None

    # -- reading ------------------------------------------------------------------------
    def time(self) -> float:
        """Seconds since the epoch, as `time.time()` would answer in the sandbox."""
        return time.time() + self._offset

    def now(self) -> _dt.datetime:
        """An aware UTC datetime."""
        return _dt.datetime.fromtimestamp(self.time(), _dt.UTC)

    @property
    def offset(self) -> float:
        return self._offset

    # -- moving -------------------------------------------------------------------------
    def set(self, when: _dt.datetime) -> None:
        """Make it `when` now (an aware datetime); time keeps running from there."""
        if when.tzinfo is None:
            raise ValueError("the sandbox clock needs an aware datetime (a time zone)")
        self._move(when.timestamp() - time.time())

    def advance(self, delta: _dt.timedelta | float) -> None:
        seconds = delta.total_seconds() if isinstance(delta, _dt.timedelta) else float(delta)
        self._move(self._offset + seconds)

    def reset(self) -> None:
        """Back to the OS clock."""
        self._move(0.0)

    def _move(self, offset: float) -> None:
        with self._lock:
            self._offset = offset
            if self._file is not None:
                _write_atomically(self._file, self._faketime_spec())

    # -- libfaketime --------------------------------------------------------------------
    def _faketime_spec(self) -> str:
        # libfaketime's relative form: the OS clock plus this many seconds, re-read on each
        # call (FAKETIME_NO_CACHE) so moving the clock reaches processes already running.
        return f"{self._offset:+.6f}\n"

    def timestamp_file(self) -> Path:
        """The file FAKETIME_TIMESTAMP_FILE points at (created on first use)."""
        with self._lock:
            if self._file is None:
                fd, name = tempfile.mkstemp(prefix="sandbox-clock-", suffix=".faketime")
                os.close(fd)
                self._file = Path(name)
                _write_atomically(self._file, self._faketime_spec())
            return self._file

    def faketime_env(self) -> dict[str, str]:
        """Environment that runs a process on this clock (LD_PRELOAD libfaketime).

        Raises ClockUnavailable when libfaketime is not installed (`./dev browsers`
        installs it; Debian package `libfaketime`).
        """
        library = find_libfaketime()
        if library is None:
            raise ClockUnavailable(
                "libfaketime is not installed (Debian package libfaketime; `./dev browsers` "
                "installs it): jobs cannot run on the sandbox clock"
            )
        return {
            "LD_PRELOAD": library,
            "FAKETIME_TIMESTAMP_FILE": str(self.timestamp_file()),
            "FAKETIME_NO_CACHE": "1",
            # Timeouts and sleeps measure real durations; only the wall clock moves.
            "FAKETIME_DONT_FAKE_MONOTONIC": "1",
            "DONT_FAKE_MONOTONIC": "1",
        }


class ClockUnavailable(RuntimeError):
    """libfaketime is missing, so a child process cannot be put on the sandbox clock."""


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def find_libfaketime() -> str | None:
    """Path of libfaketime's shared object (the multithreaded-safe build when present)."""
    override = os.environ.get("LAUNCHER_LIBFAKETIME")
    if override:
        return override if Path(override).is_file() else None
    for folder in LIBFAKETIME_DIRS:
        for name in ("libfaketimeMT.so.1", "libfaketime.so.1"):
            candidate = Path(folder) / name
            if candidate.is_file():
                return str(candidate)
    return None


CLOCK = SandboxClock()


def now() -> float:
    """The sandbox's `time.time()`: what the stand-ins stamp records with."""
    return CLOCK.time()


def now_datetime() -> _dt.datetime:
    return CLOCK.now()


# -- moto ----------------------------------------------------------------------------------
class _ClockDatetime(_dt.datetime):
    """`datetime.datetime` whose now()/utcnow() read the sandbox clock."""

    @classmethod
    def now(cls, tz: _dt.tzinfo | None = None) -> Any:
        return _dt.datetime.fromtimestamp(CLOCK.time(), tz)

    @classmethod
    def utcnow(cls) -> Any:
        return _dt.datetime.fromtimestamp(CLOCK.time(), _dt.UTC).replace(tzinfo=None)


def _datetime_module_on_clock() -> ModuleType | SimpleNamespace:
    shim = SimpleNamespace(**{k: getattr(_dt, k) for k in dir(_dt) if not k.startswith("__")})
    shim.datetime = _ClockDatetime
    return shim


def patch_moto() -> Callable[[], None]:
    """Make moto's notion of now (moto.core.utils.utcnow and the timestamps built on it:
    LaunchTime, state-transition reasons, attach times) read the sandbox clock; returns the
    function that undoes it."""
    import moto.core.utils as utils

    saved = utils.datetime
    utils.datetime = _datetime_module_on_clock()  # type: ignore[assignment]

    def undo() -> None:
        utils.datetime = saved

    return undo
