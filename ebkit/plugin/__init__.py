"""The plugin system: hook specifications, component records, the plugin manager, and the
tools that install plugins and scaffold new ones. Import-light: nothing here imports torch
at module level, so listing plugins and printing ``--help`` stay fast.
"""
