"""The README is the front door: short, and one click from every topic in docs/; no link in the
README or docs/ points at a file that is not there."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

README = REPO_ROOT / "README.md"
DOCS = REPO_ROOT / "docs"
# Markdown links and images to files of the repository: ](target) without a scheme.
RELATIVE_LINK = re.compile(r"\]\((?![a-z]+:|#)([^)\s#]+)(?:#[^)\s]*)?\)")
MAX_README_BYTES = 15 * 1024


def linked_files(page: Path) -> set[Path]:
    return {(page.parent / target).resolve() for target in RELATIVE_LINK.findall(page.read_text())}


def test_the_readme_stays_a_front_door():
    assert len(README.read_bytes()) <= MAX_README_BYTES


def test_every_page_in_docs_is_one_click_from_the_readme():
    pages = {page.resolve() for page in DOCS.glob("*.md")}

    assert pages - linked_files(README) == set()


@pytest.mark.parametrize("page", [README, *sorted(DOCS.glob("*.md"))], ids=lambda page: page.name)
def test_links_point_at_files_that_exist(page: Path):
    missing = sorted(str(path) for path in linked_files(page) if not path.exists())

    assert missing == []
