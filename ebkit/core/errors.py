"""Exceptions that the CLI turns into one clear line and an exit code.

Anything raised as one of these is a message for the user, not a bug: the CLI prints
``Error: <message>`` and exits with :attr:`EbkitError.exit_code`, never a traceback.
"""

from __future__ import annotations

__all__ = ["EbkitError", "NonFiniteLossError", "PluginError", "TrainingInterrupted", "UsageError"]


class EbkitError(Exception):
    """A failure while running (bad data file, unwritable directory...): exit code 1."""

    exit_code = 1


class UsageError(EbkitError):
    """The user asked for something invalid (unknown name, bad option value): exit code 2."""

    exit_code = 2


class PluginError(EbkitError):
    """A plugin failed to load or returned invalid records (raised only in strict mode)."""


class NonFiniteLossError(EbkitError):
    """A loss became NaN or infinite; training stops and keeps the last good checkpoint."""


class NonFiniteStateError(EbkitError):
    """A parameter, buffer or optimiser state became NaN or infinite (a finite loss can
    have a non-finite gradient); it is never saved, and the last checkpoint stays."""


class TrainingInterrupted(EbkitError):
    """Ctrl-C (SIGINT) during training; a checkpoint of the last whole step was saved
    first, unless a second Ctrl-C cut the step short: exit code 130 (128 + SIGINT)."""

    exit_code = 130


class TrainingTerminated(TrainingInterrupted):
    """SIGTERM during training (what SLURM, Kubernetes and spot instances send before
    they kill a job); a checkpoint of the last whole step was saved first: exit code 143
    (128 + SIGTERM)."""

    exit_code = 143
