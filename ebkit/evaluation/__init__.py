"""Evaluating saved runs (``ebkit evaluate``) and scoring data by energy (``ebkit score``)."""
