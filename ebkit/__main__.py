"""``python -m ebkit`` runs the command line."""

from ebkit.cli import main

main()
