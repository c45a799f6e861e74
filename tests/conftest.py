"""Shared fixtures. Real-data tests read ``../shared/data`` (or $IIIC_SHARED_DATA) and skip without it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("IIIC_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real-data folder; skips the test when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent (set IIIC_SHARED_DATA to use one)")
    return SHARED_DATA


@pytest.fixture
def run_benchmark():
    """Run ``benchmarks/<name>.py`` with ``args`` in a subprocess; fails the test on a non-zero exit
    (its stderr tail in the message)."""

    def run(name: str, *args: str) -> None:
        cmd = [sys.executable, str(REPO / "benchmarks" / f"{name}.py"), *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, proc.stderr[-3000:]

    return run


# --- headless Chromium (Debian's package, driven by Playwright) -------------------------------
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
"""Flags that work on these machines (root, closed network): see ENVIRONMENT.md."""
SCREEN = {"width": 1400, "height": 1000}


def _chromium_executable() -> str | None:
    found = os.environ.get("IIIC_CHROMIUM") or shutil.which("chromium")
    return found or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.fixture(scope="module")
def chromium():
    """A headless Chromium for one test module (a session-wide one would keep an asyncio loop
    running under every later test). Absent browser or Playwright: skip with the reason, but fail
    under CI (``CI`` set), where ``.ci/run`` installs Debian's chromium."""
    exe = _chromium_executable()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    if exe is None or sync_playwright is None:
        why = ("no chromium executable on PATH (apt-get install chromium)" if exe is None
               else "the playwright package is missing (pip install -r requirements.lock)")  # fmt: skip
        if os.environ.get("CI"):
            pytest.fail(f"browser tests cannot run in CI: {why}")
        pytest.skip(why)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@dataclass
class PageCheck:
    """What loading one page in Chromium showed."""

    page: Any
    """The open Playwright page (closed by the fixture after the test)."""
    errors: list[str] = field(default_factory=list)
    """Console errors, uncaught exceptions and failed requests."""
    outside: list[str] = field(default_factory=list)
    """Requests that left the local files (blocked: pages must work offline)."""
    broken_images: list[str] = field(default_factory=list)
    broken_links: list[str] = field(default_factory=list)
    n_images: int = 0
    n_links: int = 0
    screenshot: Path | None = None

    @property
    def clean(self) -> bool:
        return not (self.errors or self.outside or self.broken_images or self.broken_links)


_LINKS_JS = """() => Array.from(document.querySelectorAll('a[href], link[href], img[src], script[src]'))
  .map(e => e.getAttribute('href') ?? e.getAttribute('src'))"""
_IMAGES_JS = """() => Array.from(document.images).map(i => [i.getAttribute('alt') || i.src.slice(0, 60),
  i.complete && i.naturalWidth > 0])"""


def _broken_links(page, html_path: Path, links: list[str]) -> list[str]:
    """Local links whose file is missing, or in-page links (#id) whose element is missing.
    Fragments with '=' (``#w=12``) are routes of the page's own script, checked by its tests."""
    from urllib.parse import unquote, urlsplit

    broken = []
    for link in links:
        parts = urlsplit(link)
        if parts.scheme in ("data", "http", "https", "mailto"):
            continue
        if not parts.path:
            frag = unquote(parts.fragment)
            if frag and "=" not in frag and not page.evaluate("id => !!document.getElementById(id)", frag):  # fmt: skip
                broken.append(link)
            continue
        if not (html_path.parent / unquote(parts.path)).exists():
            broken.append(link)
    return broken


@pytest.fixture
def open_page(chromium):
    """``open_page(path, screenshot=True) -> PageCheck``: load a local HTML file in Chromium, collect
    console errors, check every image loaded (natural width > 0) and every local link resolves,
    and write a screenshot next to the page (``<name>.screenshot.png``)."""
    pages = []

    def load(path: Path, *, screenshot: bool = True, full_page: bool = True) -> PageCheck:
        page = chromium.new_page(viewport=SCREEN)
        pages.append(page)
        check = PageCheck(page)
        page.on("console", lambda m: check.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: check.errors.append(f"uncaught: {e}"))
        page.on("requestfailed", lambda r: check.errors.append(f"failed: {r.url[:120]}"))

        def route(r):
            if r.request.url.startswith(("file:", "data:", "blob:")):
                return r.continue_()
            check.outside.append(r.request.url)
            return r.abort()

        page.route("**/*", route)
        page.goto(Path(path).resolve().as_uri(), wait_until="load")
        images = page.evaluate(_IMAGES_JS)
        check.n_images = len(images)
        check.broken_images = [name for name, ok in images if not ok]
        links = page.evaluate(_LINKS_JS)
        check.n_links = len(links)
        check.broken_links = _broken_links(page, Path(path), links)
        if screenshot:
            check.screenshot = Path(path).with_suffix(".screenshot.png")
            page.screenshot(path=str(check.screenshot), full_page=full_page)
        return check

    yield load
    for page in pages:
        page.close()
