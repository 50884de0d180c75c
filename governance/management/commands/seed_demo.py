"""``python manage.py seed_demo``: a clearly labelled demo organisation to try Tokenwise with."""

from __future__ import annotations

import random
from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from governance.models import ApiKey, Membership
from governance.services.keys import key_create, key_revoke
from governance.services.orgs import membership_set, team_get_or_create, user_get_or_create
from governance.services.providers import provider_upsert, route_upsert

DEMO_PASSWORD = "tokenwise-demo"
LABEL = "command:seed_demo"
TEAMS = {"platform": "Platform (demo)", "research": "Research (demo)", "support": "Support (demo)"}
PEOPLE = [
    # e-mail, team, role
    ("maria.manager@demo.tokenwise", "platform", Membership.Role.MANAGER),
    ("maria.manager@demo.tokenwise", "research", Membership.Role.MANAGER),
    ("alice@demo.tokenwise", "platform", Membership.Role.MEMBER),
    ("bob@demo.tokenwise", "platform", Membership.Role.MEMBER),
    ("carol@demo.tokenwise", "research", Membership.Role.MEMBER),
    ("dan@demo.tokenwise", "research", Membership.Role.MEMBER),
    ("sam.support@demo.tokenwise", "support", Membership.Role.MANAGER),
    ("erin@demo.tokenwise", "support", Membership.Role.MEMBER),
]
MODELS = ["gpt-4o-mini", "gpt-4o-mini", "gpt-4o-mini", "gpt-4o", "text-embedding-3-small", "gpt-4.1-mini"]


class Command(BaseCommand):
    help = "Create a DEMO organisation (teams, people, keys, history) and the built-in demo upstream."

    def add_arguments(self, parser):
        parser.add_argument("--base-url", default=settings.TOKENWISE_BASE_URL,
                            help="where this Tokenwise is served (the demo upstream is mounted under it)")
        parser.add_argument("--days", type=int, default=30, help="days of synthetic usage history")
        parser.add_argument("--seed", type=int, default=7)

    def handle(self, *args, **options):
        with transaction.atomic():
            people = self._org()
            provider = provider_upsert(name="demo", base_url=options["base_url"].rstrip("/") + "/demo-upstream/v1",
                                       api_key="demo-upstream-key", actor_label=LABEL)
            route_upsert(pattern="*", provider=provider, priority=1000, actor_label=LABEL)
            keys = self._keys(people)
        events = self._history(people, days=options["days"], seed=options["seed"])
        self.stdout.write(self.style.WARNING("DEMO DATA - synthetic people, usage and answers; not for production."))
        self.stdout.write(f"Demo upstream: {provider.base_url} (synthetic answers, no provider account needed)")
        self.stdout.write(f"History: {events} usage events over {options['days']} days.")
        self.stdout.write(f"Sign in at {options['base_url']}/ with any demo e-mail and password '{DEMO_PASSWORD}':")
        self.stdout.write("  admin@demo.tokenwise (admin), maria.manager@demo.tokenwise (manager), alice@demo.tokenwise")
        self.stdout.write("Proxy keys (shown once; earlier demo keys were revoked):")
        for email, team, secret in keys:
            self.stdout.write(f"  {email:32} {team:10} {secret}")

    def _org(self) -> dict:
        admin = user_get_or_create(email="admin@demo.tokenwise", actor_label=LABEL)
        admin.is_staff = admin.is_superuser = True
        admin.set_password(DEMO_PASSWORD)
        admin.save()
        teams = {slug: team_get_or_create(slug=slug, name=name, actor_label=LABEL) for slug, name in TEAMS.items()}
        people = {}
        for email, slug, role in PEOPLE:
            user = user_get_or_create(email=email, actor_label=LABEL)
            if not user.has_usable_password():
                user.set_password(DEMO_PASSWORD)
                user.save()
            membership_set(user=user, team=teams[slug], role=role, actor_label=LABEL)
            people.setdefault(email, (user, []))[1].append(teams[slug])
        return people

    def _keys(self, people: dict) -> list[tuple[str, str, str]]:
        for key in ApiKey.objects.filter(name="demo", revoked_at__isnull=True):
            key_revoke(key=key, actor_label=LABEL)
        out = []
        for email, (user, teams) in people.items():
            for team in teams:
                _, secret = key_create(user=user, team=team, name="demo", actor_label=LABEL)
                out.append((email, team.slug, secret))
        return out

    def _history(self, people: dict, *, days: int, seed: int) -> int:
        """Synthetic past usage, written through the ledger's own ingest path."""
        from governance.services.pricing import cost_usd, price_table_load
        from usage.events import UsageEventData
        from usage.models import UsageEvent
        from usage.services import usage_events_ingest, usage_rollups_rebuild

        if UsageEvent.objects.filter(request_id__startswith="req_demo_").exists():
            return UsageEvent.objects.filter(request_id__startswith="req_demo_").count()
        rng = random.Random(seed)
        prices = price_table_load()
        now = timezone.now()
        events = []
        for email, (user, teams) in people.items():
            keys = {k.team_id: k.pk for k in ApiKey.objects.filter(user=user, name="demo")}
            for team in teams:
                for day in range(days, 0, -1):
                    for _ in range(rng.randint(0, 12)):
                        model = rng.choice(MODELS)
                        when = now - timedelta(days=day, minutes=rng.randint(0, 600))
                        prompt = rng.randint(50, 2500)
                        completion = 0 if model.startswith("text-embedding") else rng.randint(20, 800)
                        quote = prices.quote(model, at=when)
                        cost = cost_usd(quote, prompt_tokens=prompt, cached_tokens=0, completion_tokens=completion)
                        events.append(UsageEventData(
                            request_id=f"req_demo_{len(events):08d}", created_at=when,
                            endpoint="embeddings" if completion == 0 else "chat.completions",
                            key_id=keys.get(team.pk), user_id=user.pk, team_id=team.pk, model_requested=model,
                            model_served=model, provider="demo", prompt_tokens=prompt, completion_tokens=completion,
                            total_tokens=prompt + completion, cost_usd=str(cost) if quote else None,
                            price_id=quote.id if quote else None, latency_ms=rng.randint(200, 4000),
                            max_tokens=completion and 1024, purpose=rng.choice(["", "coding", "support", "docs"]),
                        ))
        usage_events_ingest(events=events)
        usage_rollups_rebuild()
        return len(events)
