"""Headless Chromium (Debian's ``chromium``, driven by Playwright) against a live Tokenwise.

The server is ``config.asgi`` under uvicorn in a thread of the test process (``tests.conftest.LiveServer``),
so it reads the test database. Screenshots go to ``test-output/screenshots/``.
"""

from __future__ import annotations

import os
from datetime import datetime, time, timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from tests.conftest import LiveServer

CHROMIUM = os.environ.get("TOKENWISE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def browser(django_db_setup):
    """Chromium, for one test module at a time.

    Playwright's sync API leaves an asyncio loop marked as running in this thread while it is started,
    which Django takes for an async context: the test database is created before it starts, and it is
    stopped after each browser module so that later tests run as usual.
    """
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: run scripts/browser (apt-get install chromium) "
            "or set TOKENWISE_CHROMIUM"
        )
    from playwright.sync_api import sync_playwright

    # While Playwright runs, the tests' own ORM calls (and pytest-django's flushes) are still plain
    # synchronous code in this thread, which Django would otherwise refuse; allowed for this module only.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield instance
            instance.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def live_web(transactional_db, settings):
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "tw-browser"}
    }
    with LiveServer() as server:
        yield server


class Pages:
    """Opens pages signed in as someone, and saves screenshots."""

    def __init__(self, browser, base_url: str) -> None:
        self.browser = browser
        self.base_url = base_url
        self.contexts = []

    def sign_in(self, email: str, *, password: str = PASSWORD, width: int = 1280, height: int = 900):
        context = self.browser.new_context(viewport={"width": width, "height": height})
        self.contexts.append(context)
        page = context.new_page()
        page.errors = []  # script errors, and console errors such as a Content-Security-Policy refusal
        page.on("pageerror", lambda error: page.errors.append(str(error)))
        page.on("console", lambda message: message.type == "error" and page.errors.append(message.text))
        page.on("dialog", lambda dialog: dialog.accept())  # confirmations of removals: the user says yes
        page.goto(self.base_url + "/")
        page.get_by_label("Username or e-mail").fill(email)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_load_state()
        return page

    def screenshot(self, page, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture
def pages(browser, live_web):
    helper = Pages(browser, live_web.url)
    yield helper
    helper.close()


def event_times(count: int) -> list[datetime]:
    """``count`` moments before now within this month (organisation time zone), spread over up to 4 days."""
    now = timezone.localtime()
    month_start = datetime.combine(now.date().replace(day=1), time.min, tzinfo=now.tzinfo)
    moments = []
    for index in range(count):
        moment = now - timedelta(days=index % 4, minutes=5 + index)
        moments.append(moment if moment >= month_start else month_start + timedelta(seconds=index))
    return moments


@pytest.fixture
def seeded(live_web):
    """A small organisation with a month of usage written through the ledger's own ingest path.

    platform: maria (manager), alice and bob (members); research: oscar. A team budget, one outcome for
    alice, an open flag on bob, keys for everyone.
    """
    from decimal import Decimal

    from governance.models import Flag, Membership, Policy, Price
    from governance.services.keys import key_create
    from governance.services.pricing import (
        DEFAULT_PRICES,
        DEFAULTS_VALID_FROM,
        cost_usd,
        price_set,
        price_table_load,
    )
    from tests.factories import TeamFactory, UserFactory
    from usage.ledger.event_record import UsageEventData
    from usage.ledger.ingest import usage_events_ingest
    from usage.ledger.rollups import usage_rollups_rebuild
    from usage.models import Outcome

    platform, research = TeamFactory(slug="platform", name="Platform"), TeamFactory(slug="research", name="Research")
    people = {
        "maria": (UserFactory(email="maria@example.com"), platform, Membership.Role.MANAGER),
        "alice": (UserFactory(email="alice@example.com"), platform, Membership.Role.MEMBER),
        "bob": (UserFactory(email="bob@example.com"), platform, Membership.Role.MEMBER),
        "oscar": (UserFactory(email="oscar@example.com"), research, Membership.Role.MEMBER),
    }
    admin = UserFactory(email="root@example.com", is_staff=True, is_superuser=True)
    keys = {}
    for name, (user, team, role) in people.items():
        Membership.objects.create(user=user, team=team, role=role)
        keys[name] = key_create(user=user, team=team, name="seed")[0]
    if not Price.objects.exists():  # a transactional test before this one flushed the migration's prices
        for model, rate_in, rate_cached, rate_out in DEFAULT_PRICES:
            price_set(
                model=model,
                input_per_mtok=rate_in,
                cached_input_per_mtok=rate_cached,
                output_per_mtok=rate_out,
                valid_from=DEFAULTS_VALID_FROM,
            )
    prices = price_table_load()
    plan = [
        ("alice", "gpt-4o", 1500, 400),
        ("alice", "gpt-4o-mini", 900, 300),
        ("bob", "gpt-4o-mini", 2500, 50),
        ("maria", "gpt-4.1-mini", 600, 200),
        ("oscar", "gpt-4o", 5000, 5000),
    ]
    events = []
    for index, when in enumerate(event_times(len(plan) * 6)):
        name, model, prompt, completion = plan[index % len(plan)]
        user, team, _ = people[name]
        prompt += index * 7
        quote = prices.quote(model, at=when)
        events.append(
            UsageEventData(
                request_id=f"req_browser_{index:04d}",
                created_at=when,
                endpoint="chat.completions",
                key_id=keys[name].pk,
                user_id=user.pk,
                team_id=team.pk,
                model_requested=model,
                model_served=model,
                provider="fake",
                prompt_tokens=prompt,
                completion_tokens=completion,
                total_tokens=prompt + completion,
                cost_usd=str(cost_usd(quote, prompt_tokens=prompt, cached_tokens=0, completion_tokens=completion)),
                price_id=quote.id,
                latency_ms=300,
                purpose="coding",
            )
        )
    usage_events_ingest(events=events)
    usage_rollups_rebuild()
    Policy.objects.create(scope=Policy.Scope.TEAM, team=platform, usd_per_month=Decimal("0.25"))
    Outcome.objects.create(
        external_id="pr-101",
        kind="pr_merged",
        user=people["alice"][0],
        team=platform,
        occurred_at=timezone.now(),
        value=1,
    )
    now = timezone.now()
    flag = Flag.objects.create(
        user=people["bob"][0],
        team=platform,
        detector="repetition",
        score=3.7,
        period_start=now - timedelta(days=7),
        period_end=now,
        evidence={
            "summary": "78% of bob's prompts were near-identical (team median 6%).",
            "share_near_identical": 0.78,
            "team_median": 0.06,
            "examples": ["req_browser_0002", "req_browser_0007"],
        },
    )
    return {
        "people": {name: item[0] for name, item in people.items()},
        "admin": admin,
        "flag": flag,
        "platform": platform,
        "research": research,
    }
