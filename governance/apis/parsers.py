"""The API's JSON parser: DRF's, with the proxy's nesting guard in front of it.

A body nested deeper than ``TOKENWISE_MAX_JSON_DEPTH`` is refused with 400 in the API's error shape
before ``json.loads`` recurses into it (Python's parser raises ``RecursionError`` near 1,000 levels,
which DRF does not catch: a 500).
"""

from __future__ import annotations

import io

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from governance.json_depth import json_depth_limit, json_too_deep


class DepthLimitedJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        raw = stream.read() if stream is not None else b""
        if json_too_deep(raw):
            raise ParseError(f"JSON parse error - the body nests deeper than {json_depth_limit()} levels.")
        return super().parse(io.BytesIO(raw), media_type, parser_context)
