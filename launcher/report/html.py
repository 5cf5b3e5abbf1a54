"""The static dashboard: an overview page and one page per pool, as plain HTML strings.

No server, no script, no external asset: the CSS is inline, so the pages work from a file
system, from GitHub Pages or offline. Every string that came from GitHub, EC2 or a request
file (logins, request names, failure messages, URLs) is untrusted and escaped; links are
written only for http(s) addresses. State badges are white text on dark colours chosen for a
contrast of at least 4.5:1 (WCAG AA); quota use is a `<meter>` with a label and a text
equivalent, so it reads the same without colour or without the bar.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from html import escape
from urllib.parse import quote

from launcher.core.lifecycle import RequestState
from launcher.core.status import Overview, PoolStatus, RequestStatus, short_duration, soonest
from launcher.core.times import utc_iso, utc_text
from launcher.report.text import approvals_text, detail_text, next_text

INDEX = "index.html"
RECENT = 20  # failures and ended requests shown on the overview

# Background colours for white text; each has a contrast ratio of 4.5:1 or more with #fff.
BADGE_COLOURS = {
    RequestState.PENDING_APPROVAL: "#8a4600",
    RequestState.REJECTED: "#a3153a",
    RequestState.SCHEDULED: "#1f4f9c",
    RequestState.LAUNCHING: "#5b3a99",
    RequestState.RUNNING: "#17652e",
    RequestState.FAILED: "#b3001e",
    RequestState.TERMINATED: "#4d4d4d",
    RequestState.EXPIRED: "#5e4a3a",
}

CSS = """
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0;
  color: #1b1b1b; background: #fafafa; }
a { color: #0b4fa8; }
a:focus-visible { outline: 3px solid #0b4fa8; outline-offset: 2px; }
.skip { position: absolute; left: -9999px; }
.skip:focus { left: 1rem; top: 1rem; background: #fff; padding: .5rem; z-index: 1; }
header, main, footer { max-width: 78rem; margin: 0 auto; padding: 0 1rem; }
header { border-bottom: 1px solid #d0d0d0; }
header p { margin: .25rem 0 .75rem; color: #404040; }
nav ul { list-style: none; padding: 0; margin: .5rem 0; display: flex; flex-wrap: wrap;
  gap: .25rem 1rem; }
h1 { font-size: 1.6rem; margin: 1rem 0 .25rem; }
h2 { font-size: 1.25rem; margin: 2rem 0 .5rem; }
table { border-collapse: collapse; width: 100%; background: #fff; }
caption { text-align: left; color: #404040; padding: .25rem 0; }
th, td { text-align: left; vertical-align: top; padding: .35rem .5rem;
  border-bottom: 1px solid #e0e0e0; }
th { background: #efefef; font-weight: 600; }
.badge { display: inline-block; padding: .05rem .45rem; border-radius: .3rem; color: #fff;
  font-size: .8rem; font-weight: 600; letter-spacing: .02em; white-space: nowrap; }
.alerts { list-style: none; padding: 0; margin: 0 0 1rem; }
.alert { border-left: .35rem solid #8a4600; background: #fff6e5; padding: .5rem .75rem;
  margin: .4rem 0; }
.alert.rejected { border-left-color: #a3153a; background: #fdecef; }
.notes { background: #eef3fb; border: 1px solid #c5d5ee; padding: .5rem 1rem; }
.empty { color: #404040; font-style: italic; }
.quota { display: grid; grid-template-columns: max-content 12rem auto; gap: .35rem .75rem;
  align-items: center; }
meter { width: 12rem; height: 1.1rem; }
.muted { color: #404040; }
footer { color: #404040; font-size: .85rem; margin-top: 3rem; padding-bottom: 2rem; }
"""


def render_site(overview: Overview, *, repository: str, repo_url: str) -> dict[str, str]:
    """File name -> HTML for the overview and every pool."""
    files = pool_files(p.name for p in overview.pools)
    site = _Site(overview, repository, repo_url, files)
    pages = {INDEX: site.overview_page()}
    for pool in overview.pools:
        pages[files[pool.name]] = site.pool_page(pool)
    return pages


def pool_files(names: Iterable[str]) -> dict[str, str]:
    """A safe, unique file name per pool (pool names are slugs already; this is a second
    line of defence)."""
    files: dict[str, str] = {}
    for name in names:
        slug = re.sub(r"[^a-z0-9-]", "-", name.lower()) or "pool"
        candidate, n = f"pool-{slug}.html", 2
        while candidate in files.values():
            candidate, n = f"pool-{slug}-{n}.html", n + 1
        files[name] = candidate
    return files


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def link(url: str, text: str) -> str:
    """An anchor for http(s) URLs only; any other scheme is shown as text."""
    if not re.match(r"^https?://", url or ""):
        return _e(text)
    return f'<a href="{_e(url)}">{_e(text)}</a>'


def badge(state: RequestState, text: str | None = None) -> str:
    slug = state.value.replace("_", "-")
    return f'<span class="badge s-{slug}">{_e(text or state.name)}</span>'


def _time(value: datetime | None) -> str:
    if value is None:
        return "-"
    return f'<time datetime="{_e(utc_iso(value))}">{_e(utc_text(value))}</time>'


def _table(caption: str, headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A table; cells are HTML already (escaped by the caller)."""
    head = "".join(f'<th scope="col">{_e(h)}</th>' for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return (
        f"<table><caption>{_e(caption)}</caption><thead><tr>{head}</tr></thead>"
        f"<tbody>{body}</tbody></table>"
    )


class _Site:
    def __init__(
        self, overview: Overview, repository: str, repo_url: str, files: dict[str, str]
    ) -> None:
        self.o = overview
        self.now = overview.now
        self.repository = repository
        self.repo_url = repo_url.rstrip("/")
        self.files = files

    # --- links ------------------------------------------------------------------------------

    def pr_link(self, row: RequestStatus) -> str:
        if row.pr is None:
            return "-"
        url = row.pr_url or (f"{self.repo_url}/pull/{row.pr}" if self.repo_url else "")
        return link(url, f"#{row.pr}")

    def deployment_link(self, row: RequestStatus) -> str:
        if not row.environment:
            return "-"
        url = f"{self.repo_url}/deployments/{quote(row.environment, safe='')}"
        text = f"deployment {row.deployment_id}" if row.deployment_id else "deployments"
        return link(url, text)

    def pool_link(self, pool: str | None) -> str:
        if pool is None or pool not in self.files:
            return _e(pool or "?")
        return f'<a href="{_e(self.files[pool])}">{_e(pool)}</a>'

    # --- pieces -----------------------------------------------------------------------------

    def page(self, title: str, heading: str, body: str) -> str:
        nav = [f'<li><a href="{INDEX}">Overview</a></li>'] + [
            f'<li><a href="{_e(self.files[p.name])}">Pool {_e(p.name)}</a></li>'
            for p in self.o.pools
        ]
        badge_css = "".join(
            f".s-{s.value.replace('_', '-')} {{ background: {c}; }}\n"
            for s, c in BADGE_COLOURS.items()
        )
        return (
            '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{_e(title)}</title>\n<style>{CSS}{badge_css}</style>\n</head>\n<body>\n"
            '<a class="skip" href="#main">Skip to content</a>\n'
            f"<header><h1>{_e(heading)}</h1>"
            f"<p>{link(self.repo_url, self.repository)} · launch requests as of "
            f"{_time(self.now)}</p>"
            f'<nav aria-label="Pages"><ul>{"".join(nav)}</ul></nav></header>\n'
            f'<main id="main">\n{body}\n</main>\n'
            f"<footer><p>Generated by launcher at {_time(self.now)}. A static page: it "
            "changes when the report workflow runs again. Times are UTC; time left is "
            "counted from the generation time.</p></footer>\n</body>\n</html>\n"
        )

    def notes(self) -> str:
        if not self.o.notes:
            return ""
        items = "".join(f"<li>{_e(n)}</li>" for n in self.o.notes)
        return f'<section class="notes" aria-label="Notes"><ul>{items}</ul></section>'

    def alerts(self, rows: Sequence[RequestStatus]) -> str:
        """Waiting requests as alerts: who asked, who can approve, and the deadline."""
        items = []
        for r in rows:
            counted, missing = approvals_text(r)
            if r.state is RequestState.REJECTED:
                reason = r.approvals.reason if r.approvals else ""
                need = _e(missing + (f": {reason}" if reason else ""))
                need += "; the requester must amend it"
            elif missing == "?":
                need = "waiting for approval"
            else:
                need = f"waiting for {_e(missing)} more approval{'s' if missing != '1' else ''}"
            who = ", ".join(r.approvers)
            deadline = next_text(r, self.now)
            cls = "alert rejected" if r.state is RequestState.REJECTED else "alert"
            items.append(
                f'<li class="{cls}">{badge(r.state)} <strong>{_e(r.key)}</strong> '
                f"({self.pr_link(r)}) by {_e('@' + r.requester)} in pool "
                f"{self.pool_link(r.pool)}: {need}"
                + (f" from {_e(who)}" if who and r.state is not RequestState.REJECTED else "")
                + (f"; {_e(deadline)}" if deadline != "-" else "")
                + "</li>"
            )
        return f'<ul class="alerts">{"".join(items)}</ul>'

    def waiting_table(self, rows: Sequence[RequestStatus], caption: str) -> str:
        body = []
        for r in rows:
            counted, missing = approvals_text(r)
            left = short_duration(r.time_left(self.now))
            body.append(
                [
                    _e(r.key),
                    self.pool_link(r.pool),
                    self.pr_link(r),
                    badge(r.state),
                    _e(r.requester),
                    _e(short_duration(self.now - r.created_at) if r.created_at else "-"),
                    _time(r.launch_at),
                    _e(f"{left} ({r.rejects_why})" if left else "-"),
                    _e(counted),
                    _e(missing),
                    _e(", ".join(r.approvers) or "-"),
                ]
            )
        headers = (
            "Request",
            "Pool",
            "Pull request",
            "State",
            "Requester",
            "Age",
            "Launch at",
            "Auto-reject in",
            "Approvals",
            "Missing",
            "Approvers",
        )
        return _table(caption, headers, body)

    def requests_table(self, rows: Sequence[RequestStatus], caption: str) -> str:
        body = [
            [
                _e(r.key),
                self.pool_link(r.pool),
                badge(r.state, r.state.name),
                _e(r.requester or "-"),
                _e(str(r.instances) if self.o.ec2_read else "?"),
                _e(r.placement or "-"),
                _e(next_text(r, self.now)),
                _e(detail_text(r) or "-"),
                self.pr_link(r),
                self.deployment_link(r),
            ]
            for r in rows
        ]
        headers = (
            "Request",
            "Pool",
            "State",
            "Requester",
            "Instances",
            "Placement",
            "Next",
            "Detail",
            "Pull request",
            "Deployment",
        )
        return _table(caption, headers, body)

    def failures_table(self, rows: Sequence[RequestStatus], caption: str) -> str:
        body = [
            [
                _e(r.key),
                self.pool_link(r.pool),
                badge(r.state, f"FAILED: {r.last_error.category.value}" if r.last_error else None),
                _e(r.last_error.message if r.last_error else r.note or "-"),
                _e(r.requester or "-"),
                _time(r.created_at),
                self.pr_link(r),
                self.deployment_link(r),
            ]
            for r in rows
        ]
        headers = (
            "Request",
            "Pool",
            "Category",
            "Reason",
            "Requester",
            "Recorded",
            "Pull request",
            "Deployment",
        )
        return _table(caption, headers, body)

    def history(self, rows: Sequence[RequestStatus]) -> str:
        """Each request's events (launcher's record of every decision), oldest first."""
        items = "".join(
            f"<details><summary>{_e(r.key)}</summary><ol>"
            + "".join(f"<li>{_e(e.describe())}</li>" for e in r.history)
            + "</ol></details>"
            for r in rows
        )
        return self.section("history", "History", rows, items)

    def section(self, ident: str, title: str, rows: Sequence[RequestStatus], content: str) -> str:
        inner = content if rows else '<p class="empty">None.</p>'
        return (
            f'<section aria-labelledby="{ident}"><h2 id="{ident}">{_e(title)} '
            f'<span class="muted">({len(rows)})</span></h2>{inner}</section>'
        )

    def quota(self, pool: PoolStatus) -> str:
        """One labelled meter per quota dimension, with its value in words next to it."""
        parts = []
        for what, unit in (("instances", "instances"), ("vcpus", "vCPUs")):
            limit = getattr(pool.quota, what) if pool.quota else None
            ident = f"quota-{re.sub(r'[^a-z0-9-]', '-', pool.name)}-{what}"
            label = f'<label for="{ident}">{_e(unit)}</label>'
            if pool.used is None:
                parts.append(
                    f'<span>{_e(unit)}</span><span></span><span class="muted">unknown '
                    "(EC2 not read)</span>"
                )
                continue
            used = getattr(pool.used, what)
            if limit is None:
                parts.append(
                    f"<span>{_e(unit)}</span><span></span><span>{used} {_e(unit)} (no quota)</span>"
                )
                continue
            percent = round(100 * used / limit) if limit else 100
            words = f"{used} of {limit} {unit} used ({percent}%)"
            parts.append(
                f"{label}"
                f'<meter id="{ident}" min="0" max="{limit}" value="{min(used, limit)}" '
                f'low="{limit * 0.7:g}" high="{limit * 0.9:g}" optimum="0" '
                f'title="{_e(words)}">{_e(words)}</meter>'
                f"<span>{_e(words)}</span>"
            )
        return f'<div class="quota">{"".join(parts)}</div>'

    # --- pages ------------------------------------------------------------------------------

    def overview_page(self) -> str:
        o = self.o
        waiting = soonest(o.by_state(RequestState.PENDING_APPROVAL, RequestState.REJECTED))
        scheduled = o.by_state(RequestState.SCHEDULED)
        launching = o.by_state(RequestState.LAUNCHING)
        running = sorted(
            o.by_state(RequestState.RUNNING),
            key=lambda r: (r.expires_at is None, r.expires_at or self.now, r.key),
        )
        failed = sorted(o.by_state(RequestState.FAILED), key=lambda r: -(r.deployment_id or 0))[
            :RECENT
        ]
        ended = sorted(
            o.by_state(RequestState.TERMINATED, RequestState.EXPIRED),
            key=lambda r: -(r.deployment_id or 0),
        )[:RECENT]
        pools_rows = []
        for p in o.pools:
            n = sum(1 for r in waiting if r.pool == p.name)
            pools_rows.append(
                [
                    self.pool_link(p.name),
                    self.quota(p),
                    _e(n),
                    _e(", ".join(p.approvers) or "-"),
                ]
            )
        unknown = [r for r in waiting if r.pool is None]
        body = [
            self.notes(),
            self.section(
                "waiting",
                "Waiting for approval",
                waiting,
                self.alerts(waiting)
                + self.waiting_table(waiting, "Requests waiting for an approver, soonest first"),
            ),
            self.section(
                "scheduled",
                "Scheduled",
                scheduled,
                self.requests_table(scheduled, "Approved requests waiting for their launch time"),
            ),
            self.section(
                "launching",
                "Launching",
                launching,
                self.requests_table(launching, "Requests being launched or not yet recorded"),
            ),
            self.section(
                "running",
                "Running",
                running,
                self.requests_table(running, "Running requests, soonest expiry first"),
            ),
            self.section(
                "failures",
                "Recent failures",
                failed,
                self.failures_table(failed, "Failed requests, newest first, with the reason"),
            ),
            self.section(
                "ended",
                "Recently ended",
                ended,
                self.requests_table(ended, "Terminated and expired requests, newest first"),
            ),
            self.history([r for r in o.requests if r.history]),
            '<section aria-labelledby="pools"><h2 id="pools">Pools</h2>'
            + _table(
                "Quota use and approvers per pool",
                ("Pool", "Quota use", "Waiting", "Approvers"),
                pools_rows,
            )
            + "</section>",
        ]
        if unknown:
            body.insert(
                1,
                f'<p class="muted">{len(unknown)} waiting pull request(s) could not be '
                "attributed to a pool.</p>",
            )
        return self.page(f"launcher: {self.repository}", "Launch requests", "\n".join(body))

    def pool_page(self, pool: PoolStatus) -> str:
        rows = [r for r in self.o.requests if r.pool == pool.name]
        waiting = soonest([r for r in rows if r.waiting])
        others = [r for r in rows if not r.waiting]
        approvers = "".join(f"<li>{_e(a)}</li>" for a in pool.approvers)
        n = pool.approvals_required
        facts = [f"{n} approval{'s' if n != 1 else ''} required"]
        if pool.request_ttl:
            facts.append(f"pending requests close after {short_duration(pool.request_ttl)}")
        if pool.max_runtime:
            facts.append(f"max runtime {short_duration(pool.max_runtime)}")
        body = [
            f"<p>{_e(pool.description)}</p>" if pool.description else "",
            self.section(
                "waiting",
                "Waiting for approval",
                waiting,
                self.alerts(waiting) + self.waiting_table(waiting, f"Waiting in {pool.name}"),
            ),
            '<section aria-labelledby="quota"><h2 id="quota">Quota use</h2>'
            + self.quota(pool)
            + "</section>",
            '<section aria-labelledby="approvers"><h2 id="approvers">Approvers</h2>'
            + (f"<ul>{approvers}</ul>" if approvers else '<p class="empty">None.</p>')
            + f"<p>{_e('; '.join(facts))}.</p></section>",
            self.section(
                "requests",
                "Other requests",
                others,
                self.requests_table(others, f"Every other request in {pool.name}"),
            ),
        ]
        return self.page(
            f"launcher: pool {pool.name}", f"Pool {pool.name}", "\n".join(b for b in body if b)
        )


def write_site(pages: dict[str, str], out: str) -> list[str]:
    """Write the pages into `out` (created if needed); returns the paths written."""
    from pathlib import Path

    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in sorted(pages.items()):
        path = folder / name
        path.write_text(text, encoding="utf-8")
        written.append(str(path))
    return written
