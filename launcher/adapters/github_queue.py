"""What the merge group's verdict reads from GitHub: whole trees (mode and object of every
entry) and the commits between the default branch and a group's head.

Kept apart from `github.py` so the merge queue's reads stay in one place. A truncated tree or
a comparison longer than GitHub lists is an error (the verdict's `error`), never a shorter
answer that would hide a change.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from launcher.adapters.github import GitHub, GitHubError, _wrap
from launcher.core.merge_group import Entry

MAX_COMPARE_COMMITS = 250  # GET /compare lists at most this many commits


@dataclass(frozen=True)
class Comparison:
    merge_base: str
    status: str  # ahead, behind, identical, diverged (head against base)
    commits: tuple[tuple[str, str], ...]  # (sha, message) from the merge base to the head


@_wrap("reading a tree")
def tree_entries(gh: GitHub, sha: str) -> dict[str, Entry]:
    """Every file, symbolic link and submodule at commit `sha`: path -> (mode, object)."""
    return {
        str(e["path"]): Entry(str(e.get("mode", "")), str(e.get("sha", "")))
        for e in gh.recursive_tree(sha)
        if e.get("type") != "tree"
    }


@_wrap("comparing the merge group with the default branch")
def compare(gh: GitHub, base: str, head: str) -> Comparison:
    """The merge base of `base` and `head`, and the commits `head` adds to it."""
    requester = gh.repo._requester  # noqa: SLF001
    _, data = requester.requestJsonAndCheck(
        "GET", f"{gh.repo.url}/compare/{quote(base, safe='')}...{quote(head, safe='')}"
    )
    if not isinstance(data, dict):
        raise GitHubError("the comparison is not an object")
    total = data.get("total_commits")
    commits = data.get("commits") or []
    if not isinstance(total, int) or total >= MAX_COMPARE_COMMITS or len(commits) != total:
        raise GitHubError(
            f"the merge group adds {total} commits, more than GitHub lists in one comparison"
        )
    merge_base = (data.get("merge_base_commit") or {}).get("sha")
    if not isinstance(merge_base, str):
        raise GitHubError("the comparison names no merge base")
    return Comparison(
        merge_base,
        str(data.get("status") or ""),
        tuple(
            (str(c.get("sha")), str((c.get("commit") or {}).get("message") or ""))
            for c in commits
            if isinstance(c, dict)
        ),
    )


@_wrap("comparing commits")
def reached(gh: GitHub, sha: str, ref: str) -> bool:
    """Whether commit `sha` is on `ref` (`ref` is it, or descends from it): one comparison."""
    requester = gh.repo._requester  # noqa: SLF001
    _, data = requester.requestJsonAndCheck(
        "GET",
        f"{gh.repo.url}/compare/{quote(sha, safe='')}...{quote(ref, safe='')}",
        parameters={"per_page": 1},
    )
    return isinstance(data, dict) and data.get("status") in ("ahead", "identical")
