"""``ebkit train --nproc N``: the same command in N processes on this machine, launched
through ``torch.distributed.run`` (what ``torchrun --standalone --nproc-per-node N -m
ebkit train ...`` does), with the launcher's failures reported in one line.

Import-light: torch is imported when a launch happens.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Sequence

from ebkit.core.errors import EbkitError

__all__ = ["LaunchFailed", "launch_ranks", "without_nproc"]


class LaunchFailed(EbkitError):
    """A rank of a launched job failed; its exit code is the job's."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def without_nproc(argv: Sequence[str]) -> list[str]:
    """``argv`` less its ``--nproc N`` / ``--nproc=N``: the command each rank runs."""
    kept: list[str] = []
    skip = False
    for token in argv:
        if skip:
            skip = False
        elif token == "--nproc":
            skip = True
        elif not token.startswith("--nproc="):
            kept.append(token)
    return kept


def launch_ranks(nproc: int, argv: Sequence[str]) -> None:
    """Run ``python -m ebkit <argv>`` in ``nproc`` processes (a standalone c10d
    rendezvous on a free local port) and wait for them. A rank's failure raises
    :class:`LaunchFailed` with its exit code (2 when every rank refused the options);
    SIGTERM or SIGINT to this process reach every rank, which save a checkpoint at the
    end of their step, and raise :class:`LaunchFailed` with 128 + the signal."""
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import elastic_launch
    from torch.distributed.run import config_from_args, get_args_parser

    os.environ.setdefault("OMP_NUM_THREADS", "1")  # one thread per rank, said torchrun
    # The ranks say what went wrong; the agent's own log lines would only repeat it.
    logging.getLogger("torch.distributed.elastic").setLevel(logging.CRITICAL)
    launcher_args = [
        "--nnodes=1",
        f"--nproc-per-node={nproc}",
        "--rdzv-backend=c10d",
        "--rdzv-endpoint=localhost:0",
        f"--rdzv-id={uuid.uuid4()}",
        "--monitor-interval=0.2",
        "-m",
        "ebkit",
        *argv,
    ]
    config, command, command_args = config_from_args(get_args_parser().parse_args(launcher_args))
    try:
        elastic_launch(config, command)(*command_args)
    except ChildFailedError as failure:
        codes = {rank: item.exitcode for rank, item in failure.failures.items()}
        first_rank, first = failure.get_first_failure()
        if set(codes.values()) == {2}:
            raise LaunchFailed("the ranks refused the command (see above)", 2) from None
        code = first.exitcode if first.exitcode > 0 else 128 - first.exitcode
        raise LaunchFailed(
            f"rank {first_rank} failed with exit code {first.exitcode} (its message is above); "
            "the launcher stopped the other ranks",
            code,
        ) from None
    except SignalException as stop:
        code = 128 + int(stop.sigval)
        raise LaunchFailed(
            f"stopped by {stop.sigval.name} (continue with the same command and --resume)", code
        ) from None
