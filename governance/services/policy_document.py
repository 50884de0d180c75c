"""The policy document (policy as code): parsing with line numbers, validation, and rendering.

A document::

    defaults:                      # the organisation default
      models: ["gpt-4o-mini", "text-embedding-3-*"]
      budget: {tokens_per_month: 5000000}
    teams:
      platform:                    # a team slug
        models: ["gpt-4o", "gpt-4o-mini"]
        budget: {tokens_per_day: 200000, usd_per_month: 500}
        rate: {rpm: 60, tpm: 100000}
        max_tokens: 4096
        on_exceed: block           # block | warn | downgrade
        downgrade_to: gpt-4o-mini
        alerts: [50, 80, 100]
        users:
          alice@example.com: {budget: {tokens_per_day: 50000}}

Every level takes the same keys (``users`` only under a team): ``models``, ``budget``
(``tokens_per_day|week|month``, ``usd_per_day|week|month``), ``rate`` (``rpm``, ``tpm``), ``max_tokens``,
``max_tokens_action`` (cap | reject), ``on_exceed``, ``downgrade_to``, ``alerts``, ``store_text``,
``detectors`` (detector name -> threshold), ``allow_unpriced_models`` (true: admit models without a
price under a USD budget; their cost is not counted). ``null`` means "not set here" (inherit). Parsing collects
every problem - unknown keys, wrong types, duplicate keys, unknown teams and people - each naming its
line, and raises ``PolicyDocumentError`` with all of them.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal, InvalidOperation
from typing import Any

import yaml

from governance.policy_fields import POLICY_FIELDS

_BUDGET = {
    "tokens_per_day": "tokens_per_day",
    "tokens_per_week": "tokens_per_week",
    "tokens_per_month": "tokens_per_month",
    "usd_per_day": "usd_per_day",
    "usd_per_week": "usd_per_week",
    "usd_per_month": "usd_per_month",
}
_RATE = {"rpm": "requests_per_minute", "tpm": "tokens_per_minute"}
_SIMPLE = {
    "models": "allowed_models",
    "max_tokens": "max_tokens",
    "max_tokens_action": "max_tokens_action",
    "on_exceed": "on_exceed",
    "downgrade_to": "downgrade_to",
    "alerts": "alert_thresholds",
    "store_text": "store_text",
    "detectors": "detector_thresholds",
    "allow_unpriced_models": "allow_unpriced_models",
}
BODY_KEYS = (
    "models",
    "budget",
    "rate",
    "max_tokens",
    "max_tokens_action",
    "on_exceed",
    "downgrade_to",
    "alerts",
    "store_text",
    "detectors",
    "allow_unpriced_models",
)
# The document's name of each Policy field (for diffs and export).
DOCUMENT_NAME = {
    **{f: f"budget.{k}" for k, f in _BUDGET.items()},
    **{f: f"rate.{k}" for k, f in _RATE.items()},
    **{f: k for k, f in _SIMPLE.items()},
}
# Policy fields in the order a document shows them.
DOCUMENT_ORDER = tuple(
    f
    for key in BODY_KEYS
    for f in (_BUDGET.values() if key == "budget" else _RATE.values() if key == "rate" else (_SIMPLE[key],))
)
CHOICES = {"max_tokens_action": ("cap", "reject"), "on_exceed": ("block", "warn", "downgrade")}


class PolicyDocumentError(ValueError):
    """The document is not valid; ``problems`` lists each one with its line."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclasses.dataclass(slots=True)
class Target:
    """One policy the document defines: the organisation default, a team, or a person in a team."""

    scope: str  # "org" | "team" | "user"
    team: str | None  # slug
    user: str | None  # e-mail
    values: dict[str, Any]  # Policy field -> value (None = not set)
    line: int  # where the document defines it
    field_lines: dict[str, int] = dataclasses.field(default_factory=dict)

    @property
    def label(self) -> str:
        if self.scope == "org":
            return "defaults"
        if self.scope == "team":
            return f"team {self.team}"
        return f"user {self.user} in team {self.team}"


class _Parser:
    def __init__(self, source: str):
        self.source = source
        self.problems: list[tuple[int, str]] = []
        self.constructor = yaml.constructor.SafeConstructor()

    def problem(self, node: yaml.Node, path: str, text: str) -> None:
        self.problems.append(
            (node.start_mark.line + 1, f"{self.source}, line {node.start_mark.line + 1}: {path}: {text}")
        )

    def scalar(self, node: yaml.Node) -> Any:
        return self.constructor.construct_object(node, deep=True)

    def mapping(
        self, node: yaml.Node, path: str, allowed: tuple[str, ...] | None
    ) -> dict[str, tuple[yaml.Node, yaml.Node]]:
        """Key -> (key node, value node); reports non-mappings, non-string, duplicate and unknown keys."""
        if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null":
            return {}
        if not isinstance(node, yaml.MappingNode):
            self.problem(node, path, "must be a mapping")
            return {}
        items: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for key_node, value_node in node.value:
            key = self.scalar(key_node) if isinstance(key_node, yaml.ScalarNode) else None
            if not isinstance(key, str):
                self.problem(key_node, path, f"keys must be strings, got {key!r}")
            elif key in items:
                self.problem(key_node, path, f"duplicate key '{key}'")
            elif allowed is not None and key not in allowed:
                self.problem(key_node, path, f"unknown key '{key}' (allowed: {', '.join(allowed)})")
            else:
                items[key] = (key_node, value_node)
        return items

    def value(self, field: str, node: yaml.Node, path: str) -> Any:
        """The Policy field value of one document value, or None after reporting a problem."""
        if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null":
            return None
        if field in ("allowed_models", "alert_thresholds"):
            return self.sequence(field, node, path)
        if field == "detector_thresholds":
            return self.detectors(node, path)
        if not isinstance(node, yaml.ScalarNode):
            self.problem(node, path, "must be a single value")
            return None
        value = self.scalar(node)
        if field in ("max_tokens_action", "on_exceed"):
            if value not in CHOICES[field]:
                self.problem(node, path, f"must be one of {', '.join(CHOICES[field])}, got {value!r}")
                return None
            return value
        if field == "downgrade_to":
            return self.text(value, node, path)
        if field in ("store_text", "allow_unpriced_models"):
            if not isinstance(value, bool):
                self.problem(node, path, f"must be true or false, got {value!r}")
                return None
            return value
        if field.startswith("usd_"):
            return self.money(value, node, path)
        minimum = 0 if field.startswith("tokens_per_") and field != "tokens_per_minute" else 1
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            self.problem(node, path, f"must be a whole number >= {minimum}, got {value!r}")
            return None
        return value

    def text(self, value: Any, node: yaml.Node, path: str) -> str | None:
        if not isinstance(value, str) or not value.strip():
            self.problem(node, path, f"must be a non-empty string, got {value!r}")
            return None
        return value.strip()

    def money(self, value: Any, node: yaml.Node, path: str) -> Decimal | None:
        try:
            if isinstance(value, bool) or not isinstance(value, (int, float, str)):
                raise InvalidOperation
            amount = Decimal(str(value))
            if not amount.is_finite() or amount < 0 or amount != amount.quantize(Decimal("0.0001")):
                raise InvalidOperation
        except InvalidOperation:
            self.problem(node, path, f"must be an amount in USD >= 0 with at most 4 decimals, got {value!r}")
            return None
        return amount

    def sequence(self, field: str, node: yaml.Node, path: str) -> list | None:
        if not isinstance(node, yaml.SequenceNode):
            self.problem(node, path, "must be a list")
            return None
        items: list[str | int] = []
        for item in node.value:
            value = self.scalar(item) if isinstance(item, yaml.ScalarNode) else None
            if field == "allowed_models":
                text = self.text(value, item, path)
                if text is not None:
                    items.append(text)
            elif isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 1000:
                items.append(value)
            else:
                self.problem(item, path, f"must be whole percentages between 1 and 1000, got {value!r}")
        return sorted(set(items)) if field == "alert_thresholds" else items

    def detectors(self, node: yaml.Node, path: str) -> dict | None:
        result = {}
        for name, (_key_node, value_node) in self.mapping(node, path, None).items():
            value = self.scalar(value_node) if isinstance(value_node, yaml.ScalarNode) else None
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                self.problem(value_node, f"{path}.{name}", f"must be a number, got {value!r}")
                continue
            result[name] = value
        return result

    def body(
        self,
        node: yaml.Node,
        path: str,
        *,
        scope: str,
        team: str | None,
        user: str | None,
        allow_users: bool,
        key_node: yaml.Node,
    ) -> tuple[Target, dict]:
        keys = BODY_KEYS + (("users",) if allow_users else ())
        items = self.mapping(node, path, keys)
        target = Target(
            scope=scope, team=team, user=user, values=dict.fromkeys(POLICY_FIELDS), line=key_node.start_mark.line + 1
        )
        for key, (key_node, value_node) in items.items():
            if key in ("budget", "rate"):
                table = _BUDGET if key == "budget" else _RATE
                for sub, (sub_key, sub_value) in self.mapping(value_node, f"{path}.{key}", tuple(table)).items():
                    target.values[table[sub]] = self.value(table[sub], sub_value, f"{path}.{key}.{sub}")
                    target.field_lines[table[sub]] = sub_key.start_mark.line + 1
            elif key in _SIMPLE:
                target.values[_SIMPLE[key]] = self.value(_SIMPLE[key], value_node, f"{path}.{key}")
                target.field_lines[_SIMPLE[key]] = key_node.start_mark.line + 1
        users = self.mapping(items["users"][1], f"{path}.users", None) if "users" in items else {}
        return target, users


def document_parse(text: str, *, source: str = "document") -> list[Target]:
    """Parse and type-check a document (no database); raises PolicyDocumentError naming every line."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark is not None else ""
        raise PolicyDocumentError([f"{source}{where}: not valid YAML: {getattr(exc, 'problem', exc)}"]) from None
    if root is None:
        raise PolicyDocumentError([f"{source}: the document is empty"])
    parser = _Parser(source)
    top = parser.mapping(root, "document", ("defaults", "teams"))
    targets: list[Target] = []
    if "defaults" in top:
        target, _ = parser.body(
            top["defaults"][1],
            "defaults",
            scope="org",
            team=None,
            user=None,
            allow_users=False,
            key_node=top["defaults"][0],
        )
        targets.append(target)
    teams = parser.mapping(top["teams"][1], "teams", None) if "teams" in top else {}
    for slug, (slug_node, team_node) in teams.items():
        target, users = parser.body(
            team_node, f"teams.{slug}", scope="team", team=slug, user=None, allow_users=True, key_node=slug_node
        )
        targets.append(target)
        for email, (email_node, user_node) in users.items():
            person, _ = parser.body(
                user_node,
                f"teams.{slug}.users.{email}",
                scope="user",
                team=slug,
                user=email,
                allow_users=False,
                key_node=email_node,
            )
            targets.append(person)
    if parser.problems:
        raise PolicyDocumentError([text for _, text in sorted(parser.problems, key=lambda p: p[0])])
    return targets


# --- Rendering -----------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value.normalize())
    return value


def body_of(values: dict[str, Any]) -> dict[str, Any]:
    """The document body of a policy's field values (unset fields left out)."""
    body: dict[str, Any] = {}
    for key in BODY_KEYS:
        if key in ("budget", "rate"):
            table = _BUDGET if key == "budget" else _RATE
            sub = {name: _plain(values[field]) for name, field in table.items() if values.get(field) is not None}
            if sub:
                body[key] = sub
        elif values.get(_SIMPLE[key]) is not None:
            body[key] = _plain(values[_SIMPLE[key]])
    return body


def document_render(*, defaults: dict[str, Any] | None, teams: dict[str, tuple[dict | None, dict[str, dict]]]) -> str:
    """YAML text of a document: ``teams`` maps slug -> (team values or None, {e-mail: values})."""
    doc: dict[str, Any] = {}
    if defaults is not None:
        doc["defaults"] = body_of(defaults)
    if teams:
        doc["teams"] = {}
        for slug, (team_values, users) in sorted(teams.items()):
            body = body_of(team_values) if team_values is not None else {}
            if users:
                body["users"] = {email: body_of(values) for email, values in sorted(users.items())}
            doc["teams"][slug] = body
    header = "# Tokenwise usage policies. Apply with: python manage.py apply_policies FILE.yaml\n"
    if not doc:
        return header + "{}\n"
    return header + yaml.safe_dump(doc, sort_keys=False, default_flow_style=None, allow_unicode=True, width=120)
