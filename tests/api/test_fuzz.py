"""Fuzz every operation of the OpenAPI schema (schemathesis, valid and invalid inputs) as an admin:
no 500s, and every response - status, content type, body - conforms to the schema.

Bounded for CI: a few examples per operation (``TOKENWISE_FUZZ_EXAMPLES``, default 6), no shrinking.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, assume, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

MAX_EXAMPLES = int(os.environ.get("TOKENWISE_FUZZ_EXAMPLES", "6"))


def _load_schema():
    from config.wsgi import application  # Django is set up by pytest-django before collection

    return schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)


schema = _load_schema()  # serving the schema reads no database


@pytest.fixture
def keep_test_connection():
    """Calls go through the WSGI app, whose request signals would close the test's transaction; Django's
    test client detaches the same handler."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.mark.timeout(300)
@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_operation_never_fails_and_conforms_to_the_schema(case, world, keep_test_connection):
    # Revoking the fuzzer's own token would only turn the rest of the run into 401s.
    assume(case.path_parameters is None or case.path_parameters.get("token_id") != world.tokens["admin"].pk)

    case.call_and_validate(
        headers={"Authorization": f"Bearer {world.secrets['admin']}"},
        checks=[not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance],
    )
