"""A real headless browser for the dashboard tests: Debian's chromium driven by Playwright.

Playwright's own browser download is never used (`playwright install` is not run): the
driver ships in the wheel and drives the system chromium, which `./dev test` installs when missing.
Tests skip, saying why, only when chromium (or Java, for the HTML validator) is missing.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("LAUNCHER_CHROMIUM", "/usr/bin/chromium"))
AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def require_chromium() -> None:
    if not CHROMIUM.is_file():
        pytest.skip(f"chromium is not installed at {CHROMIUM}: ./dev test installs it")


def require_java() -> None:
    if shutil.which("java") is None:
        pytest.skip("java is not installed (the vnu HTML validator needs it): ./dev test does")


@contextmanager
def browser() -> Iterator[Any]:
    """A chromium page, offline: every request that is not a file:// URL is aborted."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            context = chromium.new_context(viewport={"width": 1400, "height": 900})
            blocked: list[str] = []

            def only_files(route: Any) -> None:
                if route.request.url.startswith("file://"):
                    route.continue_()
                else:
                    blocked.append(route.request.url)
                    route.abort()

            context.route("**/*", only_files)
            page = context.new_page()
            page.blocked = blocked  # type: ignore[attr-defined]
            yield page
        finally:
            chromium.close()


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """axe-core's WCAG 2 A/AA violations on the page (axe-core from package-lock.json)."""
    assert AXE.is_file(), f"{AXE} is missing: run `npm ci` (./dev test does)"
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "() => axe.run(document, {runOnly: {type: 'tag', values: "
        "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}})"
    )
    return [
        {"id": v["id"], "help": v["help"], "nodes": [n["html"] for n in v["nodes"]][:3]}
        for v in result["violations"]
    ]
