"""launcher's GitHub App as the service uses it: its JWT, one installation token per
installation (reused until ten minutes before it expires: the jobs mint one per run), a
fresh gate adapter per decision (no cache outlives it, so every decision reads GitHub's
state anew), the installations and repositories to recheck, and failed deliveries to redeliver.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime
from typing import Any

import requests

from launcher.adapters.github import GitHub, GitHubError, Settings
from launcher.serve.config import ServeConfig
from launcher.serve.logs import log


class Answered(GitHubError):
    """GitHub answered an app request with an error status (`status`); `rate_limited`: a
    429, or a 403 that says it is a rate limit (no requests left, a time to wait, or the
    message), which waiting ends, unlike a refusal."""

    def __init__(self, message: str, status: int = 0, rate_limited: bool = False) -> None:
        super().__init__(message, refused=isinstance(self, Refused))
        self.status = status
        self.rate_limited = rate_limited


class Refused(Answered):
    """GitHub refused the app (401, 403, 404: uninstalled, suspended, no access): asking
    again changes nothing until the installation does (its event comes then). Its
    `refused` is set, as the adapter's GitHubError sets it for the same answers."""


REFRESH_MARGIN = 600.0  # mint a new token when the old one has less than this left
JWT_REUSE = 240.0  # seconds one app JWT is reused (PyGithub signs them valid for 5 minutes)
MAX_ATTEMPTS = 3  # a delivery GitHub failed this many times is left alone
# GitHub redelivers deliveries of the past 3 days; an hour less, for clocks and the time a
# round takes
REDELIVERABLE_SECONDS = 3 * 86_400.0 - 3_600.0
REDELIVER_PER_ROUND = 50  # under GitHub's 80 content-creating requests a minute
DELIVERIES_PER_PAGE = 100  # GitHub's most
MAX_DELIVERY_PAGES = 100  # a round reads at most the newest 10,000 deliveries


class AppClient:
    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        self._tokens: dict[int, tuple[str, float, str]] = {}  # installation -> token, exp, bot
        # One PyGithub client per worker thread and installation token: its HTTP connection
        # is kept alive from one decision to the next (each decision still gets a fresh
        # adapter, so no cached read outlives it). Per thread: PyGithub's connection object
        # keeps the request being made in its own attributes, so it must not be shared.
        self._clients = threading.local()
        self._lock = threading.Lock()
        # one mint per installation at a time (not one per worker), and a generation per
        # installation: a token minted while `forget` ran is not kept (access changed)
        self._minting: dict[int, threading.Lock] = {}
        self._generation: dict[int, int] = {}
        self._session = requests.Session()
        self._signed: tuple[str, float] = ("", 0.0)
        self._bot = ""  # the app's bot login, from its slug

    # -- the app's own requests (JWT) ------------------------------------------------------
    def sign(self) -> str:
        """The app's JWT, signed again every few minutes (signing costs an RSA operation)."""
        from github import Auth

        with self._lock:
            jwt, at = self._signed
            if jwt and time.monotonic() - at < JWT_REUSE:
                return jwt
        jwt = str(Auth.AppAuth(self.config.app_id, self.config.private_key).token)
        with self._lock:
            self._signed = (jwt, time.monotonic())
        return jwt

    def _app_request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {
            "Authorization": f"Bearer {self.sign()}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
        }
        try:
            response = self._session.request(
                method,
                path if path.startswith(("https://", "http://")) else self.config.api_url + path,
                headers=headers,
                timeout=self.config.github_timeout,
                **kwargs,
            )
        except requests.RequestException as exc:
            raise GitHubError(f"{method} {path}: {type(exc).__name__}: {exc}") from exc
        if response.status_code >= 400:
            status = response.status_code
            limited = status == 429 or (
                status == 403
                and (
                    response.headers.get("x-ratelimit-remaining") == "0"
                    or "retry-after" in response.headers
                    or "rate limit" in response.text.lower()
                )
            )
            kind = Refused if status in (401, 403, 404) and not limited else Answered
            raise kind(f"{method} {path}: GitHub answered {status}", status, limited)
        return response

    def token(self, installation: int) -> tuple[str, str]:
        """(token, bot login) for `installation`, minted when missing or nearly expired."""
        with self._lock:
            cached = self._tokens.get(installation)
            if cached and cached[1] - time.time() > REFRESH_MARGIN:
                return cached[0], cached[2]
        with self._lock:
            minting = self._minting.setdefault(installation, threading.Lock())
        with minting:
            with self._lock:  # minted by another worker meanwhile?
                cached = self._tokens.get(installation)
                if cached and cached[1] - time.time() > REFRESH_MARGIN:
                    return cached[0], cached[2]
                generation = self._generation.get(installation, 0)
            return self._mint(installation, generation)

    def _mint(self, installation: int, generation: int) -> tuple[str, str]:
        out = self._app_request("POST", f"/app/installations/{installation}/access_tokens").json()
        expires = datetime.fromisoformat(out["expires_at"].replace("Z", "+00:00")).timestamp()
        with self._lock:
            bot = self._bot
        if not bot:
            slug = self._app_request("GET", "/app").json().get("slug") or "launcher"
            bot = f"{slug}[bot]"
        with self._lock:
            if self._generation.get(installation, 0) == generation:
                self._tokens[installation] = (out["token"], expires, bot)
            self._bot = bot  # the app's, whatever the installation: kept after a forget
        return out["token"], bot

    @property
    def bot_login(self) -> str:
        """The app's bot login once a token was minted ("" before)."""
        with self._lock:
            return self._bot

    def forget(self, installation: int) -> None:
        """Drop a token GitHub refused (revoked, or the installation changed)."""
        with self._lock:
            self._tokens.pop(installation, None)
            self._generation[installation] = self._generation.get(installation, 0) + 1

    def gate_adapter(self, installation: int, repo: str) -> GitHub:
        """A fresh adapter for `repo` in app mode, on the installation's cached token."""
        token, bot = self.token(installation)
        settings = Settings(
            repository=repo,
            token="",
            api_url=self.config.api_url,
            bot_login=bot,
            timeout=self.config.github_timeout,
            throttle=False,  # one PR's decision is sequential; the pool bounds concurrency
            retries=2,
            backoff=0.2,
            max_rate_limit_wait=30,
            app_id=self.config.app_id,
            app_private_key=self.config.private_key,
            installation_token=token,
        )
        clients: dict[int, tuple[str, Any]] = self._clients.__dict__.setdefault("by", {})
        kept = clients.get(installation)
        if kept is not None and kept[0] == token:  # a new token (minted, forgotten): a new one
            return GitHub(settings, client=kept[1])
        adapter = GitHub(settings)
        clients[installation] = (token, adapter.gh)
        return adapter

    # -- what to recheck -----------------------------------------------------------------
    def installations(self) -> list[int]:
        out: list[int] = []
        page = 1
        while True:
            listed = self._app_request(
                "GET", "/app/installations", params={"per_page": 100, "page": page}
            ).json()
            out.extend(int(i["id"]) for i in listed)
            if len(listed) < 100:
                return out
            page += 1

    def repositories(self, installation: int) -> list[str]:
        token, _ = self.token(installation)
        out: list[str] = []
        page = 1
        while True:
            response = self._session.get(
                self.config.api_url + "/installation/repositories",
                headers={"Authorization": f"token {token}"},
                params={"per_page": 100, "page": page},
                timeout=self.config.github_timeout,
            )
            if response.status_code >= 400:
                raise GitHubError(f"listing installation repositories: {response.status_code}")
            repos = response.json().get("repositories") or []
            out.extend(r["full_name"] for r in repos)
            if len(repos) < 100:
                return out
            page += 1

    # -- failed deliveries ---------------------------------------------------------------
    def redeliver_failed(self, window: float, now: float | None = None) -> list[int]:
        """Redeliver each event whose every delivery failed, within the last `window`
        seconds (at most the 3 days GitHub redelivers), tried fewer than MAX_ATTEMPTS times,
        newest first and at most REDELIVER_PER_ROUND a round: GitHub never retries on its
        own. A redelivery GitHub refuses is logged and skipped; a rate limit (403, 429) ends
        the round. Several replicas may both redeliver one: a delivery is only a hint, so
        that is a duplicate decision, never a different verdict. Returns the delivery ids
        redelivered."""
        now = time.time() if now is None else now
        window = min(window, REDELIVERABLE_SECONDS)
        attempts: dict[str, list[dict[str, Any]]] = {}
        url, params = "/app/hook/deliveries", {"per_page": DELIVERIES_PER_PAGE}
        for _ in range(MAX_DELIVERY_PAGES):
            response = self._app_request("GET", url, params=params)
            old = False
            for item in response.json():
                at = datetime.fromisoformat(item["delivered_at"].replace("Z", "+00:00"))
                if now - at.timestamp() > window:
                    old = True
                    continue
                attempts.setdefault(item["guid"], []).append(item)
            # the next page exactly as GitHub links it (its cursor is opaque)
            url, params = response.links.get("next", {}).get("url", ""), {}
            if old or not url:
                break
        redelivered: list[int] = []
        for tries in attempts.values():  # newest first, as GitHub lists them
            if len(redelivered) >= REDELIVER_PER_ROUND:
                break
            if any(200 <= int(t.get("status_code") or 0) < 300 for t in tries):
                continue
            if len(tries) >= MAX_ATTEMPTS:
                continue
            latest = max(tries, key=lambda t: int(t["id"]))
            try:
                self._app_request("POST", f"/app/hook/deliveries/{latest['id']}/attempts")
            except Answered as exc:
                if exc.rate_limited:  # the next round goes on
                    log("redelivery rate limited: the next round goes on", "warning",
                        delivery=latest.get("guid"), error=str(exc))  # fmt: skip
                    break
                log("redelivery refused", "warning", delivery=latest.get("guid"),
                    error=str(exc))  # fmt: skip
                continue
            redelivered.append(int(latest["id"]))
        return redelivered
