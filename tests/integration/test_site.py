"""The static catalog site, in a real headless Chromium (Debian's, driven by Playwright).

`make test` installs the chromium package when it is missing; without it these tests skip.
Set BRAINIO_DVC_SCREENSHOT=PATH to save a screenshot of the index there.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from brainio_dvc.cli import cli

from .carded import carded, carded_template  # noqa: F401 - fixtures
from .conftest import ASSEMBLY, STIMULI, Registry


def chromium_executable() -> str | None:
    return os.environ.get("BRAINIO_DVC_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """The system's headless Chromium, started once."""
    sync_api = pytest.importorskip("playwright.sync_api")
    executable = chromium_executable()
    if executable is None:
        pytest.skip("no chromium on PATH: `make test` installs Debian's chromium package")
    with sync_api.sync_playwright() as playwright:
        # --no-sandbox: containers often run as root, where Chromium's sandbox refuses to start.
        launched = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield launched
        launched.close()


class Page:
    """A browser page that records console messages, page errors and every request."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.console: list[tuple[str, str]] = []
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.failed: list[str] = []
        page.on("console", lambda message: self.console.append((message.type, message.text)))
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on("request", lambda request: self.requests.append(request.url))
        page.on("requestfailed", lambda request: self.failed.append(request.url))

    def visible(self, selector: str) -> list[str]:
        return self.page.locator(f"{selector}:visible").all_inner_texts()


@pytest.fixture
def page(browser: Any) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1000, "height": 700})
    recorded = Page(context.new_page())
    yield recorded
    context.close()
    assert recorded.errors == []
    assert [message for message in recorded.console if message[0] in ("error", "warning")] == []
    assert recorded.failed == []
    assert all(url.startswith("file://") for url in recorded.requests), recorded.requests


@pytest.fixture
def site(carded: Registry, tmp_path: Path) -> Path:
    output = tmp_path / "site"
    result = CliRunner().invoke(cli, ["--registry", str(carded.root), "site", "-o", str(output),
                                      "--url", "https://github.com/lab/registry"])
    assert result.exit_code == 0, result.output
    assert "wrote 2 pages and 6 thumbnails" in result.output
    return output


def test_the_index_lists_every_identifier_and_the_search_box_filters(site: Path, page: Page) -> None:
    page.page.goto((site / "index.html").as_uri())
    assert page.visible("li.entry a.identifier") == [STIMULI, ASSEMBLY]
    assert page.page.inner_text("#count") == "2 identifiers"
    if os.environ.get("BRAINIO_DVC_SCREENSHOT"):
        page.page.screenshot(path=os.environ["BRAINIO_DVC_SCREENSHOT"])

    page.page.fill("#q", "utah")  # in the assembly's card only
    assert page.visible("li.entry a.identifier") == [ASSEMBLY]
    assert page.page.inner_text("#count") == "1 of 2 identifiers"
    page.page.fill("#q", "squares")
    assert page.visible("li.entry a.identifier") == [STIMULI]
    page.page.fill("#q", "no such thing")
    assert page.visible("li.entry a.identifier") == [] and page.page.is_visible("#empty")
    page.page.fill("#q", "")
    page.page.select_option("#region", "V4")
    assert page.visible("li.entry a.identifier") == [ASSEMBLY]
    page.page.select_option("#region", "")
    page.page.select_option("#kind", "stimulus_set")
    assert page.visible("li.entry a.identifier") == [STIMULI]


def test_the_browser_ranks_as_python_does(site: Path, page: Page, carded: Registry) -> None:
    import brainio_dvc

    page.page.goto((site / "index.html").as_uri())
    for query in ("tester", "IT", "object shapes", "lab"):
        page.page.fill("#q", query)
        expected = [result.identifier for result in brainio_dvc.search(query, registry=str(carded.root))]
        assert page.visible("li.entry a.identifier") == expected, query


def test_a_dataset_page_shows_card_facts_versions_import_line_and_citation(
    site: Path, page: Page, carded: Registry
) -> None:
    page.page.goto((site / "index.html").as_uri())
    page.page.click(f"text={ASSEMBLY}")
    assert page.page.url.endswith(f"/assembly/{ASSEMBLY}.html")
    assert page.page.inner_text("#title") == "Object IT responses to Tester shapes"
    card = page.page.inner_text("#card")
    assert "doi:10.1234/jot.2024.001" in card and "Utah arrays" in card and "Macaca mulatta" in card
    assert "CC-BY-4.0" in card and "Ada Tester <ada@example.org>" in card
    facts = page.page.inner_text("#derived")
    assert "presentation 12 × neuroid 3 × time_bin 1" in facts and "float32" in facts
    versions = page.page.locator("#versions tbody tr")
    assert versions.count() == 2
    assert versions.nth(0).inner_text().split()[0] == carded.v2[:10] and "v2" in versions.nth(0).inner_text()
    assert versions.nth(1).inner_text().split()[0] == carded.v1[:10] and "v1" in versions.nth(1).inner_text()
    location = f"registry/lab/assemblies/{ASSEMBLY}/{ASSEMBLY}.nc"
    expected = f"dvc import https://github.com/lab/registry {location} --rev {carded.v2}"
    assert page.page.inner_text("#dvc-import").strip() == expected
    assert f"brainio_dvc.get_assembly('{ASSEMBLY}', rev='{carded.v2}'" in page.page.inner_text("#python")
    assert "@article{Tester2024," in page.page.inner_text("#citation-bibtex")
    assert carded.v2 in page.page.inner_text("#citation-text")


def test_a_stimulus_set_page_shows_thumbnails_that_load(site: Path, page: Page) -> None:
    page.page.goto((site / "stimulus_set" / f"{STIMULI}.html").as_uri())
    images = page.page.locator("#thumbnails img")
    assert images.count() == 6
    loaded = page.page.evaluate("Array.from(document.querySelectorAll('#thumbnails img'))"
                                ".map(image => image.complete && image.naturalWidth)")
    assert loaded == [8] * 6  # the 8 x 8 test images, kept at their size
    assert page.page.locator(f"#derived a[href='../assembly/{ASSEMBLY}.html']").count() == 1
    assert len(page.page.locator("#dvc-import").inner_text().strip().splitlines()) == 2


def test_the_index_embeds_no_network_resources(site: Path) -> None:
    html = (site / "index.html").read_text()
    assert "http-equiv=\"Content-Security-Policy\"" in html and "default-src 'none'" in html
    assert "<link" not in html and " src=\"http" not in html
    data = json.loads(html.split('<script type="application/json" id="search-data">')[1].split("</script>")[0])
    assert [entry["identifier"] for entry in data["entries"]] == [STIMULI, ASSEMBLY]
