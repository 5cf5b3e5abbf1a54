"""What lets a re-run of the gate skip deciding, kept only where launcher's identity writes.

Any writer can edit the gate's sticky comment, so the comment holds hints only (which teams
were consulted, which labels were set). The memory itself is a digest of everything the
decision depended on (the fingerprint of its inputs), what it set (labels) and what it said
(state, description) and which foreign verdicts it reported, kept in launcher's own verdict:
today the bot's commit status (its `target_url` carries the digest as a fragment), and the
launcher app's check run (`external_id`) once the verdict is a check run (issue 16). An edited
comment then only makes a re-run decide again; it can never make one skip.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

from launcher.adapters.github_verdicts import Verdict, VerdictRecord

FRAGMENT = "#launcher-memory="


def digest(
    fingerprint: str,
    labels: Sequence[str] | None,
    status: tuple[str, str],
    foreign: Sequence[Verdict] = (),
) -> str:
    data = {
        "fingerprint": fingerprint,
        "labels": sorted(labels) if labels is not None else None,
        "status": list(status),
        "foreign": sorted([v.creator.casefold(), v.state, v.description] for v in foreign),
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:40]


def target_url(html_url: str, memo: str) -> str:
    """The status's link (the pull request) with the memory as a fragment browsers ignore."""
    return f"{html_url.split('#', 1)[0]}{FRAGMENT}{memo}"


def memo_of(verdict: Verdict | None) -> str | None:
    if verdict is None or FRAGMENT not in verdict.target_url:
        return None
    return verdict.target_url.rsplit(FRAGMENT, 1)[1] or None


def may_skip(
    record: VerdictRecord, fingerprint: str, labels: Sequence[str] | None, error_state: str
) -> bool:
    """A re-run may skip when launcher's own verdict carries the digest of the inputs read
    now, the labels the comment's hint says were set, and that verdict's own text; an error
    is never reused, and a verdict shadowed by someone else's is written again."""
    own = record.own
    if own is None or own.state == error_state or record.shadowed:
        return False
    memo = memo_of(own)
    return memo is not None and memo == digest(
        fingerprint, labels, (own.state, own.description), record.foreign
    )


def foreign_notes(record: VerdictRecord, context: str) -> list[str]:
    """What the comment says about verdicts of launcher's name set by anyone else."""
    return [
        f"a {context} status was also set by {v.creator} "
        f"({v.state}: {v.description or 'no text'}): launcher ignores it; only launcher's "
        "own verdict counts (the ruleset requires the check from the launcher app)"
        for v in record.foreign
    ]
