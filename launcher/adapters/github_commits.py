"""Reading one commit of the default branch for the trust anchor: its first parent (the base a
pull request was merged onto) and who GitHub says authored it.

Kept apart from `github.py` so the anchor's reads stay in one place. One request.
"""

from __future__ import annotations

from dataclasses import dataclass

from launcher.adapters.github import GitHub, _wrap


@dataclass(frozen=True)
class CommitFacts:
    sha: str
    parent: str | None  # the first parent: main before this commit
    author: str  # the GitHub login GitHub matched to the commit, or the git author's name


@_wrap("reading a commit")
def commit_facts(gh: GitHub, sha: str) -> CommitFacts:
    commit = gh.repo.get_commit(sha)
    parents = commit.parents
    login = commit.author.login if commit.author is not None else None
    name = login or (commit.commit.author.name if commit.commit.author else "") or "someone"
    return CommitFacts(commit.sha, parents[0].sha if parents else None, name)
