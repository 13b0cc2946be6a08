"""Take the README's screenshot of the catalog site's index: ``docs/site-index.png``.

Builds the demo registry's site into a temporary directory and photographs it in the system's
headless Chromium.  Run from the repository root: ``.venv/bin/python docs/site_screenshot.py``.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

from brainio_dvc.browse.site import build_site

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        sys.exit("no chromium on PATH (apt-get install chromium)")
    with tempfile.TemporaryDirectory() as scratch:
        report = build_site(Path(scratch) / "site", registry=str(ROOT), url="https://github.com/your-lab/your-registry")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 900, "height": 520})
            page.goto(report.index.as_uri())
            page.screenshot(path=str(ROOT / "docs" / "site-index.png"))
            browser.close()


if __name__ == "__main__":
    main()
