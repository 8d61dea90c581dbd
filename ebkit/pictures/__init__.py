"""PNG pictures of runs: sample grids and scatters, 2-D energy landscapes, training curves."""
