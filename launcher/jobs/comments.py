"""Comments the jobs post at most once: each carries a hidden marker, and a marker the bot has
already posted on that pull request is never posted again (a re-run, a retry), and when two
runs at the same time both posted it, the next one deletes the later copy. Others' copies of
a marker do not count: only the bot's own comments are read.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable

from launcher.jobs.ports import GitHubPort


def comment_once(
    gh: GitHubPort,
    number: int,
    marker: str,
    text: str,
    *,
    write: Callable[[Callable[[], object]], object] | None = None,
) -> bool:
    """Post `text` under `marker` on pull request `number` unless the bot already did.

    `write` runs the posting (the sweep passes its budget, which may defer it or, in a dry
    run, only describe it); by default it is posted now. True when it was not there yet.
    """
    found = gh.find_comments(number, marker)
    if found:
        # two runs racing may both have posted: the oldest stays, later copies go
        for duplicate in sorted(found, key=lambda c: c.id)[1:]:
            gh.delete_comment(number, duplicate.id)
        return False
    post = functools.partial(gh.comment, number, f"{marker}\n{text}")
    if write is None:
        post()
    else:
        write(post)
    return True


def remove_duplicates(
    gh: GitHubPort,
    number: int,
    prefix: str,
    *,
    write: Callable[[str, Callable[[], object]], object],
) -> int:
    """Delete the later copies of each of the bot's markers starting with `prefix` on pull
    request `number` (one comments listing): a race left two, or a run crashed before it could
    tidy up. The oldest copy stays, as `comment_once` keeps it. `write(what, delete)` runs each
    deletion (the sweep's budget). Returns how many copies were found doubled."""
    pattern = re.compile(re.escape(prefix) + r"[^>]*-->")
    by_marker: dict[str, list[int]] = {}
    for comment in gh.find_comments(number, prefix):
        found = pattern.search(comment.body or "")
        if found:
            by_marker.setdefault(found.group(0), []).append(comment.id)
    doubled = 0
    for marker, ids in sorted(by_marker.items()):
        for duplicate in sorted(ids)[1:]:
            doubled += 1
            write(
                f"delete a doubled comment {marker} on #{number}",
                functools.partial(gh.delete_comment, number, duplicate),
            )
    return doubled
