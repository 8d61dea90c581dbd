"""``python -m ebkit`` runs the command line."""

from ebkit.cli.main import main

main()
