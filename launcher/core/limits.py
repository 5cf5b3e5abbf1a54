"""GitHub's size limits, and how launcher stays below them.

A pull request with 300 request files renders a comment longer than GitHub accepts (65,536
characters), and a check run takes at most 65,535 characters of text and 50 annotations per
request. Past a limit GitHub refuses the write and the gate would end in `error` for a request
that is fine. So every text launcher writes is capped below the limit with its summary first,
and annotations are sent in batches of 50.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

COMMENT_LIMIT = 65_536  # issue and pull request comment bodies
CHECK_TEXT_LIMIT = 65_535  # a check run's output.summary and output.text, each
ANNOTATIONS_PER_REQUEST = 50  # a check run's output.annotations per create/update
MARGIN = 1_536  # room for what is added around a capped text (markers, notes)
COMMENT_CAP = COMMENT_LIMIT - MARGIN
CHECK_TEXT_CAP = CHECK_TEXT_LIMIT - MARGIN

_T = TypeVar("_T")


def batches(items: Sequence[_T], size: int = ANNOTATIONS_PER_REQUEST) -> Iterator[Sequence[_T]]:
    """`items` in consecutive slices of at most `size` (one API request each)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def fit(
    head: Sequence[str],
    body: Sequence[str],
    tail: Sequence[str],
    cap: int,
    more: Callable[[int], str],
) -> str:
    """`head`, as many `body` lines as fit, then `more(n)` for the n left out, then `tail`,
    joined by newlines, at most `cap` characters. The head (the summary) always comes first; a
    head or tail too long on its own is cut, never the whole text refused."""
    text = "\n".join([*head, *body, *tail]) + "\n"
    if len(text) <= cap:
        return text
    fixed = len("\n".join([*head, *tail])) + 2 + len(more(len(body))) + 1
    kept: list[str] = []
    used = fixed
    for line in body:
        if used + len(line) + 1 > cap:
            break
        kept.append(line)
        used += len(line) + 1
    text = "\n".join([*head, *kept, more(len(body) - len(kept)), *tail]) + "\n"
    return text if len(text) <= cap else text[: cap - 2] + "…\n"
