"""Git Database writes through REST, and the contents API for what they can create.

A pull request can carry an executable, a symlink (to a file in the repository or
outside it) and a submodule; each must read back as GitHub returns it.
"""

from __future__ import annotations

import base64
import subprocess

import pytest
from github import GithubException, InputGitAuthor, InputGitTreeElement

from tests.sandbox.conftest import World
from tests.sandbox.test_http import call

SCRIPT = b"#!/bin/sh\necho launch\n"


def test_symlink_submodule_and_executable_round_trip(world: World) -> None:
    sb = world.sb
    sb.create_repo("acme", "lib", {"lib.py": b"x = 1\n"})
    lib_sha = sb.branch_sha("acme/lib", "main")
    repo = world.repo("alice")
    main = repo.get_git_commit(sb.branch_sha("acme/infra", "main"))

    blob = repo.create_git_blob(base64.b64encode(SCRIPT).decode(), "base64")
    gitmodules = f'[submodule "vendor/lib"]\n\tpath = vendor/lib\n\turl = {sb.url}/acme/lib.git\n'
    tree = repo.create_git_tree(
        [
            InputGitTreeElement("bin/run.sh", "100755", "blob", sha=blob.sha),
            InputGitTreeElement("pools-link.yaml", "120000", "blob", content="pools.yaml"),
            InputGitTreeElement("docs/escape", "120000", "blob", content="../../etc/passwd"),
            InputGitTreeElement("vendor/lib", "160000", "commit", sha=lib_sha),
            InputGitTreeElement(".gitmodules", "100644", "blob", content=gitmodules),
            InputGitTreeElement("README.md", "100644", "blob", sha=None),
        ],
        base_tree=main.tree,
    )
    when = "2026-11-30T12:00:00Z"
    commit = repo.create_git_commit(
        "Add tooling",
        tree,
        [main],
        author=InputGitAuthor("Someone Else", "else@example.com", when),
    )
    assert commit.author.name == "Someone Else" and commit.parents[0].sha == main.sha
    assert commit.tree.sha == tree.sha
    repo.create_git_ref("refs/heads/tooling", commit.sha)

    # The tree as git stores it.
    modes = {e.path: (e.mode, e.type) for e in repo.get_git_tree(commit.sha, recursive=True).tree}
    assert modes["bin/run.sh"] == ("100755", "blob")
    assert modes["pools-link.yaml"] == ("120000", "blob")
    assert modes["vendor/lib"] == ("160000", "commit")
    assert "README.md" not in modes and modes["pools.yaml"] == ("100644", "blob")
    listed = subprocess.run(
        ["git", "--git-dir", str(sb.git_dir("acme/infra")), "ls-tree", "-r", "tooling"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert f"160000 commit {lib_sha}\tvendor/lib" in listed

    token = world.tokens["alice"]
    raw = call(sb, "GET", f"/repos/acme/infra/git/trees/{commit.sha}?recursive=1", token)[2]
    submodule = next(e for e in raw["tree"] if e["path"] == "vendor/lib")
    assert submodule == {"path": "vendor/lib", "mode": "160000", "type": "commit", "sha": lib_sha}

    def contents(path: str) -> object:
        status, _, body = call(sb, "GET", f"/repos/acme/infra/contents/{path}?ref=tooling", token)
        assert status == 200, body
        return body

    # An executable is a file; a symlink to a file in the repository answers with that file.
    run = contents("bin/run.sh")
    assert isinstance(run, dict) and run["type"] == "file"
    assert base64.b64decode(run["content"]) == SCRIPT
    link = contents("pools-link.yaml")
    assert isinstance(link, dict) and link["type"] == "file" and link["path"] == "pools.yaml"
    assert base64.b64decode(link["content"]) == b"pools:\n  gpu: {}\n"
    # A symlink leaving the repository answers with the symlink itself.
    escape = contents("docs/escape")
    assert isinstance(escape, dict)
    assert (escape["type"], escape["target"]) == ("symlink", "../../etc/passwd")
    # A submodule: its URL from .gitmodules and the pinned commit.
    sub = contents("vendor/lib")
    assert isinstance(sub, dict) and sub["type"] == "submodule"
    assert sub["submodule_git_url"] == f"{sb.url}/acme/lib.git" and sub["sha"] == lib_sha
    assert sub["git_url"] == f"{sb.url}/repos/acme/lib/git/trees/{lib_sha}"
    # In a directory listing a submodule is a "file" (GitHub's backward compatibility).
    vendor = contents("vendor")
    assert isinstance(vendor, list)
    assert [(e["name"], e["type"], e["size"]) for e in vendor] == [("lib", "file", 0)]
    docs = contents("docs")
    assert isinstance(docs, list)
    assert [(e["name"], e["type"]) for e in docs] == [("escape", "symlink")]
    status, _, _ = call(sb, "GET", "/repos/acme/infra/contents/README.md?ref=tooling", token)
    assert status == 404


def test_refs_move_through_the_activity_log(world: World) -> None:
    sb = world.sb
    repo = world.repo("alice")
    main_sha = sb.branch_sha("acme/infra", "main")
    main = repo.get_git_commit(main_sha)
    tree = repo.create_git_tree(
        [InputGitTreeElement("a.txt", "100644", "blob", content="a\n")], base_tree=main.tree
    )
    ahead = repo.create_git_commit("a", tree, [main])
    # Without base_tree the tree holds only the given entries.
    lone = repo.create_git_tree([InputGitTreeElement("only.txt", "100644", "blob", content="o")])
    assert [e.path for e in lone.tree] == ["only.txt"]
    sideways = repo.create_git_commit("rewrite", lone, [])
    assert sideways.parents == []

    ref = repo.get_git_ref("heads/main")
    ref.edit(ahead.sha)
    with pytest.raises(GithubException) as not_ff:
        ref.edit(sideways.sha)
    assert not_ff.value.status == 422
    world.repo("bob").get_git_ref("heads/main").edit(sideways.sha, force=True)
    status, _, log = call(sb, "GET", "/repos/acme/infra/activity", world.tokens["alice"])
    assert status == 200
    assert [(a["activity_type"], a["actor"]["login"], a["before"], a["after"]) for a in log] == [
        ("force_push", "bob", ahead.sha, sideways.sha),
        ("push", "alice", main_sha, ahead.sha),
    ]
    pushes = sb.events(event="push")
    assert pushes[-1].payload["forced"] is True and pushes[-1].payload["pusher"]["name"] == "bob"


def test_git_database_refusals(world: World) -> None:
    sb = world.sb
    repo = world.repo("alice")
    main = repo.get_git_commit(sb.branch_sha("acme/infra", "main"))
    with pytest.raises(GithubException) as missing:
        repo.create_git_tree(
            [InputGitTreeElement("nope.txt", "100644", "blob", sha=None)], base_tree=main.tree
        )
    assert missing.value.status == 422
    with pytest.raises(GithubException) as mismatch:
        repo.create_git_tree(
            [InputGitTreeElement("x", "160000", "blob", sha=main.sha)], base_tree=main.tree
        )
    assert mismatch.value.status == 422
    with pytest.raises(GithubException) as not_blob:
        repo.create_git_tree([InputGitTreeElement("x", "100644", "blob", sha=main.sha)])
    assert not_blob.value.status == 422
    token = world.tokens["alice"]
    for body in (
        {"message": "m", "tree": main.tree.sha, "parents": ["0" * 40]},
        {"message": "m", "tree": "0" * 40},
        {"tree": main.tree.sha},
    ):
        status, _, _ = call(sb, "POST", "/repos/acme/infra/git/commits", token, body)
        assert status == 422, body
    with pytest.raises(GithubException) as reader:
        world.repo("mallory").create_git_blob("x", "utf-8")
    assert reader.value.status == 403
    status, _, _ = call(
        sb,
        "POST",
        "/repos/acme/infra/git/blobs",
        world.tokens["alice"],
        {"content": "x", "encoding": "latin-1"},
    )
    assert status == 422


def test_matching_refs(world: World) -> None:
    """GET git/matching-refs/{ref}: every ref starting with it, [] when none does."""
    sb = world.sb
    for branch in ("req/a", "req/b", "other"):
        sb.push_files("acme/infra", branch, {f"{branch}.txt": "x\n"}, "x", "alice")
    status, _, refs = call(
        sb, "GET", "/repos/acme/infra/git/matching-refs/heads/req/", world.tokens["bob"]
    )
    assert status == 200
    assert [r["ref"] for r in refs] == ["refs/heads/req/a", "refs/heads/req/b"]
    assert refs[0]["object"]["sha"] == sb.branch_sha("acme/infra", "req/a")
    assert (
        call(sb, "GET", "/repos/acme/infra/git/matching-refs/heads/nope", world.tokens["bob"])[2]
        == []
    )
    pygithub = world.repo("bob").get_git_matching_refs("heads/oth")
    assert [r.ref for r in pygithub] == ["refs/heads/other"]
