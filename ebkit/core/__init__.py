"""The ground floor: the interfaces every component implements and the training engine.

Nothing here imports anything of ebkit above this package (the plugin system, runs,
evaluation, pictures, the CLI); everything above builds on it.
"""
