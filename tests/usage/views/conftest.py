import pytest


@pytest.fixture(autouse=True)
def isolated_cache(settings, request):
    """Each page test gets its own in-process cache, so sign-in failure counters never leak between tests."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": f"tw-views-{request.node.nodeid}",
        }
    }
