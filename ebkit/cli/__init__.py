"""The ``ebkit`` command line (import-light: ``--help`` never imports torch)."""
