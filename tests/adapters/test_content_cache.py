"""Files read at a commit sha, kept by launcher serve across decisions: bounded by size, off
in the jobs (a job's request budget is what it reads in a fresh process), where each run's
adapter still reads a commit's file once (a merge group's pull requests share their base's
pools.yaml)."""

from __future__ import annotations

from launcher.adapters.github import ContentCache, GitHub, Settings
from launcher.sandbox.github import GitHubSandbox


def test_kept_up_to_a_size_oldest_out_first() -> None:
    cache = ContentCache(max_bytes=100)
    cache.enabled = True

    def key(c: str) -> tuple[str, str, str, str]:
        return ("api", "o/r", c * 40, "x")

    cache.put(key("a"), b"a" * 20)
    cache.put(key("b"), b"b" * 20)
    assert cache.get(key("a")) == b"a" * 20  # now the most recently used
    for c in "cde":
        cache.put(key(c), c.encode() * 25)  # 115 bytes in all: the least recent goes
    assert cache.get(key("b")) is None
    assert cache.get(key("a")) is not None and cache.get(key("e")) is not None
    cache.put(key("f"), b"f" * 26)  # over a quarter of the bound: not kept
    assert cache.get(key("f")) is None


def test_only_reads_at_a_commit_sha_are_kept_and_only_when_enabled(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    cache = ContentCache(1 << 20)
    monkeypatch.setattr("launcher.adapters.github.AT_COMMIT", cache)
    with GitHubSandbox() as sb:
        token = sb.add_user("ann")
        sb.create_repo("ann", "infra", {"pools.yaml": b"pools: {}\n"})
        gh = GitHub(Settings(repository="ann/infra", token=token, api_url=sb.url, throttle=False))
        main = sb.branch_sha("ann/infra", "main")

        def reads() -> int:
            return sum(1 for r in sb.requests() if "/contents/" in r.path)

        gh.read_file("pools.yaml", main)
        gh.read_file("pools.yaml", main)
        assert reads() == 1  # off (a job): once per run (its adapter), the commit never changes
        again = GitHub(Settings(repository="ann/infra", token=token, api_url=sb.url))
        again.read_file("pools.yaml", main)
        assert reads() == 2  # off: nothing kept across runs
        cache.enabled = True
        fresh = GitHub(Settings(repository="ann/infra", token=token, api_url=sb.url))
        fresh.read_file("pools.yaml", main)
        GitHub(Settings(repository="ann/infra", token=token, api_url=sb.url)).read_file(
            "pools.yaml", main
        )
        fresh.read_file("pools.yaml", "main")
        fresh.read_file("pools.yaml", "main")
        # on (launcher serve): the sha once across adapters; a branch name each time (it moves)
        assert reads() == 2 + 1 + 2
