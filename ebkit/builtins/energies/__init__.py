"""The core's energies: ``mlp`` and ``conv``; ``hooks`` registers them."""
