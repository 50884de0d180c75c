"""A cheap guard against deeply nested JSON, checked before the body is parsed.

``json.loads`` recurses once per nesting level and raises ``RecursionError`` near Python's recursion
limit (a 500, with the interpreter's stack spent on the way). Bodies are checked first: counting the
opening brackets is one pass in C, and only a body with more of them than the limit is scanned for
its actual depth (strings removed first, so brackets inside them do not count).
"""

from __future__ import annotations

import re
from itertools import accumulate

from django.conf import settings

_JSON_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+"')  # possessive: no backtracking on long strings
_NOT_BRACKETS = bytes(byte for byte in range(256) if byte not in b"[]{}")
_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


def json_depth_limit() -> int:
    return settings.TOKENWISE_MAX_JSON_DEPTH


def json_too_deep(raw: bytes | str, *, limit: int | None = None) -> bool:
    """Whether ``raw`` (JSON text, valid or not) nests arrays and objects deeper than ``limit``.

    Linear in the body's size; an unterminated string makes the answer err towards "too deep" only for
    a body that is not valid JSON anyway.
    """
    limit = json_depth_limit() if limit is None else limit
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogatepass")
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    brackets = _JSON_STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    return max(accumulate(_STEP[byte] for byte in brackets), default=0) > limit
