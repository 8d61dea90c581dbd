"""The core's losses: ``cd`` and ``gan``."""
