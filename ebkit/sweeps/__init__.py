"""Hyper-parameter sweeps on Optuna (``ebkit sweep``): grids and searches over any
component or train option, each trial an ordinary run directory, the study shared by
any number of worker processes through Optuna's storage. Needs the ``sweep`` extra
(``pip install 'ebkit[sweep]'``); :mod:`ebkit.sweeps.spec` alone does not.
"""

from __future__ import annotations

from ebkit.sweeps.spec import Parameter, SweepSpec, read_spec

__all__ = ["Parameter", "SweepSpec", "read_spec"]
