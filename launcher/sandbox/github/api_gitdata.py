"""Git Database writes through REST: ``POST /git/blobs``, ``/git/trees``, ``/git/commits``.

Why: a pull request can carry more than edited text files: an executable bit, a symlink
pointing at a file elsewhere in the repository (or outside it), a submodule, several files
in one commit. Tests must be able to push exactly those objects, as anyone with write
access can on GitHub; refs then move through the refs API and ``GitHub.update_branch``.
How the contents API answers for such entries is in ``contents.py``.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from launcher.sandbox.github.api_git import R, repo_of
from launcher.sandbox.github.gitrepo import GitError, GitRepo, Person
from launcher.sandbox.github.http import Request, Response, Router, validation
from launcher.sandbox.github.state import Repo, now

MODE_TYPES = {
    "100644": "blob",
    "100755": "blob",
    "120000": "blob",
    "040000": "tree",
    "160000": "commit",
}
_SHA = re.compile(r"^[0-9a-f]{40}$")


@dataclass
class _Dir:
    """A tree being edited: entries are (mode, type, sha) or a nested ``_Dir``."""

    entries: dict[str, tuple[str, str, str] | _Dir] = field(default_factory=dict)


def _level(git: GitRepo, tree_sha: str) -> _Dir:
    out = _Dir()
    for e in git.tree_level(tree_sha):
        mode = "040000" if e.type == "tree" else e.mode
        out.entries[e.path] = (mode, e.type, e.sha)
    return out


def _subdir(git: GitRepo, root: _Dir, parts: list[str], create: bool) -> _Dir | None:
    node = root
    for part in parts:
        child = node.entries.get(part)
        if isinstance(child, tuple) and child[1] == "tree":
            child = _level(git, child[2])
            node.entries[part] = child
        if not isinstance(child, _Dir):
            if not create:
                return None
            child = _Dir()
            node.entries[part] = child
        node = child
    return node


def _write(git: GitRepo, node: _Dir) -> str | None:
    """Write ``node`` bottom-up with ``git mktree``; None for an empty tree (git keeps none)."""
    lines = []
    for name, entry in sorted(node.entries.items()):
        if isinstance(entry, _Dir):
            sha = _write(git, entry)
            if sha is None:
                continue
            entry = ("040000", "tree", sha)
        mode, otype, sha = entry
        lines.append(f"{mode} {otype} {sha}\t{name}")
    if not lines:
        return None
    data = "".join(line + "\0" for line in lines).encode()
    return git.git("mktree", "-z", "--missing", input=data).decode().strip()


def _object_type(git: GitRepo, sha: str) -> str | None:
    obj = git.read_object(sha)
    return obj[0] if obj else None


def build_tree(git: GitRepo, items: Any, base_tree: str | None) -> str:
    """The new tree's SHA for GitHub's ``POST /git/trees`` body (validated as GitHub does)."""
    if not isinstance(items, list):
        raise validation('Invalid request.\n\n"tree" wasn\'t supplied.')
    if base_tree is not None:
        kind = _object_type(git, base_tree) if _SHA.match(str(base_tree)) else None
        if kind == "commit":
            info = git.commit(base_tree)
            assert info is not None
            base_tree, kind = info.tree, "tree"
        if kind != "tree":
            raise validation("base_tree is not a valid tree oid")
        root = _level(git, base_tree)
    else:
        root = _Dir()
    for item in items:
        if not isinstance(item, dict):
            raise validation("Invalid tree info")
        path = str(item.get("path") or "").strip("/")
        parts = path.split("/")
        if not path or any(p in ("", ".", "..", ".git") for p in parts):
            raise validation(f"tree.path {path!r} is invalid")
        mode, otype = item.get("mode"), item.get("type")
        if mode not in MODE_TYPES:
            raise validation(f"tree.mode {mode!r} is invalid for {path}")
        if otype is None:
            otype = MODE_TYPES[mode]
        if MODE_TYPES[mode] != otype:
            raise validation(f"tree.type {otype!r} does not match mode {mode} for {path}")
        if "sha" in item and "content" in item:
            raise validation("Only one of tree.sha or tree.content may be given")
        parent = _subdir(git, root, parts[:-1], create=item.get("sha", "") is not None)
        name = parts[-1]
        if "sha" in item and item["sha"] is None:
            if parent is None or name not in parent.entries:
                raise validation(f"tree.path {path} does not exist and cannot be deleted")
            del parent.entries[name]
            continue
        assert parent is not None
        if "content" in item:
            if otype != "blob":
                raise validation(f"tree.content is only valid for blobs ({path})")
            content = item["content"]
            if not isinstance(content, str):
                raise validation("tree.content must be a string")
            sha = git.git("hash-object", "-w", "--stdin", input=content.encode()).decode().strip()
        else:
            sha = str(item.get("sha") or "")
            if not _SHA.match(sha):
                raise validation(f"tree.sha {sha!r} is not a valid object id")
            if otype != "commit" and _object_type(git, sha) != otype:
                raise validation(f"tree.sha {sha} is not a valid {otype}")
        parent.entries[name] = (mode, otype, sha)
    written = _write(git, root)
    if written is None:
        written = git.git("mktree", "-z", input=b"").decode().strip()
    return written


def _person(raw: Any, default: Person, field_name: str) -> Person:
    if raw is None:
        return default
    if not isinstance(raw, dict) or not raw.get("name") or not raw.get("email"):
        raise validation(f"Invalid request.\n\n{field_name} must have name and email.")
    ts = default.timestamp
    if raw.get("date"):
        try:
            ts = int(datetime.fromisoformat(str(raw["date"]).replace("Z", "+00:00")).timestamp())
        except ValueError:
            raise validation(f"Invalid request.\n\n{field_name}.date is not a date-time.") from None
    return Person(str(raw["name"]), str(raw["email"]), ts)


def _tree_json(req: Request, repo: Repo, tree_sha: str) -> dict[str, Any]:
    api = f"{req.base_url}/repos/{repo.full_name}/git"
    listing = []
    for e in repo.git.tree_level(tree_sha):
        item: dict[str, Any] = {"path": e.path, "mode": e.mode, "type": e.type, "sha": e.sha}
        if e.type == "blob":
            item["size"] = e.size
            item["url"] = f"{api}/blobs/{e.sha}"
        elif e.type == "tree":
            item["url"] = f"{api}/trees/{e.sha}"
        listing.append(item)
    return {"sha": tree_sha, "url": f"{api}/trees/{tree_sha}", "tree": listing, "truncated": False}


def register(router: Router) -> None:
    @router.add("POST", f"{R}/git/blobs", "git/create-blob")
    def create_blob(req: Request) -> Response:
        repo = repo_of(req)
        req.gh.require(repo, req.user, "write")
        body = req.json()
        content, encoding = body.get("content"), body.get("encoding", "utf-8")
        if not isinstance(content, str):
            raise validation('Invalid request.\n\n"content" wasn\'t supplied.')
        if encoding in ("utf-8", "utf8"):
            data = content.encode()
        elif encoding == "base64":
            try:
                data = base64.b64decode(content, validate=False)
            except (binascii.Error, ValueError):
                raise validation("content is not valid Base64") from None
        else:
            raise validation(
                f"encoding must be one of utf-8 or base64, not {encoding}",
                resource="Blob",
                field="encoding",
                code="invalid",
            )
        sha = repo.git.git("hash-object", "-w", "--stdin", input=data).decode().strip()
        url = f"{req.base_url}/repos/{repo.full_name}/git/blobs/{sha}"
        return Response(201, {"url": url, "sha": sha}, {"Location": url})

    @router.add("POST", f"{R}/git/trees", "git/create-tree")
    def create_tree(req: Request) -> Response:
        repo = repo_of(req)
        req.gh.require(repo, req.user, "write")
        body = req.json()
        with req.gh.state.lock:
            sha = build_tree(repo.git, body.get("tree"), body.get("base_tree"))
        out = _tree_json(req, repo, sha)
        return Response(201, out, {"Location": out["url"]})

    @router.add("POST", f"{R}/git/commits", "git/create-commit")
    def create_commit(req: Request) -> Response:
        repo = repo_of(req)
        actor = req.gh.require(repo, req.user, "write")
        body = req.json()
        message, tree = body.get("message"), body.get("tree")
        if not isinstance(message, str):
            raise validation('Invalid request.\n\n"message" wasn\'t supplied.')
        if not isinstance(tree, str) or _object_type(repo.git, tree) != "tree":
            raise validation("Tree SHA does not exist")
        parents = body.get("parents") or []
        if not isinstance(parents, list) or any(
            not isinstance(p, str) or repo.git.commit(p) is None for p in parents
        ):
            raise validation("Parent SHA does not exist or is not a commit object")
        me = req.gh._person(actor, int(now()))
        author = _person(body.get("author"), me, "author")
        committer = _person(body.get("committer"), author, "committer")
        env = {
            "GIT_AUTHOR_NAME": author.name,
            "GIT_AUTHOR_EMAIL": author.email,
            "GIT_AUTHOR_DATE": f"{author.timestamp} +0000",
            "GIT_COMMITTER_NAME": committer.name,
            "GIT_COMMITTER_EMAIL": committer.email,
            "GIT_COMMITTER_DATE": f"{committer.timestamp} +0000",
        }
        args = ["commit-tree", tree]
        for p in parents:
            args += ["-p", p]
        try:
            sha = repo.git.git(*args, input=message.encode(), env=env).decode().strip()
        except GitError as exc:
            raise validation(str(exc)) from None
        c = repo.git.commit(sha)
        assert c is not None
        out = req.gh.shapes.git_commit(repo, c)
        return Response(201, out, {"Location": out["url"]})
