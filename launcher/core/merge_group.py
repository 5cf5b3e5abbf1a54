"""The verdict on a merge queue's group: may this commit reach the default branch?

With a merge queue, what lands on the default branch is the merge group's commit (the queued
pull requests merged onto the branch), not any pull request's head, and GitHub waits for the
required check on that commit. Each pull request was judged on its own head against its own
base; the group's commit is a new tree nobody judged. It passes only when it is nothing but
judged changes: every file that differs between the group's base and its head must hold, at
the head, exactly the content a queued pull request whose own verdict passes has at its head
for that file. A file no such pull request explains (a merge that combined two edits of one
request, a commit slipped into the queue branch) and any pull request of the group that does
not pass fail the group, naming the pull request or the file.

Pure: the job reads the trees, the group's pull requests and their verdicts; this decides.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from launcher.core.gate import State
from launcher.core.text import clip

QUEUE_PREFIX = "gh-readonly-queue/"


@dataclass(frozen=True)
class Entry:
    """One tree entry: git mode and object SHA (a blob, or a submodule's commit)."""

    mode: str
    sha: str


@dataclass(frozen=True)
class QueuedPull:
    """A pull request that may be part of the group, with its own verdict against the
    group's base. `files` maps each path the pull request changes to its entry at the pull
    request's head (None: it removes the path). `in_group`: its head commit is one of the
    group's commits, so the group certainly carries it (one found only by a number in a
    commit message may not be)."""

    number: int
    author: str
    state: State
    description: str
    files: Mapping[str, Entry | None]
    in_group: bool = True


@dataclass(frozen=True)
class Attribution:
    path: str
    pulls: tuple[int, ...]  # the passing pull requests holding this content (empty: none)


@dataclass(frozen=True)
class GroupDecision:
    state: State
    description: str
    attributions: tuple[Attribution, ...] = ()
    problems: tuple[str, ...] = ()
    failing: tuple[int, ...] = ()  # the pull requests that fail it
    pulls: tuple[int, ...] = field(default_factory=tuple)  # those whose changes the group holds

    @property
    def summary(self) -> str:
        """The check run's summary: each problem, then where each changed file came from."""
        lines = [f"**{self.state.value}**: {self.description}", ""]
        lines += [f"- {p}" for p in self.problems]
        if self.attributions:
            lines += ["", "| file | from |", "| --- | --- |"]
            for a in self.attributions:
                shown = ", ".join(f"#{n}" for n in a.pulls) or "no passing pull request"
                lines.append(f"| `{a.path}` | {shown} |")
        return "\n".join(lines)


def changed_paths(base: Mapping[str, Entry], head: Mapping[str, Entry]) -> list[str]:
    """Every path whose entry differs between the two trees (added, changed, removed)."""
    return sorted(p for p in set(base) | set(head) if base.get(p) != head.get(p))


def queue_pull_number(head_ref: str) -> int | None:
    """The pull request a queue branch is named after: `gh-readonly-queue/<base>/pr-<N>-<sha>`."""
    name = head_ref.removeprefix("refs/heads/")
    if not name.startswith(QUEUE_PREFIX):
        return None
    last = name.rsplit("/", 1)[-1]
    parts = last.split("-")
    if len(parts) == 3 and parts[0] == "pr" and parts[1].isdigit():
        return int(parts[1])
    return None


def decide_group(
    base: Mapping[str, Entry], head: Mapping[str, Entry], pulls: Iterable[QueuedPull]
) -> GroupDecision:
    """success only when every changed file is the content of a passing queued pull request
    and every pull request the group carries passes; failure otherwise, naming them."""
    candidates = sorted(pulls, key=lambda p: p.number)
    changed = changed_paths(base, head)
    problems: list[str] = []
    failing: list[int] = []
    used: set[int] = set()
    attributions: list[Attribution] = []
    for pull in candidates:
        if pull.in_group and pull.state is not State.SUCCESS:
            failing.append(pull.number)
            problems.append(_not_passing(pull))
    for path in changed:
        content = head.get(path)
        holding = [p for p in candidates if path in p.files and p.files[path] == content]
        passing = tuple(p.number for p in holding if p.state is State.SUCCESS)
        attributions.append(Attribution(path, passing))
        if passing:
            used.update(passing)
            continue
        not_passing = [p for p in holding if p.state is not State.SUCCESS]
        if not_passing:
            for p in not_passing:
                if p.number not in failing:
                    failing.append(p.number)
                    problems.append(_not_passing(p))
            continue
        what = "removes" if content is None else "holds"
        problems.append(
            f"{path}: the group {what} it as no queued pull request with a passing verdict does"
        )
    used.update(p.number for p in candidates if p.in_group)
    errors = [p for p in candidates if p.number in failing and p.state is State.ERROR]
    if errors and len(errors) == len(failing) and len(problems) == len(errors):
        state = State.ERROR
    elif problems:
        state = State.FAILURE
    else:
        state = State.SUCCESS
    if state is State.SUCCESS:
        n = len(used)
        description = (
            f"merge group of {n} pull request{'s' if n != 1 else ''}: every change judged"
            if changed
            else "merge group changes nothing"
        )
    else:
        description = (
            problems[0]
            if len(problems) == 1
            else (f"{len(problems)} problems; first: {problems[0]}")
        )
    return GroupDecision(
        state,
        clip(description),
        tuple(attributions),
        tuple(problems),
        tuple(failing),
        tuple(sorted(used)),
    )


def _not_passing(pull: QueuedPull) -> str:
    return f"#{pull.number} ({pull.author}) does not pass: {pull.state.value}: {pull.description}"
