"""The core's energies: ``mlp`` and ``conv``."""
