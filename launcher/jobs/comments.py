"""Comments the jobs post at most once: each carries a hidden marker, and a marker the bot has
already posted on that pull request is never posted again (a re-run, a retry, two sweeps at
the same time). Others' copies of a marker do not count: only the bot's own comments are read.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from launcher.adapters.github import GitHub


def comment_once(
    gh: GitHub,
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
    if gh.find_comment(number, marker) is not None:
        return False
    post = functools.partial(gh.comment, number, f"{marker}\n{text}")
    if write is None:
        post()
    else:
        write(post)
    return True
