"""Watching and comparing runs: the logger interface plugins implement
(:class:`ebkit.tracking.logger.Logger`), the built-in TensorBoard logger and
``ebkit compare``. Nothing here imports torch or a tracker until it is used."""
