"""Text tables and JSON for `launcher pending` and `launcher status`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from launcher.core.lifecycle import RequestState
from launcher.core.status import Overview, PoolStatus, RequestStatus, short_duration, state_label
from launcher.core.times import utc_iso, utc_text


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Columns padded to their widest cell, two spaces apart; no trailing spaces."""
    widths = [max(len(str(c)) for c in column) for column in zip(headers, *rows, strict=True)]
    return [
        "  ".join(str(cell).ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in (headers, *rows)
    ]


def _when(value: datetime | None) -> str:
    return utc_text(value) if value else "-"


def _mentions(logins: Sequence[str]) -> str:
    return ", ".join(f"@{login}" for login in logins)


def approvals_text(row: RequestStatus) -> tuple[str, str]:
    """(counted, missing) for a waiting row: `1/2 @dave` and `1`; `?` when not read."""
    a = row.approvals
    if a is None:
        return "?", "?"
    counted = f"{len(a.approved_by)}/{a.required}"
    if a.approved_by:
        counted += f" {_mentions(a.approved_by)}"
    if a.rejected_by:
        return counted, f"rejected by {_mentions(a.rejected_by)}"
    return counted, str(a.missing)


def next_text(row: RequestStatus, now: datetime) -> str:
    """What happens next on its own, and when: `expires in 6d 23h`, `auto-rejected in 5h`."""
    left = short_duration(row.time_left(now))
    if not left:
        return "-"
    if row.waiting:
        verb = "closed as stale" if row.rejects_why == "request_ttl" else "auto-rejected"
        return f"{verb} in {left}" if left != "overdue" else f"{verb} at the next sweep"
    if row.state is RequestState.SCHEDULED:
        return f"launches in {left}" if left != "overdue" else "launch due"
    return f"expires in {left}" if left != "overdue" else "expiry due"


def detail_text(row: RequestStatus) -> str:
    if row.last_error is not None:
        text = row.last_error.describe()
        return f"{text}; {row.note}" if row.note else text
    if row.approvals and row.approvals.reason and row.state is RequestState.REJECTED:
        return f"rejected: {row.approvals.reason}"
    return row.note


def pending_lines(rows: Sequence[RequestStatus], now: datetime) -> list[str]:
    if not rows:
        return ["no requests are waiting for approval"]
    body = []
    for r in rows:
        counted, missing = approvals_text(r)
        left = short_duration(r.time_left(now))
        body.append(
            [
                r.pool or "?",
                r.key,
                f"#{r.pr}" if r.pr else "-",
                r.state.name,
                r.requester,
                short_duration(now - r.created_at) if r.created_at else "-",
                _when(r.launch_at),
                f"{left} ({r.rejects_why})" if left else "-",
                counted,
                missing,
                ", ".join(r.approvers),
            ]
        )
    headers = (
        "POOL",
        "REQUEST",
        "PR",
        "STATE",
        "REQUESTER",
        "AGE",
        "LAUNCH AT",
        "AUTO-REJECT IN",
        "APPROVALS",
        "MISSING",
        "APPROVERS",
    )
    return table(headers, body)


def status_lines(overview: Overview, *, history: bool = False) -> list[str]:
    now = overview.now
    lines = [f"launcher status at {utc_text(now)}", ""]
    if overview.requests:
        body = [
            [
                r.key,
                state_label(r),
                r.requester or "-",
                f"#{r.pr}" if r.pr else "-",
                str(r.instances) if overview.ec2_read else "?",
                r.placement or "-",
                next_text(r, now),
                ", ".join(r.approvers) or "-",
                detail_text(r),
            ]
            for r in overview.requests
        ]
        headers = (
            "REQUEST",
            "STATE",
            "REQUESTER",
            "PR",
            "INSTANCES",
            "PLACEMENT",
            "NEXT",
            "APPROVERS",
            "DETAIL",
        )
        lines += table(headers, body)
    else:
        lines.append("no requests")
    lines += ["", *table(("POOL", "INSTANCES", "VCPUS", "APPROVERS"), _pool_rows(overview.pools))]
    if history:
        lines += history_lines(overview.requests)
    if overview.notes:
        lines += ["", *(f"note: {n}" for n in overview.notes)]
    return lines


def history_lines(rows: Sequence[RequestStatus]) -> list[str]:
    """Each request's events (every decision launcher recorded), oldest first."""
    lines: list[str] = []
    for r in rows:
        if r.history:
            lines += ["", f"history of {r.key}:", *(f"  {e.describe()}" for e in r.history)]
    return lines


def quota_text(used: int | None, limit: int | None) -> str:
    if used is None:
        return "?"
    return f"{used}/{limit}" if limit is not None else str(used)


def _pool_rows(pools: Sequence[PoolStatus]) -> list[list[str]]:
    rows = []
    for p in pools:
        q = p.quota
        rows.append(
            [
                p.name,
                quota_text(p.used.instances if p.used else None, q.instances if q else None),
                quota_text(p.used.vcpus if p.used else None, q.vcpus if q else None),
                ", ".join(p.approvers) or "-",
            ]
        )
    return rows


# --- JSON ------------------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return utc_iso(value) if value else None


def row_json(r: RequestStatus, now: datetime) -> dict[str, Any]:
    left = r.time_left(now)
    a = r.approvals
    return {
        "request": r.key,
        "pool": r.pool,
        "state": r.state.name,
        "category": r.last_error.category.value if r.last_error else None,
        "last_error": r.last_error.message if r.last_error else None,
        "requester": r.requester or None,
        "approvers": list(r.approvers),
        "pr": r.pr,
        "pr_url": r.pr_url or None,
        "deployment": r.deployment_id,
        "placement": r.placement or None,
        "instances": r.instances,
        "created_at": _iso(r.created_at),
        "age_seconds": int((now - r.created_at).total_seconds()) if r.created_at else None,
        "launch_at": _iso(r.launch_at),
        "expires_at": _iso(r.expires_at),
        "auto_reject_at": _iso(r.rejects_at),
        "auto_reject_reason": r.rejects_why or None,
        "time_left_seconds": int(left.total_seconds()) if left is not None else None,
        "approvals": None
        if a is None
        else {
            "approved_by": list(a.approved_by),
            "counted": len(a.approved_by),
            "required": a.required,
            "missing": a.missing,
            "stale": list(a.stale),
            "rejected_by": list(a.rejected_by),
            "reason": a.reason or None,
        },
        "source": r.source,
        "note": r.note or None,
        "history": [
            {
                "event": e.kind.value,
                "at": _iso(e.at),
                "by": e.by or None,
                "commit": e.commit or None,
                "text": e.text or None,
            }
            for e in r.history
        ],
    }


def pool_json(p: PoolStatus) -> dict[str, Any]:
    return {
        "pool": p.name,
        "approvers": list(p.approvers),
        "approvals_required": p.approvals_required,
        "used": None if p.used is None else {"instances": p.used.instances, "vcpus": p.used.vcpus},
        "quota": None
        if p.quota is None
        else {"instances": p.quota.instances, "vcpus": p.quota.vcpus},
    }


def status_json(overview: Overview) -> dict[str, Any]:
    return {
        "now": utc_iso(overview.now),
        "ec2_read": overview.ec2_read,
        "requests": [row_json(r, overview.now) for r in overview.requests],
        "pools": [pool_json(p) for p in overview.pools],
        "notes": list(overview.notes),
    }
