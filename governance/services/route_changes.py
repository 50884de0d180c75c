"""This process's count of committed provider and model-route changes.

The provider and route services (``governance.services.providers``) bump it once their transaction
commits; the proxy's routing table (``usage.proxy.upstream``) reloads when it sees a new
count. The proxy reads it, governance never imports the proxy. No Django imports: the proxy reads it on
every call.
"""

from __future__ import annotations

_version = 0


def routes_version() -> int:
    """How many provider or route changes this process has committed so far."""
    return _version


def routes_changed() -> None:
    """Record a committed provider or route change (run from ``transaction.on_commit``)."""
    global _version
    _version += 1
