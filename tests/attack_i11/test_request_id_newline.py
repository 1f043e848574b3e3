"""An X-Request-Id ending in a newline is not taken as it is: `$` matches before a final newline."""

from __future__ import annotations

import pytest

from hotline.ops import requestid


@pytest.mark.parametrize("header", ["abcdefgh\n", "abcdefgh\r\n", "req-12345678\n"])
def test_a_request_id_with_a_line_break_is_replaced(header: str) -> None:
    chosen = requestid.choose(header)
    assert "\n" not in chosen and "\r" not in chosen
    assert chosen != header.rstrip()
