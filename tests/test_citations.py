"""Code and docs cite papers (author, year, section or equation), never documents users do
not have: the project's specification ("SPEC §N") or the slide decks it was written from
("seed 001", "the deck")."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SEARCHED = ["ebkit", "plugins", "docs", "examples", "README.md", "CHANGELOG.md"]
SUFFIXES = {".py", ".md", ".tmpl", ".toml", ".txt"}
SKIPPED_PARTS = {"__pycache__", ".venv", "build", "dist"}
UNAVAILABLE = re.compile(r"SPEC §|SPEC\.md|seed 001|\bseed deck|\b[Tt]he deck\b|\bdeck's\b")


def searched_files() -> list[Path]:
    files = []
    for name in SEARCHED:
        path = ROOT / name
        candidates = [path] if path.is_file() else sorted(path.rglob("*"))
        files += [
            candidate
            for candidate in candidates
            if candidate.is_file()
            and candidate.suffix in SUFFIXES
            and not SKIPPED_PARTS & set(candidate.relative_to(ROOT).parts)
            and not any(part.endswith(".egg-info") for part in candidate.parts)
        ]
    return files


def test_the_search_covers_code_and_docs() -> None:
    files = {path.relative_to(ROOT).as_posix() for path in searched_files()}
    assert "ebkit/builtins/samplers/langevin.py" in files
    assert "docs/conditional.md" in files
    assert any(name.startswith("plugins/ebkit-losses/") for name in files)


@pytest.mark.parametrize(
    "text",
    ["see SPEC §5", "seed 001, Algorithm 1", "as the deck says", "the deck's table"],
)
def test_the_pattern_finds_each_kind_of_citation(text: str) -> None:
    assert UNAVAILABLE.search(text)


def test_no_file_cites_documents_users_do_not_have() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in searched_files()
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
        if UNAVAILABLE.search(line)
    ]
    assert found == []
