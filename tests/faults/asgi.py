"""The ASGI app the fault suite serves in a child process: Tokenwise's own, with shorter cache lifetimes.

Routes and the price table are normally re-read from the database every 15 and 30 seconds; here every
second, so even a short database outage in a scenario spans a refresh that must not break calls.
"""

from config.asgi import application  # noqa: F401  (sets Django up first)
from governance.services import pricing
from usage.proxy import upstream

upstream.ROUTES_TTL_S = 1.0
pricing.SNAPSHOT_TTL_S = 1.0
