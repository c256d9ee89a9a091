"""The README and docs/: every link lands, the README stays short, commands run from a fresh clone."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness import ROOT

README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [README, *DOCS]
README_MAX_LINES = 150
FENCE = re.compile(r"^```.*?^```", re.M | re.S)


def github_anchor(heading: str) -> str:
    """The id GitHub gives a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    prose = FENCE.sub("", page.read_text())
    return {github_anchor(match.group(1)) for match in re.finditer(r"^#+ (.+)$", prose, re.M)}


def test_the_readme_is_short_and_links_every_page_of_docs():
    text = README.read_text()
    assert len(text.splitlines()) <= README_MAX_LINES, f"README.md: {len(text.splitlines())} lines"
    for page in DOCS:
        assert f"](docs/{page.name})" in text, f"README.md does not link docs/{page.name}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_lands_on_a_file_and_heading(page):
    assert page.read_text().count("```") % 2 == 0, f"{page.name}: a code fence is not closed"
    for match in re.finditer(r"\]\(([^)\s]+)\)", FENCE.sub("", page.read_text())):
        target = match.group(1)
        if re.match(r"^[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        landing = (page.parent / path).resolve() if path else page
        assert landing.exists(), f"{page.name}: link {target} names no file"
        if anchor and landing.suffix == ".md":
            assert anchor in anchors(landing), f"{page.name}: link {target}: no such heading in {landing.name}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_commands_run_from_a_fresh_clone(page):
    for number, line in enumerate(page.read_text().splitlines(), start=1):
        bare = re.search(r"(?<![\w/.-])python3? (scripts/|-m bench)", line)
        assert not bare, f"{page.name}:{number}: use .venv/bin/python or a make target: {line.strip()}"


@pytest.mark.parametrize("page", DOCS, ids=lambda p: p.name)
def test_each_page_opens_with_what_its_reader_can_do(page):
    lines = [line for line in page.read_text().splitlines() if line.strip() and not line.startswith("<!--")]
    assert lines[0].startswith("# "), f"{page.name}: no title"
    assert not lines[1].startswith(("#", "|", "```", "-", "*")), f"{page.name}: opens with {lines[1]!r}, not a sentence"
