"""The exit handler of a data-parallel rank: a rank that finished waits for the others
before the process group is shut down; a rank that failed does not wait."""

from __future__ import annotations

import pytest
import torch.distributed as dist

from ebkit.runs import distributed


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    recorded: list[str] = []
    monkeypatch.setattr(dist, "is_initialized", lambda: True)
    monkeypatch.setattr(dist, "barrier", lambda group=None: recorded.append(f"barrier {group}"))
    monkeypatch.setattr(dist, "destroy_process_group", lambda: recorded.append("destroy"))
    parallel = distributed.Parallel(0, 2, 0, "gloo", control="control-group")
    monkeypatch.setattr(distributed, "_current", parallel)
    monkeypatch.setattr(distributed, "_finished", False)
    return recorded


def test_a_rank_that_failed_shuts_down_without_waiting(calls: list[str]) -> None:
    distributed._leave_process_group()
    assert calls == ["destroy"]


def test_a_rank_that_finished_waits_for_the_others_first(calls: list[str]) -> None:
    distributed.mark_finished()
    distributed._leave_process_group()
    assert calls == ["barrier control-group", "destroy"]


def test_a_wait_that_fails_still_shuts_down(
    calls: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(group: object = None) -> None:
        raise RuntimeError("the other rank is gone")

    monkeypatch.setattr(dist, "barrier", broken)
    distributed.mark_finished()
    distributed._leave_process_group()
    assert calls == ["destroy"]
