"""/api/usage/events filtered by client (product, or product/version) and by agent session."""

from usage.models import UsageEvent


def test_usage_events_filter_by_client_and_session(api, world):
    UsageEvent.objects.filter(request_id="req-alice-a").update(client="claude-cli/2.1.332", session_id="s-1")
    UsageEvent.objects.filter(request_id="req-bob-a").update(client="claude-cli-extra/1.0", session_id="s-2")
    UsageEvent.objects.filter(request_id="req-carol-a").update(client="codex_exec/0.171.0", session_id="s-1")
    manager = api("manager_a")

    def ids(query: str) -> list[str]:
        return sorted(row["request_id"] for row in manager.get(f"/api/usage/events/?{query}").json()["results"])

    assert ids("client=claude-cli") == ["req-alice-a"]  # the product, not another product's prefix
    assert ids("client=codex_exec/0.171.0") == ["req-carol-a"]
    assert ids("session_id=s-1") == ["req-alice-a", "req-carol-a"]
    row = manager.get("/api/usage/events/?session_id=s-2").json()["results"][0]
    assert (row["client"], row["session_id"]) == ("claude-cli-extra/1.0", "s-2")
