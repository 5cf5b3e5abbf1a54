"""Repository, git data, contents, commits and compare endpoints."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from launcher.sandbox.github.contents import special_content, special_dir_entry
from launcher.sandbox.github.http import ApiError, Request, Response, Router, not_found, validation
from launcher.sandbox.github.rules import RuleViolation
from launcher.sandbox.github.service import EMPTY_TREE
from launcher.sandbox.github.state import PERMISSIONS, Repo

R = "/repos/{owner}/{repo}"
OBJECT_MEDIA = "application/vnd.github.object"


def repo_of(req: Request) -> Repo:
    return req.gh.get_repo(req.params["owner"], req.params["repo"], req.user)


def commit_or_404(req: Request, repo: Repo, ref: str) -> str:
    sha = req.gh.resolve(repo, ref)
    if sha is None:
        raise ApiError(422 if "/commits/" in req.path else 404, f"No commit found for SHA: {ref}")
    return sha


def branch_protection_summary(req: Request, repo: Repo, name: str) -> dict[str, Any]:
    """``protected`` and ``protection`` of a branch as ``GET branches/{b}`` shows them."""
    sources = req.gh.rules.sources(repo, name)
    checks = req.gh.rules.required_checks(repo, name)
    return {
        "protected": bool(sources),
        "protection": {
            "enabled": bool(sources),
            "required_status_checks": {
                "enforcement_level": "non_admins" if checks else "off",
                "contexts": [c for c, _ in checks],
                "checks": [{"context": c, "app_id": a} for c, a in checks],
            },
        },
    }


def register(router: Router) -> None:  # noqa: C901 - a flat list of routes
    @router.add("GET", R, "repos/get")
    def get_repo(req: Request) -> Response:
        repo = repo_of(req)
        return Response(200, req.gh.shapes.repo(repo, viewer=req.user, full=True))

    # -- collaborators -------------------------------------------------------------
    def need_push(req: Request, repo: Repo) -> None:
        if not req.gh.state.can(repo, req.require_user(), "write"):
            raise ApiError(403, "Must have push access to view repository collaborators.")

    def collaborator(req: Request, repo: Repo, login: str) -> dict[str, Any]:
        perm = req.gh.state.permission(repo, login) or "read"
        rank = PERMISSIONS.index(perm)
        return {
            **req.gh.shapes.simple_user(login),
            "permissions": {
                "admin": rank >= 4,
                "maintain": rank >= 3,
                "push": rank >= 2,
                "triage": rank >= 1,
                "pull": True,
            },
            "role_name": perm,
        }

    @router.add("GET", f"{R}/collaborators", "repos/list-collaborators")
    def list_collaborators(req: Request) -> Response:
        repo = repo_of(req)
        need_push(req, repo)
        st = req.gh.state
        logins = {
            u.login
            for u in st.users.values()
            if u.type != "Organization" and st.permission(repo, u.login) is not None
        }
        return req.paginate([collaborator(req, repo, u) for u in sorted(logins, key=str.lower)])

    @router.add("GET", f"{R}/collaborators/{{username}}", "repos/check-collaborator")
    def check_collaborator(req: Request) -> Response:
        repo = repo_of(req)
        need_push(req, repo)
        user = req.gh.state.user(req.params["username"])
        if user is None or req.gh.state.permission(repo, user.login) is None:
            raise not_found()
        return Response(204)

    @router.add(
        "GET",
        f"{R}/collaborators/{{username}}/permission",
        "repos/get-collaborator-permission-level",
    )
    def collaborator_permission(req: Request) -> Response:
        repo = repo_of(req)
        user = req.gh.state.user(req.params["username"])
        if user is None:
            raise not_found()
        perm = req.gh.state.permission(repo, user.login)
        role = perm or ("none" if repo.private else "read")
        legacy = {"maintain": "write", "triage": "read"}.get(role, role)
        return Response(
            200,
            {"permission": legacy, "role_name": role, "user": collaborator(req, repo, user.login)},
        )

    # -- branches and refs ---------------------------------------------------------
    @router.add("GET", f"{R}/branches/{{branch}}", "repos/get-branch")
    def get_branch(req: Request) -> Response:
        repo = repo_of(req)
        name = req.params["branch"]
        sha = repo.branches.get(name)
        if sha is None:
            raise ApiError(404, "Branch not found")
        c = repo.git.commit(sha)
        assert c is not None
        api = f"{req.base_url}/repos/{repo.full_name}"
        return Response(
            200,
            {
                "name": name,
                "commit": req.gh.shapes.commit(repo, c),
                "_links": {
                    "self": f"{api}/branches/{name}",
                    "html": f"{req.base_url}/{repo.full_name}/tree/{name}",
                },
                **branch_protection_summary(req, repo, name),
                "protection_url": f"{api}/branches/{name}/protection",
            },
        )

    def ref_sha(repo: Repo, ref: str) -> str | None:
        if ref.startswith("heads/"):
            return repo.branches.get(ref[len("heads/") :])
        return repo.git.ref(f"refs/{ref}")

    @router.add("GET", f"{R}/git/ref/{{ref}}", "git/get-ref")
    def get_ref(req: Request) -> Response:
        repo = repo_of(req)
        ref = req.params["ref"]
        sha = ref_sha(repo, ref)
        if sha is None:
            raise not_found()
        return Response(200, req.gh.shapes.git_ref(repo, f"refs/{ref}", sha))

    @router.add("GET", f"{R}/git/matching-refs/{{ref}}", "git/list-matching-refs")
    def matching_refs(req: Request) -> Response:
        """Every branch or tag whose name starts with ``refs/{ref}`` (``[]`` when none)."""
        repo = repo_of(req)
        prefix = "refs/" + req.params["ref"]
        refs = {f"refs/heads/{b}": sha for b, sha in repo.branches.items()}
        for name, sha in repo.git.refs().items():
            if name.startswith("refs/tags/"):
                refs[name] = sha
        shapes = req.gh.shapes
        found = sorted(name for name in refs if name.startswith(prefix))
        return req.paginate([shapes.git_ref(repo, name, refs[name]) for name in found])

    @router.add("POST", f"{R}/git/refs", "git/create-ref")
    def create_ref(req: Request) -> Response:
        repo = repo_of(req)
        actor = req.gh.require(repo, req.user, "write")
        body = req.json()
        ref, sha = body.get("ref"), body.get("sha")
        if not isinstance(ref, str) or not ref.startswith("refs/") or ref.count("/") < 2:
            raise validation(
                "Reference name is invalid"
                if ref
                else 'Invalid request.\n\n"ref" wasn\'t supplied.'
            )
        if not isinstance(sha, str) or repo.git.commit(sha) is None:
            raise validation("Object does not exist")
        if ref.startswith("refs/heads/"):
            if ref[len("refs/heads/") :] in repo.branches:
                raise validation("Reference already exists")
            req.gh.set_branch(repo, ref[len("refs/heads/") :], sha, actor)
        else:
            if repo.git.ref(ref):
                raise validation("Reference already exists")
            repo.git.update_ref(ref, sha)
        return Response(
            201,
            req.gh.shapes.git_ref(repo, ref, sha),
            {"Location": f"{req.base_url}/repos/{repo.full_name}/git/{ref}"},
        )

    @router.add("PATCH", f"{R}/git/refs/{{ref}}", "git/update-ref")
    def update_ref(req: Request) -> Response:
        repo = repo_of(req)
        actor = req.gh.require(repo, req.user, "write")
        body = req.json()
        ref, sha = req.params["ref"], body.get("sha")
        if ref_sha(repo, ref) is None:
            raise validation("Reference does not exist")
        if not isinstance(sha, str) or repo.git.commit(sha) is None:
            raise validation("Object does not exist")
        if ref.startswith("heads/"):
            req.gh.set_branch(repo, ref[len("heads/") :], sha, actor, bool(body.get("force")))
        else:
            repo.git.update_ref(f"refs/{ref}", sha)
        return Response(200, req.gh.shapes.git_ref(repo, f"refs/{ref}", sha))

    @router.add("DELETE", f"{R}/git/refs/{{ref}}", "git/delete-ref")
    def delete_ref(req: Request) -> Response:
        repo = repo_of(req)
        actor = req.gh.require(repo, req.user, "write")
        ref = req.params["ref"]
        if ref_sha(repo, ref) is None:
            raise validation("Reference does not exist")
        if ref.startswith("heads/"):
            req.gh.set_branch(repo, ref[len("heads/") :], None, actor)
        else:
            repo.git.delete_ref(f"refs/{ref}")
        return Response(204)

    # -- git data ---------------------------------------------------------------------
    @router.add("GET", f"{R}/git/commits/{{commit_sha}}", "git/get-commit")
    def get_git_commit(req: Request) -> Response:
        repo = repo_of(req)
        c = repo.git.commit(req.params["commit_sha"])
        if c is None:
            raise not_found()
        return Response(200, req.gh.shapes.git_commit(repo, c))

    @router.add("GET", f"{R}/git/trees/{{tree_sha}}", "git/get-tree")
    def get_tree(req: Request) -> Response:
        repo = repo_of(req)
        sha = req.params["tree_sha"]
        resolved = req.gh.resolve(repo, sha) or sha
        obj = repo.git.read_object(resolved)
        if obj is None:
            raise not_found()
        tree_sha = repo.git.commit(resolved).tree if obj[0] == "commit" else resolved  # type: ignore[union-attr]
        api = f"{req.base_url}/repos/{repo.full_name}/git"
        if req.query.get("recursive") not in (None, "", "0", "false"):
            # Directories carry neither size nor a blob url; submodule entries (type
            # "commit") carry neither size nor url on GitHub.
            listing: list[dict[str, object]] = [
                {"path": e.path, "mode": e.mode, "type": e.type, "sha": e.sha}
                | ({"size": e.size, "url": f"{api}/blobs/{e.sha}"} if e.type == "blob" else {})
                | ({"url": f"{api}/trees/{e.sha}"} if e.type == "tree" else {})
                for e in repo.git.tree_all(tree_sha)
            ]
            listing.sort(key=lambda d: str(d["path"]))
        else:
            listing = []
            for e in repo.git.tree_level(tree_sha):
                item: dict[str, Any] = {
                    "path": e.path,
                    "mode": e.mode,
                    "type": e.type,
                    "sha": e.sha,
                }
                if e.type != "commit":
                    item["url"] = f"{api}/{'trees' if e.type == 'tree' else 'blobs'}/{e.sha}"
                if e.type == "blob":
                    item["size"] = e.size
                listing.append(item)
        return Response(
            200,
            {
                "sha": tree_sha,
                "url": f"{api}/trees/{tree_sha}",
                "tree": listing,
                "truncated": False,
            },
        )

    @router.add("GET", f"{R}/git/blobs/{{file_sha}}", "git/get-blob")
    def get_blob(req: Request) -> Response:
        repo = repo_of(req)
        sha = req.params["file_sha"]
        data = repo.git.blob(sha)
        if data is None:
            raise not_found()
        return Response(
            200,
            {
                "sha": sha,
                "node_id": f"B_kwDO{sha[:16]}",
                "size": len(data),
                "url": f"{req.base_url}/repos/{repo.full_name}/git/blobs/{sha}",
                "content": base64.encodebytes(data).decode(),
                "encoding": "base64",
            },
        )

    # -- contents ----------------------------------------------------------------------
    @router.add("GET", f"{R}/contents/{{path}}", "repos/get-content")
    def get_content(req: Request) -> Response:
        repo = repo_of(req)
        ref = req.query.get("ref") or repo.default_branch
        sha = req.gh.resolve(repo, ref)
        if sha is None:
            raise ApiError(404, f"No commit found for the ref {ref}")
        path = req.params["path"].strip("/")
        tree = repo.git.tree(sha)
        entry = tree.get(path)
        shapes = req.gh.shapes
        if entry is not None and (special := special_content(req, repo, ref, sha, entry)):
            return Response(200, special)
        accept = (req.headers.get("Accept") if req.headers else None) or ""
        if entry is not None and entry.type == "blob" and ".raw" in accept:
            # application/vnd.github.raw(+json): the file's bytes, not the JSON wrapper.
            data = repo.git.blob(entry.sha) or b""
            return Response(200, data, {"Content-Type": "application/vnd.github.raw+json"})
        # application/vnd.github.object: one object whatever the path is (a directory's
        # items under "entries"), as the contents API documents.
        as_object = OBJECT_MEDIA in accept
        if entry is not None and entry.type == "blob":
            return Response(
                200,
                shapes.content_file(
                    repo, path, entry.sha, entry.size, ref, repo.git.blob(entry.sha)
                ),
                operation=f"repos/get-content@{OBJECT_MEDIA}" if as_object else None,
            )
        prefix = path + "/"
        children: dict[str, tuple[str, str, int]] = {}
        for p, _e in tree.items():
            if p.startswith(prefix):
                name = p[len(prefix) :].split("/", 1)[0]
                full = prefix + name
                if full in tree:
                    children[full] = ("blob", tree[full].sha, tree[full].size)
                elif full not in children:
                    children[full] = ("tree", "", 0)
        if not children:
            raise not_found()
        listing = []
        for full, (otype, osha, size) in sorted(children.items()):
            if otype == "tree":
                osha = repo.git.git("rev-parse", f"{sha}:{full}").decode().strip()
            item = shapes.content_dir_entry(repo, full, otype, osha, size, ref)
            if full in tree:
                item = special_dir_entry(req, repo, ref, sha, tree[full], item)
            listing.append(item)
        if as_object:
            tree_sha = repo.git.git("rev-parse", f"{sha}:{path}").decode().strip()
            out = shapes.content_dir_entry(repo, path, "tree", tree_sha, 0, ref)
            out["entries"] = listing
            return Response(200, out, operation=f"repos/get-content@{OBJECT_MEDIA}")
        return Response(200, listing)

    def author_of(req: Request, body: dict[str, Any], actor: str) -> str:
        return actor

    def write_file(req: Request, delete: bool) -> Response:
        repo = repo_of(req)
        actor = req.gh.require(repo, req.user, "write")
        body = req.json()
        path = req.params["path"].strip("/")
        message = body.get("message")
        if not message:
            raise validation('Invalid request.\n\n"message" wasn\'t supplied.')
        branch = body.get("branch") or repo.default_branch
        head = repo.branches.get(branch)
        if head is None:
            raise ApiError(404 if delete else 422, f"Branch {branch} not found")
        entry = repo.git.tree(head).get(path)
        given = body.get("sha")
        if delete:
            if entry is None:
                raise not_found()
            if not given:
                raise validation('Invalid request.\n\n"sha" wasn\'t supplied.')
            if given != entry.sha:
                raise ApiError(409, f"{path} does not match {given}")
            content: bytes | None = None
        else:
            if entry is not None and not given:
                raise validation('Invalid request.\n\n"sha" wasn\'t supplied.')
            if entry is not None and given != entry.sha:
                raise ApiError(409, f"{path} does not match {given}")
            try:
                content = base64.b64decode(body.get("content") or "", validate=False)
            except (binascii.Error, ValueError):
                raise validation("content is not valid Base64") from None
        try:
            sha = req.gh.push_files(repo, branch, {path: content}, message, actor)
        except RuleViolation as refused:
            raise refused.for_contents_api() from None
        c = repo.git.commit(sha)
        assert c is not None
        commit = req.gh.shapes.git_commit(repo, c)
        if delete:
            return Response(200, {"content": None, "commit": commit})
        new = repo.git.tree(sha)[path]
        file_json = req.gh.shapes.content_file(repo, path, new.sha, new.size, branch, None)
        file_json.pop("content", None)
        file_json.pop("encoding", None)
        return Response(201 if entry is None else 200, {"content": file_json, "commit": commit})

    @router.add("PUT", f"{R}/contents/{{path}}", "repos/create-or-update-file-contents")
    def put_content(req: Request) -> Response:
        return write_file(req, delete=False)

    @router.add("DELETE", f"{R}/contents/{{path}}", "repos/delete-file")
    def delete_content(req: Request) -> Response:
        return write_file(req, delete=True)

    # -- commits and compare ------------------------------------------------------------
    @router.add("GET", f"{R}/commits", "repos/list-commits")
    def list_commits(req: Request) -> Response:
        repo = repo_of(req)
        ref = req.query.get("sha") or repo.default_branch
        sha = req.gh.resolve(repo, ref)
        if sha is None:
            raise not_found()
        shas = repo.git.log(sha, req.query.get("path"), limit=1000)
        page = req.paginate(shas)
        page.body = [req.gh.shapes.commit(repo, repo.git.commit(s)) for s in page.body]  # type: ignore[arg-type]
        return page

    @router.add("GET", f"{R}/commits/{{ref}}", "repos/get-commit")
    def get_commit(req: Request) -> Response:
        repo = repo_of(req)
        sha = commit_or_404(req, repo, req.params["ref"])
        c = repo.git.commit(sha)
        assert c is not None
        files = repo.git.diff(c.parents[0] if c.parents else EMPTY_TREE, sha)
        return Response(200, req.gh.shapes.commit(repo, c, files))

    @router.add("GET", f"{R}/compare/{{basehead}}", "repos/compare-commits-with-basehead")
    def compare(req: Request) -> Response:
        repo = repo_of(req)
        basehead = req.params["basehead"]
        if "..." in basehead:
            base_ref, head_ref = basehead.split("...", 1)
        elif ".." in basehead:
            base_ref, head_ref = basehead.split("..", 1)
        else:
            raise not_found()
        base, head = req.gh.resolve(repo, base_ref), req.gh.resolve(repo, head_ref)
        if base is None or head is None:
            raise not_found()
        mb = repo.git.merge_base(base, head)
        ahead = repo.git.rev_list(base, head)
        behind = repo.git.rev_list(head, base)
        status = (
            "identical"
            if base == head
            else "ahead"
            if not behind
            else "behind"
            if not ahead
            else "diverged"
        )
        shapes = req.gh.shapes
        bc, mbc = repo.git.commit(base), repo.git.commit(mb or base)
        assert bc is not None and mbc is not None
        files = repo.git.diff(mb or base, head)
        web = f"{req.base_url}/{repo.full_name}/compare/{base_ref}...{head_ref}"
        return Response(
            200,
            {
                "url": f"{req.base_url}/repos/{repo.full_name}/compare/{basehead}",
                "html_url": web,
                "permalink_url": f"{req.base_url}/{repo.full_name}/compare/{repo.owner}:{base[:7]}"
                f"...{repo.owner}:{head[:7]}",
                "diff_url": f"{web}.diff",
                "patch_url": f"{web}.patch",
                "base_commit": shapes.commit(repo, bc),
                "merge_base_commit": shapes.commit(repo, mbc),
                "status": status,
                "ahead_by": len(ahead),
                "behind_by": len(behind),
                "total_commits": len(ahead),
                "commits": [shapes.commit(repo, repo.git.commit(s)) for s in ahead[:250]],  # type: ignore[arg-type]
                "files": [shapes.diff_entry(repo, head, f) for f in files[:300]],
            },
        )

    @router.add(
        "GET",
        f"{R}/commits/{{commit_sha}}/pulls",
        "repos/list-pull-requests-associated-with-commit",
    )
    def commit_pulls(req: Request) -> Response:
        repo = repo_of(req)
        sha = req.gh.resolve(repo, req.params["commit_sha"])
        if sha is None:
            raise ApiError(422, f"No commit found for SHA: {req.params['commit_sha']}")
        found = []
        for issue in sorted(repo.pulls(), key=lambda i: -i.number):
            pr = issue.pull
            assert pr is not None
            head, base = repo.head_sha(issue), repo.base_sha(issue)
            if sha in (head, pr.merge_commit_sha) or sha in repo.git.rev_list(base, head):
                found.append(req.gh.shapes.pull(repo, issue))
        return req.paginate(found)
