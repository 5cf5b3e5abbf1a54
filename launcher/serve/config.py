"""`launcher serve`'s configuration: from the environment only, so a container, a systemd unit
and the tests configure it the same way, and no file in a repository can change it."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

N = TypeVar("N", int, float)


class ConfigError(ValueError):
    """A setting is missing or unusable: the service refuses to start."""


@dataclass(frozen=True)
class ServeConfig:
    app_id: str
    private_key: str  # PEM
    webhook_secret: bytes
    api_url: str = "https://api.github.com"
    host: str = "0.0.0.0"  # noqa: S104 - a service listens on its container's interface
    port: int = 8080
    # threads deciding pull requests: from outside GitHub a decision spends most of its time
    # waiting for GitHub (about 0.7 s with 100 ms round trips), so a burst needs many at once
    workers: int = 32
    queue_limit: int = 10_000  # pull requests waiting at most; beyond, deliveries get 503
    recheck_seconds: float = 300.0  # re-decide open PRs whose check is missing; 0: never
    redeliver_seconds: float = 300.0  # redeliver failed deliveries; 0: never
    redeliver_window_seconds: float = 86_400.0  # only deliveries this recent
    github_timeout: int = 10
    # GitHub requests at once across the replica (a decision's independent reads go out
    # together); 1: one after another. GitHub allows at most 100 concurrent requests: keep
    # replicas x this at or below it (the default suits two replicas).
    github_concurrency: int = 48
    # The instance-match preview, as the Actions gate makes it (launcher.serve.match): the
    # same warnings, "instance match skipped: …" included when AWS cannot be read.
    match: bool = True
    match_seconds: float = 2.0  # the longest a decision waits for EC2 (then: skipped)
    match_cache_seconds: float = 300.0  # how long an account and region's catalogue is kept
    # a delivery's body not received within this is refused (408): GitHub's own timeout
    body_seconds: float = 10.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ServeConfig:
        env = os.environ if env is None else env
        app_id = env.get("LAUNCHER_APP_ID", "").strip()
        key = env.get("LAUNCHER_APP_PRIVATE_KEY", "").strip().replace("\\n", "\n")
        key_file = env.get("LAUNCHER_APP_PRIVATE_KEY_FILE", "").strip()
        if key_file:
            key = _read(key_file, "LAUNCHER_APP_PRIVATE_KEY_FILE")
        secret = env.get("LAUNCHER_WEBHOOK_SECRET", "")
        secret_file = env.get("LAUNCHER_WEBHOOK_SECRET_FILE", "").strip()
        if secret_file:
            secret = _read(secret_file, "LAUNCHER_WEBHOOK_SECRET_FILE").strip()
        missing = [
            name
            for name, value in (
                ("LAUNCHER_APP_ID", app_id),
                ("LAUNCHER_APP_PRIVATE_KEY_FILE (or LAUNCHER_APP_PRIVATE_KEY)", key),
                ("LAUNCHER_WEBHOOK_SECRET (or LAUNCHER_WEBHOOK_SECRET_FILE)", secret),
            )
            if not value
        ]
        if missing:
            raise ConfigError(" and ".join(missing) + " must be set")
        if len(secret) < 16:
            raise ConfigError("the webhook secret must be at least 16 characters")
        match = _flag(env.get("LAUNCHER_SERVE_MATCH"), "LAUNCHER_SERVE_MATCH", default=True)
        try:
            return cls(
                app_id=app_id,
                private_key=key,
                webhook_secret=secret.encode(),
                api_url=(env.get("GITHUB_API_URL") or cls.api_url).rstrip("/"),
                host=env.get("LAUNCHER_SERVE_HOST") or cls.host,
                port=_number(env, "LAUNCHER_SERVE_PORT", cls.port),
                workers=max(1, _number(env, "LAUNCHER_SERVE_WORKERS", cls.workers)),
                queue_limit=max(1, _number(env, "LAUNCHER_SERVE_QUEUE_LIMIT", cls.queue_limit)),
                recheck_seconds=_number(env, "LAUNCHER_SERVE_RECHECK_SECONDS", cls.recheck_seconds),
                redeliver_seconds=_number(
                    env, "LAUNCHER_SERVE_REDELIVER_SECONDS", cls.redeliver_seconds
                ),
                redeliver_window_seconds=_number(
                    env, "LAUNCHER_SERVE_REDELIVER_WINDOW_SECONDS", cls.redeliver_window_seconds
                ),
                github_timeout=_number(env, "LAUNCHER_GITHUB_TIMEOUT", cls.github_timeout),
                github_concurrency=max(
                    1, _number(env, "LAUNCHER_SERVE_GITHUB_CONCURRENCY", cls.github_concurrency)
                ),
                match=match,
                match_seconds=_number(env, "LAUNCHER_SERVE_MATCH_SECONDS", cls.match_seconds),
                match_cache_seconds=_number(
                    env, "LAUNCHER_SERVE_MATCH_CACHE_SECONDS", cls.match_cache_seconds
                ),
                body_seconds=_number(env, "LAUNCHER_SERVE_BODY_SECONDS", cls.body_seconds),
            )
        except ValueError as exc:
            raise ConfigError(f"a LAUNCHER_SERVE_* setting is not a number: {exc}") from exc


def _number(env: Mapping[str, str], name: str, default: N) -> N:
    """The setting `name` read as its default's type (int or float), or the default when
    unset: each default is written once, in ServeConfig's fields."""
    return type(default)(env.get(name) or default)


def _flag(value: str | None, name: str, *, default: bool) -> bool:
    text = (value or "").strip().lower()
    if not text:
        return default
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, not {value!r}")


def _read(path: str, name: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{name}: cannot read {path}: {exc}") from exc
