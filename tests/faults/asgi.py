"""The ASGI app the fault suite serves in a child process: Tokenwise's own, with shorter cache lifetimes.

The price table is normally re-read from the database every 30 seconds; here every second, so even a
short database outage in a scenario spans a refresh that must not break calls. (The routing table is
read again only when a provider or route changes: governance.services.route_changes.)
"""

from config.asgi import application  # noqa: F401  (sets Django up first)
from governance.services import pricing

pricing.SNAPSHOT_TTL_S = 1.0
