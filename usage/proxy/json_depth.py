"""The proxy's name for the JSON depth guard, which lives in ``governance.json_depth`` so that the
management API (``governance.apis.parsers``) shares it without importing the proxy."""

from __future__ import annotations

from governance.json_depth import json_depth_limit, json_too_deep

__all__ = ["json_depth_limit", "json_too_deep"]
