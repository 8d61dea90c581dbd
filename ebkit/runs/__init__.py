"""Runs: configurations, building components, training into a run directory,
checkpoints and saved runs (the floor above the engine and the plugin system)."""
