"""Assertions shared by the tests of file-backed datasets."""

from __future__ import annotations

import pytest

from ebkit.core.errors import UsageError


def assert_one_line(error: pytest.ExceptionInfo[UsageError], *fragments: str) -> None:
    message = str(error.value)
    assert "\n" not in message and message.strip() == message
    for fragment in fragments:
        assert fragment in message, (fragment, message)
