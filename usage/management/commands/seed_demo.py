"""``python manage.py seed_demo``: a clearly labelled demo organisation to try Tokenwise with."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction
from django.test.utils import override_settings
from django.utils import timezone

from devtools.synthetic import Call, Mix, event_data, words
from governance.models import ApiKey, Membership, Team
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
BUDGETS = {
    "platform": {"tokens_per_month": 3_000_000, "usd_per_month": 25, "alert_thresholds": [50, 80, 100]},
    "research": {"tokens_per_month": 2_000_000, "alert_thresholds": [80, 100]},
}
SCRIPTED = "dan@demo.tokenwise"
SCRIPT_PROMPT = "Generate a detailed status report for my AI usage dashboard, as long as possible."
# The demo's model mix (served by the demo upstream, priced by the price table).
MODEL_MIX = Mix((("gpt-4o-mini", 3), ("gpt-4o", 1), ("text-embedding-3-small", 1), ("gpt-4.1-mini", 1)))


class Command(BaseCommand):
    help = "Create a DEMO organisation (teams, people, keys, history) and the built-in demo upstream."

    def add_arguments(self, parser):
        parser.add_argument(
            "--base-url",
            default=settings.TOKENWISE_BASE_URL,
            help="where this Tokenwise is served (the demo upstream is mounted under it)",
        )
        parser.add_argument("--days", type=int, default=30, help="days of synthetic usage history")
        parser.add_argument("--seed", type=int, default=7)

    def handle(self, *args, **options):
        with transaction.atomic():
            people = self._org()
            provider = provider_upsert(
                name="demo",
                base_url=options["base_url"].rstrip("/") + "/demo-upstream/v1",
                api_key="demo-upstream-key",
                actor_label=LABEL,
            )
            route_upsert(pattern="*", provider=provider, priority=1000, actor_label=LABEL)
            # The demo upstream speaks Anthropic's Messages API too: Claude Code works against make demo. Every
            # Claude model is served as claude-sonnet-4-6 (priced by default), whatever Claude Code asks for.
            claude = provider_upsert(
                name="demo-anthropic",
                base_url=options["base_url"].rstrip("/") + "/demo-upstream",
                api_key="demo-upstream-key",
                kind="anthropic",
                actor_label=LABEL,
            )
            route_upsert(
                pattern="claude-*",
                provider=claude,
                upstream_model="claude-sonnet-4-6",
                priority=1000,
                actor_label=LABEL,
            )
            keys = self._keys(people)
            self._budgets()
        events = self._history(people, days=options["days"], seed=options["seed"])
        self.stdout.write(self.style.WARNING("DEMO DATA - synthetic people, usage and answers; not for production."))
        self.stdout.write(f"Demo upstream: {provider.base_url} (synthetic answers, no provider account needed)")
        self.stdout.write(
            f"History: {events} usage events over {options['days']} days; "
            f"{len(getattr(self, '_flags', []))} usage-chasing flags raised for review."
        )
        self.stdout.write(f"Sign in at {options['base_url']}/ with any demo e-mail and password '{DEMO_PASSWORD}':")
        self.stdout.write(
            "  admin@demo.tokenwise (admin), maria.manager@demo.tokenwise (manager), alice@demo.tokenwise"
        )
        self.stdout.write("Proxy keys (shown once; earlier demo keys were revoked):")
        for email, team, secret in keys:
            self.stdout.write(f"  {email:32} {team:10} {secret}")

    def _org(self) -> dict:
        admin = user_get_or_create(email="admin@demo.tokenwise", actor_label=LABEL)
        admin.is_staff = admin.is_superuser = True
        admin.set_password(DEMO_PASSWORD)
        admin.save()
        teams = {slug: team_get_or_create(slug=slug, name=name, actor_label=LABEL) for slug, name in TEAMS.items()}
        people: dict[str, tuple[Any, list[Team]]] = {}  # e-mail: (user, their teams)
        for email, slug, role in PEOPLE:
            user = user_get_or_create(email=email, actor_label=LABEL)
            if not user.has_usable_password():
                user.set_password(DEMO_PASSWORD)
                user.save()
            membership_set(user=user, team=teams[slug], role=role, actor_label=LABEL)
            people.setdefault(email, (user, []))[1].append(teams[slug])
        return people

    def _budgets(self) -> None:
        from governance.models import Policy, Team
        from governance.services.policies import policy_set

        for slug, values in BUDGETS.items():
            policy_set(scope=Policy.Scope.TEAM, team=Team.objects.get(slug=slug), values=values, actor_label=LABEL)

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
        """Synthetic past usage, outcomes and ratings, written through the ledger's own paths.

        Everyone works honestly except dan@demo.tokenwise, whose script sends the same prompt around the
        clock - so the demo has a usage-chasing flag to review.
        """
        from usage.ledger.ingest import usage_events_ingest
        from usage.ledger.rollups import usage_rollups_rebuild
        from usage.models import UsageEvent

        existing = UsageEvent.objects.filter(request_id__startswith="req_demo_").count()
        if existing:
            return existing
        rng = random.Random(seed)
        now = timezone.now().replace(second=0, microsecond=0)
        events: list[Any] = []  # UsageEventData
        for email, (user, teams) in people.items():
            keys = {k.team_id: k.pk for k in ApiKey.objects.filter(user=user, name="demo")}
            for team in teams:
                scripted = email == SCRIPTED
                for day in range(days, 0, -1):
                    calls = 48 if scripted else rng.randint(0, 12)
                    for index in range(calls):
                        when = (
                            now - timedelta(days=day, minutes=index * 30)
                            if scripted
                            else now - timedelta(days=day, minutes=rng.randint(0, 600))
                        )
                        events.append(self._event(rng, len(events), when, user, team, keys.get(team.pk), scripted))
        usage_events_ingest(events=events)
        usage_rollups_rebuild()
        self._value(rng, people, [e for e in events if e.status == 200])
        return len(events)

    def _event(self, rng: random.Random, number: int, when, user, team, key_id, scripted: bool):
        from governance.services.pricing import price_table_load

        if not hasattr(self, "_prices"):
            self._prices = price_table_load()
        model = "gpt-4o" if scripted else MODEL_MIX.pick(rng.random())
        embedding = model.startswith("text-embedding")
        prompt = SCRIPT_PROMPT if scripted else words(rng, rng.randint(8, 40))
        prompt_tokens = 1900 if scripted else rng.randint(50, 2500)
        completion_tokens = 0 if embedding else (8 if scripted else rng.randint(20, 800))
        latency_ms = rng.randint(200, 4000)
        purpose = "nightly-script" if scripted else rng.choice(["", "coding", "support", "docs"])
        call = Call(
            at=when,
            model=model,
            endpoint="embeddings" if embedding else "chat.completions",
            prompt=prompt,
            output=words(rng, max(1, min(completion_tokens, 60))),
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            max_tokens=completion_tokens and 1024,
            stream=False,
            request_id=f"req_demo_{number:08d}",
        )
        return event_data(
            call,
            user_id=user.pk,
            team_id=team.pk,
            key_id=key_id,
            provider="demo",
            prices=self._prices,
            latency_ms=latency_ms,
            purpose=purpose,
        )

    def _value(self, rng: random.Random, people: dict, events: list) -> None:
        """Outcomes for honest work and ratings of some calls; then one detection run."""
        from governance.services.flags import detection_run
        from usage.value import CallOwner, feedback_record, outcome_kind_set, outcome_record

        for kind, weight in (("pr_merged", 3), ("ticket_resolved", 2), ("doc_published", 1)):
            outcome_kind_set(kind=kind, weight=weight, actor_label=LABEL)
        by_person: dict[tuple[int, int], list] = {}
        for event in events:
            by_person.setdefault((event.user_id, event.team_id), []).append(event)
        users = {user.pk: user for user, _ in people.values()}
        teams = {team.pk: team for _, person_teams in people.values() for team in person_teams}
        for (user_id, team_id), calls in by_person.items():
            if users[user_id].email == SCRIPTED:
                continue
            for number in range(len(calls) // 8):
                linked = rng.sample(calls, k=min(3, len(calls)))
                outcome_record(
                    external_id=f"demo-{user_id}-{team_id}-{number}",
                    kind=rng.choice(["pr_merged", "ticket_resolved", "doc_published"]),
                    occurred_at=max(e.created_at for e in linked),
                    user=users[user_id],
                    team=teams[team_id],
                    request_ids=[e.request_id for e in linked],
                    source=LABEL,
                    source_kind="import",
                )
            for event in rng.sample(calls, k=len(calls) // 5):
                feedback_record(
                    request_id=event.request_id,
                    owner=CallOwner(user_id, team_id),
                    rater_user_id=user_id,
                    rater_team_id=team_id,
                    key_id=event.key_id,
                    score=1 if rng.random() < 0.8 else -1,
                )
        now = timezone.now()
        # Flags about synthetic history are not e-mailed: the demo's people have no mailboxes.
        with override_settings(EMAIL_BACKEND="django.core.mail.backends.dummy.EmailBackend"):
            self._flags = detection_run(start=now - timedelta(days=30), end=now).created
