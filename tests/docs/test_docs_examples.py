"""Every Python example in the documentation runs, so the docs cannot rot.

Convention (docs/contributing.md explains it to writers): each ```python block of
``docs/**/*.md`` and ``README.md`` is executed. The blocks of one page run in order, in
one namespace (a later block may use what an earlier one defined), in a fresh temporary
working directory, with a fresh plugin manager over the installed plugins and with torch's
global RNG restored afterwards. Keep examples fast: small networks, a few dozen steps.

A block that cannot run on its own — an outline, code that needs a distribution to be
installed — is opted out with the line ``<!-- no-test: why -->`` right before its fence,
and listed in :data:`OPTED_OUT` below with the reason; the two must agree. Blocks marked
``<!-- example-plugin: PATH -->`` are verbatim copies of ``docs/example-plugin`` files,
which ``tests/docs/test_docs_example_plugin.py`` installs and tests in a virtual environment.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

OPTED_OUT: dict[tuple[str, str], str] = {
    (
        "docs/concepts.md",
        "# a data batch; y holds its labels in a conditional run (--conditional), else None",
    ): "an outline of Trainer.train_step that reads the trainer's attributes; the step "
    "itself is tested in tests/core/test_engine_step.py",
    ("docs/anomaly.md", "import numpy as np"): "needs the MNIST files; the same recipe on "
    "the embedded digits runs above it on the page",
}
"""(page, first line of the block) -> why the block does not run."""

_FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`\s]*)[^`]*$")
_NO_TEST = re.compile(r"^\s*<!--\s*no-test\b.*-->\s*$")
_EXAMPLE_PLUGIN = re.compile(r"^\s*<!--\s*example-plugin:.*-->\s*$")


@dataclass(frozen=True)
class Block:
    page: str
    line: int
    """1-based line of the opening fence."""
    code: str
    marker: str | None
    """``no-test``, ``example-plugin`` or ``None``: the comment line before the fence."""

    @property
    def first_line(self) -> str:
        return next((line for line in self.code.splitlines() if line.strip()), "")


def pages() -> list[Path]:
    found = [*sorted(REPO.glob("docs/**/*.md")), REPO / "README.md"]
    return [page for page in found if page.is_file()]


def python_blocks(page: Path, root: Path = REPO) -> list[Block]:
    """The ```python blocks of a page, not counting fences nested in other blocks."""
    lines = page.read_text(encoding="utf-8").splitlines()
    relative = page.relative_to(root).as_posix()
    blocks = []
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        fence, indent = opening["fence"], len(opening["indent"])
        end = index + 1
        while end < len(lines) and not _closes(lines[end], fence):
            end += 1
        if opening["info"].lower() == "python":
            body = "\n".join(line[indent:] for line in lines[index + 1 : end])
            previous = next((line for line in reversed(lines[:index]) if line.strip()), "")
            marker = (
                "no-test"
                if _NO_TEST.match(previous)
                else "example-plugin"
                if _EXAMPLE_PLUGIN.match(previous)
                else None
            )
            blocks.append(Block(relative, index + 1, body + "\n", marker))
        index = end + 1
    return blocks


def _closes(line: str, fence: str) -> bool:
    stripped = line.strip()
    return stripped.startswith(fence) and set(stripped) == {fence[0]}


def _id(page: Path) -> str:
    return page.relative_to(REPO).as_posix()


def test_blocks_are_found_with_their_markers(tmp_path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "intro\n\n```python\nx = 1\n```\n\n<!-- no-test: needs a GPU -->\n```python\ncuda()\n```\n"
        "\n````markdown\n```python\nnot_a_block()\n```\n````\n\n- item\n\n  ```python\n"
        "  y = x + 1\n  ```\n\n```bash\necho hi\n```\n"
    )
    blocks = python_blocks(page, root=tmp_path)
    assert [(block.code, block.marker, block.line) for block in blocks] == [
        ("x = 1\n", None, 3),
        ("cuda()\n", "no-test", 8),
        ("y = x + 1\n", None, 20),
    ]


def test_the_library_guide_has_runnable_examples() -> None:
    blocks = python_blocks(REPO / "docs" / "library.md")
    assert len([block for block in blocks if block.marker is None]) >= 5


def test_opted_out_blocks_are_listed_with_a_reason() -> None:
    marked = {
        (block.page, block.first_line)
        for page in pages()
        for block in python_blocks(page)
        if block.marker == "no-test"
    }
    assert marked == set(OPTED_OUT), (
        "a block marked <!-- no-test --> must be listed in OPTED_OUT with its reason, and "
        "every entry of OPTED_OUT must still be marked in its page"
    )


FIRST_PARTY_PLUGINS = (
    "ebkit-autoencoder",
    "ebkit-estimation",
    "ebkit-hmc",
    "ebkit-ladder",
    "ebkit-lecun",
    "ebkit-losses",
    "ebkit-pt",
    "ebkit-rae",
)
_PLUGIN_COMPONENT = re.compile(
    r"""["'](autoencoder|ladder|margin|began|pt|square-square|square-exponential|pair-hinge|"""
    r"""log-loss|mce|denoising-ae|contractive-ae|sparse-ae|dsm|ssm|nce|hmc)["']"""
    r"""|\bebkit_(autoencoder|estimation|hmc|ladder|lecun|losses|pt|rae)\b"""
)


def page_param(page: Path) -> object:
    """A page whose examples name a first-party plugin's component (EBGAN's auto-encoder
    energy, the margin loss, ...) is an integration test of the core with the plugins."""
    code = "".join(block.code for block in python_blocks(page) if block.marker is None)
    marks = (
        [pytest.mark.integration(*FIRST_PARTY_PLUGINS)] if _PLUGIN_COMPONENT.search(code) else []
    )
    return pytest.param(page, marks=marks, id=_id(page))


@pytest.mark.parametrize("page", [page_param(page) for page in pages() if python_blocks(page)])
def test_the_python_examples_of_the_page_run(
    page: Path, tmp_path, monkeypatch, ebkit_plugins
) -> None:
    import torch

    monkeypatch.chdir(tmp_path)
    ebkit_plugins(entry_points=True)
    namespace: dict[str, object] = {"__name__": f"docs_example_{page.stem}"}
    with torch.random.fork_rng(devices=[]):
        for block in python_blocks(page):
            if block.marker is not None:
                continue
            # Padded so that a traceback shows the line numbers of the page.
            code = compile("\n" * block.line + block.code, block.page, "exec")
            try:
                exec(code, namespace)
            except Exception as error:
                raise AssertionError(
                    f"the ```python block at {block.page}:{block.line} failed: "
                    f"{type(error).__name__}: {error}"
                ) from error
