"""How the contents API answers for symlinks and submodules, as GitHub documents.

Why: ``GET /contents/{path}`` is how launcher reads files of a pull request; a symlink or
a submodule in it must come back the way GitHub returns it, or a check could be fooled
(or break) on github.com only. A symlink whose target is a regular file in the
repository answers with that file; any other symlink (outside the repository, to a
directory, dangling) with a ``symlink`` object; a submodule with a ``submodule`` object,
and as ``type: "file"`` inside a directory listing (GitHub's backward compatibility).
"""

from __future__ import annotations

import posixpath
from typing import Any
from urllib.parse import quote

from launcher.sandbox.github.gitrepo import TreeEntry
from launcher.sandbox.github.http import Request
from launcher.sandbox.github.state import Repo


def _submodule_url(repo: Repo, commit: str, path: str) -> str | None:
    """The ``url`` ``.gitmodules`` gives for the submodule at ``path``."""
    entry = repo.git.tree(commit).get(".gitmodules")
    data = repo.git.blob(entry.sha) if entry else None
    if data is None:
        return None
    section_path, section_url = None, None
    for raw in data.decode(errors="replace").splitlines() + ["[end]"]:
        line = raw.strip()
        if line.startswith("["):
            if section_path == path and section_url:
                return section_url
            section_path = section_url = None
            continue
        key, _, value = line.partition("=")
        if key.strip() == "path":
            section_path = value.strip()
        elif key.strip() == "url":
            section_url = value.strip()
    return None


def _hosted(req: Request, url: str) -> Repo | None:
    """The stand-in repository a submodule URL names, if any (else GitHub gives null URLs)."""
    for r in req.gh.state.repos.values():
        names = {f"{req.base_url}/{r.full_name}", r.git.path.as_uri()}
        if url.removesuffix(".git").removesuffix("/") in {n.removesuffix(".git") for n in names}:
            return r
    return None


def _links(self_url: str, git: str | None, html: str | None) -> dict[str, Any]:
    return {"self": self_url, "git": git, "html": html}


def special_content(
    req: Request, repo: Repo, ref: str, commit: str, entry: TreeEntry
) -> dict[str, Any] | None:
    """``GET /contents/{path}`` for a symlink or submodule entry; None for other entries."""
    shapes = req.gh.shapes
    api = f"{req.base_url}/repos/{repo.full_name}"
    path = entry.path
    self_url = f"{api}/contents/{quote(path)}?ref={quote(ref, safe='')}"
    name = path.rsplit("/", 1)[-1]
    if entry.mode == "120000":
        target = (repo.git.blob(entry.sha) or b"").decode(errors="replace")
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(path), target))
        hit = repo.git.tree(commit).get(resolved)
        inside = not target.startswith("/") and not resolved.startswith("..")
        if inside and hit is not None and hit.mode in ("100644", "100755"):
            return shapes.content_file(
                repo, resolved, hit.sha, hit.size, ref, repo.git.blob(hit.sha)
            )
        git_url = f"{api}/git/blobs/{entry.sha}"
        html = f"{req.base_url}/{repo.full_name}/blob/{ref}/{quote(path)}"
        return {
            "type": "symlink",
            "target": target,
            "size": entry.size,
            "name": name,
            "path": path,
            "sha": entry.sha,
            "url": self_url,
            "git_url": git_url,
            "html_url": html,
            "download_url": f"{req.base_url}/{repo.full_name}/raw/{ref}/{quote(path)}",
            "_links": _links(self_url, git_url, html),
        }
    if entry.type == "commit":
        url = _submodule_url(repo, commit, path) or ""
        sub = _hosted(req, url) if url else None
        sub_git: str | None = None
        sub_html: str | None = None
        if sub is not None:
            sub_git = f"{req.base_url}/repos/{sub.full_name}/git/trees/{entry.sha}"
            sub_html = f"{req.base_url}/{sub.full_name}/tree/{entry.sha}"
        return {
            "type": "submodule",
            "submodule_git_url": url,
            "size": 0,
            "name": name,
            "path": path,
            "sha": entry.sha,
            "url": self_url,
            "git_url": sub_git,
            "html_url": sub_html,
            "download_url": None,
            "_links": _links(self_url, sub_git, sub_html),
        }
    return None


def special_dir_entry(
    req: Request, repo: Repo, ref: str, commit: str, entry: TreeEntry, out: dict[str, Any]
) -> dict[str, Any]:
    """A directory listing's item: symlinks as ``symlink``, submodules as ``file`` (sic)."""
    if entry.mode == "120000":
        out["type"] = "symlink"
    elif entry.type == "commit":
        sub = special_content(req, repo, ref, commit, entry)
        assert sub is not None
        out.update(
            type="file",
            size=0,
            git_url=sub["git_url"],
            html_url=sub["html_url"],
            download_url=None,
            _links=sub["_links"],
        )
    return out
