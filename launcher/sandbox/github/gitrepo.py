"""A real bare git repository, driven through the ``git`` CLI.

The stand-in keeps commits, trees and refs in git itself so that SHAs are real and
jobs can ``git clone`` the repository. Objects are immutable, so every read keyed by
an object id is cached; a single long-lived ``git cat-file --batch`` process serves
object reads, so read paths spawn no process per request.
"""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

ZERO_SHA = "0" * 40

_GIT_ENV = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_TERMINAL_PROMPT": "0",
    "LC_ALL": "C",
}


class GitError(RuntimeError):
    """A git command failed."""


@dataclass(frozen=True)
class Person:
    name: str
    email: str
    timestamp: int  # seconds since the epoch
    tz: str = "+0000"


@dataclass(frozen=True)
class CommitInfo:
    sha: str
    tree: str
    parents: tuple[str, ...]
    author: Person
    committer: Person
    message: str


@dataclass(frozen=True)
class TreeEntry:
    mode: str
    type: str  # "blob" | "tree" | "commit"
    sha: str
    size: int
    path: str


@dataclass(frozen=True)
class FileChange:
    """One file of a diff, in the vocabulary of GitHub's ``diff-entry``."""

    filename: str
    status: str  # added | removed | modified | renamed
    sha: str | None  # blob sha on the new side (None when removed)
    additions: int
    deletions: int
    previous_filename: str | None = None
    patch: str | None = None


def _parse_person(raw: str) -> Person:
    # "Name <email> 1700000000 +0000"
    head, _, rest = raw.rpartition(">")
    name, _, email = head.partition("<")
    parts = rest.split()
    return Person(
        name.strip(), email.strip(), int(parts[0]), parts[1] if len(parts) > 1 else "+0000"
    )


@dataclass
class GitRepo:
    """A bare repository at ``path``; all writes go through this object (thread-safe)."""

    path: Path
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    _cat: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _objects: dict[str, tuple[str, bytes]] = field(default_factory=dict, repr=False)
    _check: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _sizes: dict[str, int] = field(default_factory=dict, repr=False)
    _levels: dict[str, list[TreeEntry]] = field(default_factory=dict, repr=False)
    _walks: dict[str, list[TreeEntry]] = field(default_factory=dict, repr=False)
    _trees: dict[str, dict[str, TreeEntry]] = field(default_factory=dict, repr=False)
    _diffs: dict[tuple[str, str], list[FileChange]] = field(default_factory=dict, repr=False)
    _merges: dict[tuple[str, str], str | None] = field(default_factory=dict, repr=False)
    _bases: dict[tuple[str, str], str | None] = field(default_factory=dict, repr=False)

    # -- process plumbing -------------------------------------------------
    def git(
        self, *args: str, input: bytes | None = None, env: Mapping[str, str] | None = None
    ) -> bytes:
        full_env = {**os.environ, **_GIT_ENV, **(env or {})}
        proc = subprocess.run(
            ["git", "--git-dir", str(self.path), *args],
            input=input,
            capture_output=True,
            env=full_env,
            check=False,
        )
        if proc.returncode != 0:
            raise GitError(f"git {' '.join(args)}: {proc.stderr.decode(errors='replace').strip()}")
        return proc.stdout

    @classmethod
    def init(cls, path: Path, default_branch: str = "main") -> GitRepo:
        path.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["git", "init", "--bare", "--quiet", f"--initial-branch={default_branch}", str(path)],
            check=True,
            capture_output=True,
            env={**os.environ, **_GIT_ENV},
        )
        return cls(path)

    def close(self) -> None:
        with self._lock:
            for proc in (self._cat, self._check):
                if proc is not None:
                    assert proc.stdin is not None
                    proc.stdin.close()
                    proc.wait(timeout=5)
            self._cat = self._check = None

    # -- object reads (cached) --------------------------------------------
    def _batch(self, mode: str) -> subprocess.Popen[bytes]:
        """A long-lived ``git cat-file`` answering one object per line asked."""
        return subprocess.Popen(
            ["git", "--git-dir", str(self.path), "cat-file", mode],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env={**os.environ, **_GIT_ENV},
        )

    @staticmethod
    def _ask(proc: subprocess.Popen[bytes], sha: str) -> list[str]:
        """The header line ``<sha> <type> <size>`` (or ``<sha> missing``), split."""
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(sha.encode() + b"\n")
        proc.stdin.flush()
        return proc.stdout.readline().decode().split()

    def read_object(self, sha: str) -> tuple[str, bytes] | None:
        """Return (type, content) of an object, or None if it does not exist."""
        hit = self._objects.get(sha)
        if hit is not None:
            return hit
        with self._lock:
            if self._cat is None:
                self._cat = self._batch("--batch")
            header = self._ask(self._cat, sha)
            if len(header) < 3 or header[1] == "missing":
                return None
            otype, size = header[1], int(header[2])
            assert self._cat.stdout is not None
            data = self._cat.stdout.read(size)
            self._cat.stdout.read(1)
            if len(header[0]) == 40:
                self._objects[header[0]] = (otype, data)
            return otype, data

    def blob(self, sha: str) -> bytes | None:
        obj = self.read_object(sha)
        return obj[1] if obj and obj[0] == "blob" else None

    def commit(self, sha: str) -> CommitInfo | None:
        obj = self.read_object(sha)
        if not obj or obj[0] != "commit":
            return None
        head, _, message = obj[1].decode(errors="replace").partition("\n\n")
        tree, parents, author, committer = "", [], None, None
        for line in head.splitlines():
            key, _, value = line.partition(" ")
            if key == "tree":
                tree = value
            elif key == "parent":
                parents.append(value)
            elif key == "author":
                author = _parse_person(value)
            elif key == "committer":
                committer = _parse_person(value)
        assert author and committer
        return CommitInfo(sha, tree, tuple(parents), author, committer, message)

    def _size(self, sha: str) -> int:
        """An object's size, from a long-lived ``git cat-file --batch-check`` (cached)."""
        hit = self._sizes.get(sha)
        if hit is not None:
            return hit
        with self._lock:
            if self._check is None:
                self._check = self._batch("--batch-check")
            header = self._ask(self._check, sha)
            size = int(header[2]) if len(header) >= 3 and header[1] != "missing" else 0
            self._sizes[sha] = size
            return size

    def tree_level(self, tree_sha: str) -> list[TreeEntry]:
        """One level of a tree object (for the git trees API), as ``git ls-tree -l`` lists
        it: parsed from the object itself, so no process is spawned per read (cached)."""
        hit = self._levels.get(tree_sha)
        if hit is not None:
            return hit
        obj = self.read_object(tree_sha)
        if obj is None or obj[0] != "tree":
            raise GitError(f"not a tree: {tree_sha}")
        data, entries, at = obj[1], [], 0
        while at < len(data):
            space = data.index(b" ", at)
            nul = data.index(b"\0", space)
            mode = data[at:space].decode().zfill(6)
            path = data[space + 1 : nul].decode(errors="surrogateescape")
            sha = data[nul + 1 : nul + 21].hex()
            at = nul + 21
            otype = "tree" if mode == "040000" else "commit" if mode == "160000" else "blob"
            size = self._size(sha) if otype == "blob" else 0
            entries.append(TreeEntry(mode, otype, sha, size, path))
        self._levels[tree_sha] = entries
        return entries

    def tree_all(self, tree_sha: str) -> list[TreeEntry]:
        """Every entry under a tree, directories included, with full paths (``ls-tree -r
        -t``; cached per tree: unchanged directories are shared between commits)."""
        hit = self._walks.get(tree_sha)
        if hit is not None:
            return hit
        out: list[TreeEntry] = []
        for e in self.tree_level(tree_sha):
            out.append(e)
            if e.type == "tree":
                for sub in self.tree_all(e.sha):
                    out.append(
                        TreeEntry(sub.mode, sub.type, sub.sha, sub.size, f"{e.path}/{sub.path}")
                    )
        self._walks[tree_sha] = out
        return out

    def tree(self, commit_or_tree: str) -> dict[str, TreeEntry]:
        """All blobs and submodules (recursively) of a commit or tree, by path."""
        hit = self._trees.get(commit_or_tree)
        if hit is not None:
            return hit
        obj = self.read_object(commit_or_tree)
        if obj is None:
            raise GitError(f"no such commit or tree: {commit_or_tree}")
        if obj[0] == "commit":
            info = self.commit(commit_or_tree)
            assert info is not None
            tree_sha = info.tree
        else:
            tree_sha = commit_or_tree
        entries = {e.path: e for e in self.tree_all(tree_sha) if e.type != "tree"}
        self._trees[commit_or_tree] = entries
        return entries

    def resolve(self, rev: str) -> str | None:
        """A full commit SHA for a revision (sha, branch, tag), or None."""
        if len(rev) == 40 and self.commit(rev) is not None:
            return rev
        try:
            return (
                self.git("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}").decode().strip()
            )
        except GitError:
            return None

    def refs(self) -> dict[str, str]:
        out = self.git("for-each-ref", "--format=%(refname) %(objectname)")
        pairs = (line.split(" ", 1) for line in out.decode().splitlines() if line)
        return {name: sha for name, sha in pairs}

    def ref(self, name: str) -> str | None:
        try:
            out = self.git("rev-parse", "--verify", "--quiet", name).decode().strip()
        except GitError:
            return None
        return out or None

    # -- history and diffs ------------------------------------------------
    def merge_base(self, a: str, b: str) -> str | None:
        key = (a, b)
        if key not in self._bases:
            try:
                self._bases[key] = self.git("merge-base", a, b).decode().strip() or None
            except GitError:
                self._bases[key] = None
        return self._bases[key]

    def rev_list(self, exclude: str | None, include: str, limit: int | None = None) -> list[str]:
        """Commits reachable from include but not exclude, oldest first."""
        args = ["rev-list", "--reverse", include]
        if exclude:
            args.append(f"^{exclude}")
        out = self.git(*args).decode().split()
        return out[-limit:] if limit else out

    def log(self, rev: str, path: str | None = None, limit: int = 100) -> list[str]:
        args = ["rev-list", f"--max-count={limit}", rev]
        if path:
            args += ["--", path]
        return self.git(*args).decode().split()

    def diff(self, base: str, head: str) -> list[FileChange]:
        """Files changed from commit ``base`` to ``head`` (renames detected)."""
        key = (base, head)
        hit = self._diffs.get(key)
        if hit is not None:
            return hit
        raw = self.git("diff", "--raw", "--numstat", "-z", "-M", "--no-abbrev", base, head)
        changes = _parse_raw_numstat(raw)
        patches = _split_patches(self.git("diff", "-M", "--no-color", base, head))
        result = [
            FileChange(
                c.filename,
                c.status,
                c.sha,
                c.additions,
                c.deletions,
                c.previous_filename,
                patches.get(c.filename),
            )
            for c in changes
        ]
        self._diffs[key] = result
        return result

    # -- writes -----------------------------------------------------------
    def commit_files(
        self,
        branch: str,
        files: Mapping[str, bytes | None],
        message: str,
        author: Person,
        parent: str | None,
        committer: Person | None = None,
        ref: str | None = None,
    ) -> str:
        """Commit ``files`` (None deletes) on top of ``parent`` and move ``branch`` to it
        (or the full ``ref`` instead, e.g. a scratch ref when the caller moves the branch)."""
        committer = committer or author
        target = ref or f"refs/heads/{branch}"
        stream = bytearray()
        stream += f"commit {target}\n".encode()
        stream += f"author {author.name} <{author.email}> {author.timestamp} {author.tz}\n".encode()
        stream += (
            f"committer {committer.name} <{committer.email}> {committer.timestamp} {committer.tz}\n"
        ).encode()
        msg = message.encode()
        stream += f"data {len(msg)}\n".encode() + msg + b"\n"
        if parent:
            stream += f"from {parent}\n".encode()
        for path, content in files.items():
            qpath = _quote_path(path)
            if content is None:
                stream += f"D {qpath}\n".encode()
            else:
                stream += f"M 100644 inline {qpath}\ndata {len(content)}\n".encode()
                stream += content + b"\n"
        stream += b"\n"
        with self._lock:
            self.git("fast-import", "--quiet", "--force", "--done", input=bytes(stream) + b"done\n")
            sha = self.ref(target)
        assert sha
        return sha

    def merge_tree(self, base: str, head: str) -> str | None:
        """Tree of merging head into base, or None on conflict (cached)."""
        key = (base, head)
        if key not in self._merges:
            proc = subprocess.run(
                ["git", "--git-dir", str(self.path), "merge-tree", "--write-tree", base, head],
                capture_output=True,
                env={**os.environ, **_GIT_ENV},
                check=False,
            )
            first = proc.stdout.decode().split("\n", 1)[0].strip()
            self._merges[key] = first if proc.returncode == 0 and first else None
        return self._merges[key]

    def commit_tree(self, tree: str, parents: list[str], message: str, author: Person) -> str:
        env = {
            "GIT_AUTHOR_NAME": author.name,
            "GIT_AUTHOR_EMAIL": author.email,
            "GIT_AUTHOR_DATE": f"{author.timestamp} {author.tz}",
            "GIT_COMMITTER_NAME": author.name,
            "GIT_COMMITTER_EMAIL": author.email,
            "GIT_COMMITTER_DATE": f"{author.timestamp} {author.tz}",
        }
        args = ["commit-tree", tree]
        for p in parents:
            args += ["-p", p]
        return self.git(*args, input=message.encode(), env=env).decode().strip()

    def update_ref(self, ref: str, new: str, old: str | None = None) -> None:
        args = ["update-ref", ref, new]
        if old:
            args.append(old)
        self.git(*args)

    def delete_ref(self, ref: str) -> None:
        self.git("update-ref", "-d", ref)

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        proc = subprocess.run(
            [
                "git",
                "--git-dir",
                str(self.path),
                "merge-base",
                "--is-ancestor",
                ancestor,
                descendant,
            ],
            capture_output=True,
            env={**os.environ, **_GIT_ENV},
            check=False,
        )
        return proc.returncode == 0


def _quote_path(path: str) -> str:
    if any(c in path for c in ' "\\\n') or path.startswith('"'):
        return '"' + path.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return path


def _parse_raw_numstat(raw: bytes) -> list[FileChange]:
    """Parse ``git diff --raw --numstat -z -M`` output."""
    tokens = raw.decode(errors="replace").split("\0")
    i = 0
    raws: list[tuple[str, str, str, str | None]] = []  # status, new sha, path, old path
    stats: list[tuple[int, int]] = []
    while i < len(tokens):
        tok = tokens[i]
        if not tok:
            i += 1
            continue
        if tok.startswith(":"):
            parts = tok[1:].split()
            new_sha, status = parts[3], parts[4]
            if status.startswith(("R", "C")):
                old, new = tokens[i + 1], tokens[i + 2]
                raws.append((status[0], new_sha, new, old))
                i += 3
            else:
                raws.append((status[0], new_sha, tokens[i + 1], None))
                i += 2
        else:
            # numstat: "adds\tdels\tpath" or "adds\tdels\t" followed by old, new for renames
            adds, dels, path = tok.split("\t", 2)
            stats.append((int(adds) if adds != "-" else 0, int(dels) if dels != "-" else 0))
            i += 3 if path == "" else 1
    status_map = {
        "A": "added",
        "D": "removed",
        "M": "modified",
        "R": "renamed",
        "C": "copied",
        "T": "changed",
    }
    result = []
    for (st, blob, name, previous), (added, deleted) in zip(raws, stats, strict=True):
        result.append(
            FileChange(
                name,
                status_map.get(st, "modified"),
                None if st == "D" else blob,
                added,
                deleted,
                previous,
            )
        )
    return result


def _split_patches(patch: bytes) -> dict[str, str]:
    """Split a unified diff into per-file hunks keyed by new path (GitHub's ``patch``)."""
    out: dict[str, str] = {}
    current: str | None = None
    hunks: list[str] = []
    minus: str | None = None
    for line in patch.decode(errors="replace").split("\n"):
        if line.startswith("diff --git "):
            if current is not None:
                out[current] = "\n".join(hunks).rstrip("\n")
            current, hunks, minus = None, [], None
            continue
        if not hunks and line.startswith("--- "):
            minus = line[4:]
            continue
        if not hunks and line.startswith("+++ "):
            plus = line[4:]
            target = plus if plus != "/dev/null" else (minus or "")
            current = target[2:] if target[:2] in ("a/", "b/") else target
            continue
        if not hunks and line.startswith("rename to "):
            current = line[len("rename to ") :]
            continue
        if line.startswith("@@") or hunks:
            hunks.append(line)
    if current is not None:
        out[current] = "\n".join(hunks).rstrip("\n")
    return out
