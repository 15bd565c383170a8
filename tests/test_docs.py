"""Docs generated from code must match the committed files; the README documents every setting."""

from __future__ import annotations

from pathlib import Path

from cornerstone.bff.config import BffSettings
from cornerstone.kernel.config import KernelSettings
from cornerstone.ops.docs import GENERATED_DOCS


def test_generated_docs_match_the_committed_files(repo_root: Path) -> None:
    for name, render in GENERATED_DOCS.items():
        committed = (repo_root / "docs" / name).read_text()
        assert committed == render(), f"docs/{name} is stale: run `cornerstone docs`"


def test_state_machine_doc_lists_every_edge_of_the_table(repo_root: Path) -> None:
    from cornerstone.kernel.deals.state_machine import EDGES

    text = (repo_root / "docs" / "STATE_MACHINE.md").read_text()
    for edge in EDGES:
        assert f"| `{edge.source.value}` | `{edge.target.value}` |" in text
        assert f"    {edge.source.value} --> {edge.target.value}" in text


def test_readme_documents_every_setting(repo_root: Path) -> None:
    readme = (repo_root / "README.md").read_text()
    names = {name for cls in (KernelSettings, BffSettings) for name in cls.model_fields}
    missing = sorted(f"CORNERSTONE_{name.upper()}" for name in names if f"`CORNERSTONE_{name.upper()}`" not in readme)
    assert missing == []
