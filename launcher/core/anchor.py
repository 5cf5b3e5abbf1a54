"""The trust anchor: which commit's control files (everything outside `deployments/`) the launch
job trusts, and whether main's control files may be used.

Why: `pools.yaml` says who may launch, so a change to it that reached main without an admin's
approval (a direct push by someone a ruleset bypass lets through, a pull request merged by an
admin bypass, a hand-made merge commit carrying more than the approved head) would judge every
later pull request. The launch job keeps an anchor, the newest commit all of whose control
files arrived through admin-approved pull requests, and refuses to act while main's control
files differ from the anchor's in a way no such pull request explains. The first anchor is
set by an admin in the repository variable `LAUNCHER_TRUSTED_COMMIT`; later ones are records
launcher writes under its own identity (a deployment in the environment `ANCHOR_ENVIRONMENT`).

Pure: the job (`launcher.jobs.anchor`) reads GitHub and calls these.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

ANCHOR_ENVIRONMENT = "launcher-trust-anchor"  # no "/": never a request's <pool>/<name>
VARIABLE = "LAUNCHER_TRUSTED_COMMIT"
REQUESTS_DIR = "deployments/"
MAX_SHOWN = 5  # paths named in a block message


def control_files(files: Mapping[str, str]) -> dict[str, str]:
    """path -> blob of every file outside deployments/: what decides who may launch, and how."""
    return {p: b for p, b in files.items() if not p.startswith(REQUESTS_DIR)}


def digest(files: Mapping[str, str]) -> str:
    """One value for a set of control files (paths and blobs): equal digests, equal files."""
    h = hashlib.sha256()
    for path, blob in sorted(control_files(files).items()):
        h.update(f"{path}\0{blob}\n".encode())
    return h.hexdigest()


def changed(before: Mapping[str, str], after: Mapping[str, str]) -> tuple[str, ...]:
    """Control paths added, removed or modified between two trees, sorted."""
    a, b = control_files(before), control_files(after)
    return tuple(sorted(p for p in set(a) | set(b) if a.get(p) != b.get(p)))


def merge_faithful(
    parent: Mapping[str, str],
    head: Mapping[str, str],
    merged: Mapping[str, str],
    pr_paths: Iterable[str],
) -> tuple[str, ...]:
    """The control paths where a pull request's merge commit differs from its head merged onto
    its base: a path the pull request changed must hold the head's content, any other path the
    parent's (the base it was merged onto). Empty when the merge added nothing of its own."""
    touched = {p for p in pr_paths if not p.startswith(REQUESTS_DIR)}
    p, h, m = control_files(parent), control_files(head), control_files(merged)
    off = []
    for path in sorted(set(p) | set(h) | set(m)):
        expected = h.get(path) if path in touched else p.get(path)
        if m.get(path) != expected:
            off.append(path)
    return tuple(off)


def shown(paths: Iterable[str]) -> str:
    listed = list(paths)
    text = ", ".join(listed[:MAX_SHOWN])
    return text + (f" and {len(listed) - MAX_SHOWN} more" if len(listed) > MAX_SHOWN else "")


@dataclass(frozen=True)
class Culprit:
    """Why some control paths are not trusted: the commit that brought them, the pull request
    (if any) and the person, in words."""

    paths: tuple[str, ...]
    commit: str
    pr: int | None
    person: str
    why: str

    def describe(self) -> str:
        via = f"#{self.pr} by @{self.person}" if self.pr else f"pushed by {self.person}"
        return f"{shown(self.paths)} in {self.commit[:7]} ({via}): {self.why}"


def block_message(head: str, paths: Iterable[str], culprits: Iterable[Culprit]) -> str:
    """`blocked: <sha> changed <paths> without an admin's approval`, then each cause."""
    text = f"blocked: {head[:7]} changed {shown(paths)} without an admin's approval"
    causes = "; ".join(c.describe() for c in culprits)
    return text + (f" ({causes})" if causes else "")


_FULL_SHA = re.compile(r"[0-9a-f]{40}")


def variable_problem(variable: str) -> str | None:
    """Why the variable cannot be an anchor: it must name one commit (a full SHA), never a
    branch or tag, which would trust whatever it points at when the job runs."""
    value = variable.strip()
    if not value or _FULL_SHA.fullmatch(value):
        return None
    shown_value = value if len(value) <= 60 else value[:57] + "..."
    return (
        f"blocked: the repository variable {VARIABLE} is {shown_value!r}, not a full commit "
        "SHA (40 hexadecimal digits): an admin sets it to one commit of main they trust"
    )


def unset_message() -> str:
    return (
        f"blocked: no trust anchor: an admin sets the repository variable {VARIABLE} to the "
        "commit of main whose pools.yaml and workflows they trust (docs/security.md, "
        '"The trust anchor"); until then launcher launches and terminates nothing'
    )


@dataclass(frozen=True)
class AnchorRecord:
    """One anchor record: `anchor` (commit trusted, digest of its control files, the variable's
    value it descends from, the pull requests that moved it) or `blocked` (the message)."""

    kind: str  # "anchor" or "blocked"
    commit: str
    digest: str = ""
    variable: str = ""
    prs: tuple[int, ...] = ()
    message: str = ""

    def encode(self) -> dict[str, Any]:
        return {
            "launcher_anchor": {
                "kind": self.kind,
                "commit": self.commit,
                "digest": self.digest,
                "variable": self.variable,
                "prs": list(self.prs),
                "message": self.message,
            }
        }


def decode_anchor(payload: Mapping[str, Any]) -> AnchorRecord | None:
    """An anchor record from a deployment payload, or None for anything else (shape checked:
    even launcher's own payloads are read as data)."""
    data = payload.get("launcher_anchor") if isinstance(payload, Mapping) else None
    if not isinstance(data, dict):
        return None
    kind, commit = data.get("kind"), data.get("commit")
    if kind not in ("anchor", "blocked") or not isinstance(commit, str):
        return None
    text = {k: data.get(k) for k in ("digest", "variable", "message")}
    if not all(isinstance(v, str) for v in text.values()):
        return None
    prs = data.get("prs", [])
    if not isinstance(prs, list) or not all(isinstance(n, int) for n in prs):
        return None
    return AnchorRecord(
        kind,
        commit,
        digest=str(text["digest"]),
        variable=str(text["variable"]),
        prs=tuple(prs),
        message=str(text["message"]),
    )


@dataclass(frozen=True)
class Start:
    """Where this run's check starts from: a commit whose control files are trusted, with their
    digest when a record carries it (no tree read), and whether it comes from the variable."""

    commit: str
    digest: str | None
    from_variable: bool


def start(records: Iterable[AnchorRecord], variable: str) -> Start | None:
    """The newest `anchor` record, unless an admin set the variable to something it does not
    descend from (a new first anchor, or an admin re-anchoring by hand); None when there is
    neither (fail closed: `unset_message`)."""
    latest = next((r for r in records if r.kind == "anchor"), None)
    variable = variable.strip()
    if variable and (latest is None or latest.variable != variable):
        return Start(variable, None, True)
    if latest is None:
        return None
    return Start(latest.commit, latest.digest, False)


def standing_block(listed: Iterable[Any]) -> str | None:
    """The block the launch job recorded last, if its newest anchor record is one (what
    `launcher status` shows); `listed`: launcher's deployments, newest first."""
    for d in listed:
        if getattr(d, "environment", None) != ANCHOR_ENVIRONMENT:
            continue
        record = decode_anchor(d.payload)
        if record is not None:
            return record.message if record.kind == "blocked" else None
    return None
