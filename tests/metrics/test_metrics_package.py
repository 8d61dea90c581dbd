"""ebkit.metrics imports on its own, and docs/metrics.md documents it (its example is run
by tests/docs/test_docs_examples.py with every other page's)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
GUIDE = REPO / "docs" / "metrics.md"


def _fresh_python(code: str, **environment: str) -> str:
    env = {**os.environ, "OMP_NUM_THREADS": "1", **environment}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_importing_the_metrics_loads_no_cli_plugins_or_plotting() -> None:
    loaded = _fresh_python("import sys, ebkit.metrics; print(' '.join(sorted(sys.modules)))")
    modules = set(loaded.split())
    assert "ebkit.metrics" in modules
    unwanted = [
        name
        for name in modules
        if name in ("ebkit.cli.main", "ebkit.plugin.manager", "ebkit.core.engine", "click", "rich")
        or name.startswith(("matplotlib", "ebkit_", "ebkit.builtins"))
    ]
    assert unwanted == []


def test_importing_ebkit_still_does_not_import_torch() -> None:
    assert _fresh_python("import sys, ebkit; print('torch' in sys.modules)").strip() == "False"


def test_the_guide_documents_the_main_functions() -> None:
    import ebkit.metrics

    text = GUIDE.read_text()
    functions = ["mixture_mode_coverage", "sliced_wasserstein", "rbf_mmd2", "image_metrics"]
    functions += ["inception_score", "ebgan_inception_score", "class_coverage"]
    functions += ["class_match_share", "energy_auroc", "cached_classifier"]
    for name in functions:
        assert name in ebkit.metrics.__all__
        assert f"`{name}" in text, name
