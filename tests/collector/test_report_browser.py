"""report.html renders in a real headless browser: Debian's Chromium driven by Playwright,
with no console errors and no failed (or any network) requests; a full-page screenshot is
kept in the test's temp directory as an artifact.

Chromium is Debian's package (/usr/bin/chromium; .ci/run installs it): Playwright only drives
it, nothing is downloaded at run time. Without it the test skips, except in CI
(GOSSIPSIM_REQUIRE_SERVICES=1 or CI set), where it fails: it must not quietly stop running."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

import gossipsim

CHROMIUM = Path("/usr/bin/chromium")
SPEC: dict[str, Any] = {
    "name": "report-browser",
    "seed": 4,
    "graphs": [
        {"name": "ring-16", "generator": "cycle_graph", "params": {"n": 16}},
        {"name": "<b>bold</b>", "generator": "path_graph", "params": {"n": 10}},
    ],
    "algorithms": ["default", {"rule": "rumor_push_pull", "mode": "synchronous"}],
    "repetitions": 2,
    "max_rounds": 40,
}


def chromium() -> Path:
    if CHROMIUM.is_file():
        return CHROMIUM
    reason = f"{CHROMIUM} is missing: `apt-get install -y chromium` (Debian's package)"
    if os.environ.get("GOSSIPSIM_REQUIRE_SERVICES") == "1" or os.environ.get("CI"):
        pytest.fail(f"{reason}; in CI this test must run")
    pytest.skip(reason)


def test_the_report_renders_in_chromium_without_errors_or_requests(tmp_path):
    executable = chromium()
    from playwright.sync_api import sync_playwright

    run = gossipsim.run(SPEC, out=tmp_path / "store")
    page_file = Path(run.location) / "report.html"
    console_errors: list[str] = []
    failed: list[str] = []
    requested: list[str] = []
    screenshot = tmp_path / "report.png"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(executable), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 768})  # a laptop
            page.on(
                "console", lambda m: console_errors.append(m.text) if m.type == "error" else None
            )
            page.on("pageerror", lambda error: console_errors.append(str(error)))
            page.on("requestfailed", lambda request: failed.append(request.url))
            page.on("request", lambda request: requested.append(request.url))
            page.goto(page_file.as_uri(), wait_until="load")
            title = page.title()
            images = page.eval_on_selector_all(
                "img", "all => all.map(i => [i.complete, i.naturalWidth])"
            )
            page_width = page.evaluate("document.documentElement.scrollWidth")
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    print(f"report screenshot kept at {screenshot}")
    assert console_errors == []
    assert failed == []
    # the page itself, and data: images at most: nothing from a network
    assert all(url == page_file.as_uri() or url.startswith("data:") for url in requested)
    assert title.startswith("report-browser")
    assert len(images) == 2 and all(done and width > 100 for done, width in images)
    assert page_width <= 1366  # no sideways scrolling on a laptop: wide tables scroll inside
    data = screenshot.read_bytes()
    assert len(data) > 50_000  # a page with plots and tables, not a blank one
    with Image.open(io.BytesIO(data)) as image:
        width, height = image.size
        assert width == 1366 and height > 1500  # the full page, longer than the screen
        assert len(image.convert("L").getcolors(maxcolors=1 << 16) or range(1 << 16)) > 16
