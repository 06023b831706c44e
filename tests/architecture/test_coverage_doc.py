"""docs/coverage.md and the README's summary are generated from the handler table; not stale."""

from pathlib import Path

from tule.cli.coverage import BEGIN, END, coverage_markdown, summary_table

ROOT = Path(__file__).resolve().parents[2]


def test_coverage_doc_is_current() -> None:
    committed = (ROOT / "docs" / "coverage.md").read_text()
    assert committed == coverage_markdown(), "run `make coverage` to regenerate docs/coverage.md"


def test_readme_summary_is_current() -> None:
    readme = (ROOT / "README.md").read_text()
    block = readme.split(BEGIN, 1)[1].split(END, 1)[0].strip()
    assert block == summary_table(), "run `make coverage` to refresh the README table"
