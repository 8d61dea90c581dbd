"""The core's samplers: ``generator``, ``langevin``, ``replay``, ``generator-langevin``,
``none``; ``hooks`` registers them."""
