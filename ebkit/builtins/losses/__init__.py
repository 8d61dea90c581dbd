"""The core's losses: ``cd``, ``gan`` and ``none``; ``hooks`` registers them."""
