"""``manage.py serve``: a port another server holds is found before anything is migrated or seeded."""

from __future__ import annotations

import socket

import pytest
from django.core.management import CommandError, call_command

from governance.models import Team
from usage.models import UsageEvent


@pytest.fixture
def taken_port():
    with socket.socket() as other_server:
        other_server.bind(("127.0.0.1", 0))
        other_server.listen()
        yield other_server.getsockname()[1]


@pytest.mark.django_db
def test_demo_on_a_taken_port_says_how_to_pick_another_and_seeds_nothing(taken_port, settings):
    settings.TOKENWISE_DEMO_UPSTREAM = True

    with pytest.raises(CommandError) as refused:
        call_command("serve", "--demo", "--port", str(taken_port))

    assert str(refused.value).startswith(f"Cannot listen on 127.0.0.1:{taken_port} (Address already in use)")
    assert str(refused.value).endswith(
        f"Pick another port: make demo PORT={taken_port + 1} "
        f"(or: python manage.py serve --demo --port {taken_port + 1})."
    )
    assert (Team.objects.count(), UsageEvent.objects.count()) == (0, 0)


@pytest.mark.django_db
def test_run_on_a_taken_port_names_make_run(taken_port):
    with pytest.raises(CommandError, match=f"make run PORT={taken_port + 1}"):
        call_command("serve", "--port", str(taken_port), "--no-migrate")
