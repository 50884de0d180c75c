"""Fixtures of the integration tests: GitHub's example payloads, signed deliveries, a webhook secret, and
the rows of a rendered table."""

from __future__ import annotations

import copy
import functools
import hashlib
import hmac
import json
import re
import uuid
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.core.cache import cache
from django.test import Client

EXAMPLES = Path(__file__).resolve().parents[3] / "node_modules/@octokit/webhooks-examples/api.github.com/index.json"
SECRET = "it's-a-secret-to-everybody"  # the example secret of GitHub's own validation docs


@functools.cache
def _examples() -> dict[str, list[dict]]:
    if not EXAMPLES.exists():
        raise AssertionError(f"{EXAMPLES} is missing: run scripts/npm_deps (scripts/test does)")
    return {event["name"]: event["examples"] for event in json.loads(EXAMPLES.read_text())}


def github_examples() -> dict[str, list[dict]]:
    """Every event's example payloads from @octokit/webhooks-examples (api.github.com)."""
    return _examples()


def github_example(event: str, action: str | None = None, index: int = 0) -> dict:
    """A deep copy of the ``index``-th example of ``event`` with ``action`` (None: any)."""
    found = [item for item in _examples()[event] if action is None or item.get("action") == action]
    return copy.deepcopy(found[index])


def github_sign(body: bytes, secret: str = SECRET) -> str:
    """``X-Hub-Signature-256`` as GitHub computes it: HMAC-SHA256 of the raw body, hex, ``sha256=``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class GithubSender:
    """Posts deliveries to the webhook the way GitHub does (headers, raw JSON body, signature)."""

    def __init__(self) -> None:
        self.client = Client()

    def send(self, event: str, payload: dict, *, delivery: str | None = None, secret: str | None = SECRET,
             signature: str | None = None):
        body = json.dumps(payload).encode()
        headers = {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
                   "User-Agent": "GitHub-Hookshot/8b2d1a6", "X-GitHub-Hook-ID": "292430182"}
        if signature is not None:
            headers["X-Hub-Signature-256"] = signature
        elif secret is not None:
            headers["X-Hub-Signature-256"] = github_sign(body, secret)
        return self.client.post("/integrations/github/webhook", body, content_type="application/json",
                                headers=headers)


class _TableRows(HTMLParser):
    """The text of each body row of the table with ``data-testid=testid``, one list of cells a row."""

    def __init__(self, testid: str) -> None:
        super().__init__()
        self.testid = testid
        self.rows: list[list[str]] = []
        self._in_table = self._in_body = False
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "table" and ("data-testid", self.testid) in attrs:
            self._in_table = True
        elif self._in_table and tag == "tbody":
            self._in_body = True
        elif self._in_body and tag == "tr":
            self.rows.append([])
        elif self._in_body and tag == "td":
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            self.rows[-1].append(re.sub(r"\s+", " ", "".join(self._cell)).strip())
            self._cell = None
        elif tag == "tbody":
            self._in_table = self._in_body = False

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def table_rows(html: str, *, testid: str) -> list[list[str]]:
    """The cells' text (whitespace collapsed) of each body row of a page's table."""
    parser = _TableRows(testid)
    parser.feed(html)
    return parser.rows


@pytest.fixture
def github(db):
    """A webhook secret set by an admin, and a sender signing with it."""
    from usage.integrations.github import github_webhook_secret_set

    github_webhook_secret_set(secret=SECRET, actor_label="test")
    return GithubSender()


@pytest.fixture(autouse=True)
def clean_auth_failures():
    cache.clear()  # failed-authentication counters per address must not leak between tests
    yield
    cache.clear()


@pytest.fixture
def api_client_admin(admin):
    """A browser session of the admin (the API and the admin pages accept it)."""
    client = Client()
    client.force_login(admin)
    return client
