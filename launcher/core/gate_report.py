"""The gate's sticky pull request comment, rendered from its decision.

Untrusted text (review bodies, values quoted from request files) is neutralised before it is
put in the comment: no HTML, no @mentions, no table breaking. The hidden marker lets the job
find its own comment again and edit it rather than add another; the hidden meta holds hints
only (the teams consulted, the labels set): anyone with write access can edit the comment, so
what lets a re-run stop early is a digest in launcher's own verdict (`jobs/gate_memory`).
"""

from __future__ import annotations

import base64
import binascii
import html
import json
import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

from launcher.core.gate import Decision, Item, ItemKind, State
from launcher.core.limits import CHECK_TEXT_CAP, COMMENT_CAP, fit

MARKER = "<!-- launcher:gate -->"
_META = re.compile(r"<!-- launcher:meta ([A-Za-z0-9+/=]{1,8000}) -->")
_ICONS = {State.SUCCESS: "✅", State.PENDING: "⏳", State.FAILURE: "❌", State.ERROR: "⚠️"}


def untrusted(text: str, limit: int = 500) -> str:
    """Show text from a pull request or review as inert Markdown on one line."""
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    text = html.escape(text, quote=False)
    text = text.replace("|", "\\|").replace("`", "'").replace("@", "@\u200b")
    return text.replace("[", "\\[").replace("]", "\\]")


def read_meta(body: str) -> dict[str, Any] | None:
    """The job's own notes from an earlier run (base64 JSON, so no text can end the comment)."""
    match = _META.search(body)
    if not match:
        return None
    try:
        meta = json.loads(base64.b64decode(match.group(1), validate=True))
    except (ValueError, binascii.Error):
        return None
    return meta if isinstance(meta, dict) else None


def _meta_line(meta: dict[str, Any]) -> str:
    encoded = base64.b64encode(json.dumps(meta, sort_keys=True).encode()).decode()
    return f"<!-- launcher:meta {encoded} -->"


def _tier(item: Item) -> str:
    return item.tier.value if item.tier else "—"


def _approvals(item: Item) -> str:
    t = item.tally
    if t is None:
        return (
            "not needed" if item.state is State.SUCCESS and item.kind is ItemKind.REQUEST else "—"
        )
    text = f"{len(t.approved_by)} of {t.required}"
    if t.approved_by:
        text += " (" + ", ".join(f"@{u}" for u in t.approved_by) + ")"
    if t.stale:
        text += "; stale: " + ", ".join(f"@{u}" for u in t.stale)
    if t.before_base:
        text += "; given before the base changed: " + ", ".join(f"@{u}" for u in t.before_base)
    return text


def _next_step(item: Item) -> str:
    t = item.tally
    if item.state is State.SUCCESS:
        done = _ours(item)
        return f"{done}: merge to launch" if item.kind is ItemKind.REQUEST else done
    if item.state is State.PENDING:
        step = _ours(item)
        if t and t.stale:
            step += "; approvals of an older commit do not count after a push"
        return step
    if t and t.rejected_by:
        who = t.rejected_by[0].user
        return (
            f"rejected by @{who}: address the review and push, then ask @{who} to approve "
            "(or have the review dismissed)"
        )
    if item.kind is ItemKind.INVALID:
        return "fix the errors below and push again"
    return _ours(item)


_MENTION = re.compile("@\u200b([A-Za-z0-9](?:[A-Za-z0-9._/-]*[A-Za-z0-9])?)")


def _ours(item: Item) -> str:
    """A summary the core wrote, made table-safe. Only the mentions the core put there (the
    item's approvers from pools.yaml, and who approved) stay live: a file path quoted in the
    summary comes from the pull request and must not mention anyone."""
    allowed = {m.lstrip("@").casefold() for m in item.approvers}
    if item.tally:
        allowed |= {login.casefold() for login in item.tally.approved_by}
    return _MENTION.sub(
        lambda m: "@" + m[1] if m[1].casefold() in allowed else m[0], untrusted(item.summary)
    )


def render(decision: Decision, meta: dict[str, Any] | None, notes: Sequence[str] = ()) -> str:
    """The report (the comment body, and the check run's summary), capped below GitHub's
    limits with the summary first; `meta` is kept hidden in it for the next run: only the
    check run carries it, since launcher's app alone can write there while anyone with write
    access can edit a comment. `notes` are warnings about the run itself (a review request
    GitHub refused, someone else's verdict). What does not fit is in `details`."""
    head = [MARKER, _meta_line(meta), ""] if meta is not None else [MARKER, ""]
    head += _summary(decision)
    for note in notes:
        head.append(f"**Warning:** {untrusted(note, 1000)}")
        head.append("")
    return fit(head, _body(decision), _FOOTER, COMMENT_CAP, _more)


def details(decision: Decision) -> str:
    """The full list, one short line per file and per error, for the check run's details
    (the comment's table has room for fewer): capped below GitHub's check-run text limit,
    summary first."""
    rows = [
        f"- {_ICONS[item.state]} `{untrusted(item.path, 200)}` ({item.change}, "
        f"{item.pool or '—'}): {untrusted(item.summary, 160)}"
        for item in decision.items
    ]
    problems = [
        f"- `{untrusted(p.path, 200)}` line {p.line}, column {p.column}: "
        + untrusted(p.message, 300)
        for p in decision.annotations
    ]
    return fit(_summary(decision), [*rows, "", *problems], (), CHECK_TEXT_CAP, _more)


def _more(n: int) -> str:
    return (
        f"\n_… {n} more lines not shown (GitHub's size limit): the check run's details list "
        "every file._"
    )


_FOOTER = (
    "<sub>Only reviews count: an approver approves with **Approve**, rejects with "
    "**Request changes** (the review text is the reason). Approvals of an older commit "
    "do not count after a push.</sub>",
)


def _summary(decision: Decision) -> list[str]:
    lines = [f"### {_ICONS[decision.state]} launcher: {decision.state.value}", ""]
    lines.append(untrusted(decision.description))
    lines.append("")
    if len(decision.items) > 1:
        counts = Counter(item.state for item in decision.items)
        lines.append(
            f"{len(decision.items)} items: "
            + ", ".join(f"{counts[s]} {s.value}" for s in State if counts[s])
        )
        lines.append("")
    if decision.pushers:
        lines.append(
            "Pushed to this pull request besides its author: "
            + ", ".join(f"`{untrusted(p, 100)}`" for p in decision.pushers)
            + " (each request launches only as far as the lowest tier among the author and "
            "them allows; bots and unknown accounts hold none)"
        )
        lines.append("")
    if decision.error:
        lines.append(f"The check could not decide: {untrusted(decision.error)}. Re-run the job.")
        lines.append("")
    rejections = [r for item in decision.items if item.tally for r in item.tally.rejected_by]
    seen: set[int] = set()
    for review in rejections:
        if review.id in seen:
            continue
        seen.add(review.id)
        lines.append(f"**Rejected by @{review.user}**")
        lines.append("")
        dismisser = next(
            (
                i.tally.kept_vetoes[review.id]
                for i in decision.items
                if i.tally and review.id in i.tally.kept_vetoes
            ),
            None,
        )
        if dismisser:
            lines.append(
                f"Dismissed by `{untrusted(dismisser, 100)}`, who may not lift it (only the "
                "pool's approvers or an admin, other than the author and pushers): the "
                "rejection stands."
            )
            lines.append("")
        lines.append("> " + (untrusted(review.body, 2000) or "no reason given"))
        lines.append("")
    return lines


def _body(decision: Decision) -> list[str]:
    lines: list[str] = []
    if decision.items:
        lines.append("| file | change | pool | author's tier | approvals | next step |")
        lines.append("| --- | --- | --- | --- | --- | --- |")
        for item in decision.items:
            pool = item.pool or ("admins" if item.kind is ItemKind.CONTROL else "—")
            lines.append(
                f"| {_ICONS[item.state]} `{untrusted(item.path, 200)}` | {item.change} | {pool} "
                f"| {_tier(item)} | {_approvals(item)} | {_next_step(item)} |"
            )
        lines.append("")
    problems = decision.annotations
    if problems:
        lines.append("**Errors**")
        lines.append("")
        for p in problems:
            lines.append(f"- `{p.path}` line {p.line}, column {p.column}: {untrusted(p.message)}")
        lines.append("")
    warnings = [(item.path, w) for item in decision.items for w in item.warnings]
    if warnings:
        lines.append("**Warnings** (a request without an instance match fails at launch time)")
        lines.append("")
        lines.extend(f"- `{path}`: {untrusted(w)}" for path, w in warnings)
        lines.append("")
    return lines
