"""The sticky comment: one marker, a fingerprint, and untrusted text made inert."""

from __future__ import annotations

from launcher.core.approvals import Review
from launcher.core.gate import ChangedFile, GateInput, decide
from launcher.core.gate_report import MARKER, read_meta, render, untrusted
from tests.core.test_gate import HEAD, OLD, POOLS, TEAMS, request


def decision_for(author: str, reviews: list[Review], files: dict[str, bytes] | None = None):
    files = files or {"deployments/dev/web.yaml": request()}
    data = GateInput(
        author=author,
        head_sha=HEAD,
        files=[ChangedFile(p, "added") for p in files],
        reviews=reviews,
        policy_raw=POOLS,
        head_contents=files,
    )
    return decide(data, TEAMS)


def test_comment_has_marker_fingerprint_and_a_row_per_request() -> None:
    meta = {"fingerprint": "a" * 64, "status": ["pending", "x --> y"]}
    body = render(decision_for("bob", []), meta)
    assert body.startswith(MARKER + "\n")
    assert read_meta(body) == meta
    assert body.count("-->") == 2  # the marker and the meta line; nothing can close them early
    row = next(line for line in body.splitlines() if "deployments/dev/web.yaml" in line)
    assert "| added | dev | create_with_approval | 0 of 1 |" in row
    assert "needs 1 more approving review from @dave, @erin, @acme/dev-leads" in row


def test_stale_approvals_are_named() -> None:
    body = render(decision_for("bob", [Review(1, "dave", "APPROVED", OLD)]), {})
    assert "0 of 1; stale: @dave" in body
    assert "approvals of an older commit do not count after a push" in body


def test_rejection_reason_is_quoted_inert() -> None:
    evil = "No. <script>alert(1)</script> cc @everyone | [click](http://x) `rm -rf`"
    body = render(decision_for("bob", [Review(1, "erin", "CHANGES_REQUESTED", HEAD, evil)]), {})
    assert "**Rejected by @erin**" in body
    quoted = next(line for line in body.splitlines() if line.startswith("> "))
    assert "<script>" not in quoted and "&lt;script&gt;" in quoted
    assert "@everyone" not in quoted and "@\u200beveryone" in quoted
    assert "\\|" in quoted and "\\[click\\]" in quoted and "`" not in quoted


def test_errors_are_listed_with_line_and_column() -> None:
    bad = {"deployments/dev/web.yaml": request().replace(b"count: 1", b"count: 0")}
    body = render(decision_for("alice", [], bad), {})
    assert (
        "- `deployments/dev/web.yaml` line 7, column 12: instances\\[0\\].count: must be at "
        "least 1, not 0" in body
    )


def test_untrusted_text_stays_on_one_line() -> None:
    assert untrusted("a\n\n| b |\n") == "a \\| b \\|"
    assert len(untrusted("x" * 1000, limit=50)) == 50


def test_missing_or_forged_meta_is_none() -> None:
    assert read_meta("no marker here") is None
    assert read_meta("<!-- launcher:meta !!!notbase64 -->") is None
    assert read_meta("<!-- launcher:meta WzFd -->") is None  # a list, not an object


def test_a_file_path_cannot_mention_anyone() -> None:
    files = {"docs/@everyone.md": b"hi", "deployments/dev/web.yaml": request()}
    body = render(decision_for("bob", [], files), {})
    row = next(line for line in body.splitlines() if "| admins |" in line)
    assert "@everyone" not in row and "@\u200beveryone" in row
    assert "needs an approving review from an admin (@acme/platform)" in row  # ours stay live
    web = next(line for line in body.splitlines() if "deployments/dev/web.yaml" in line)
    assert "from @dave, @erin, @acme/dev-leads" in web
