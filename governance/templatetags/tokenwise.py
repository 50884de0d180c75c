"""Template filters and tags for Tokenwise's pages: money, token counts, shares, navigation."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from django import template

from governance.permissions import user_is_admin, user_is_manager

register = template.Library()


@register.filter
def usd(value) -> str:
    """``$1,234.57``; small amounts keep four decimals (``$0.0042``); None is an em dash."""
    if value is None or value == "":
        return "—"
    amount = Decimal(str(value))
    places = Decimal("0.01") if abs(amount) >= 1 or amount == 0 else Decimal("0.0001")
    return f"${amount.quantize(places, rounding=ROUND_HALF_UP):,}"


@register.filter
def thousands(value) -> str:
    """``1,234,567``; None is an em dash."""
    if value is None or value == "":
        return "—"
    return f"{int(value):,}"


@register.filter
def percent(value, places: int = 0) -> str:
    """A share 0..1 as ``42%``; None is an em dash."""
    if value is None or value == "":
        return "—"
    return f"{float(value) * 100:.{int(places)}f}%"


@register.filter
def decimal1(value) -> str:
    if value is None or value == "":
        return "—"
    return f"{float(value):,.1f}"


@register.filter
def budget_amount(value, unit: str) -> str:
    return usd(value) if unit == "usd" else f"{thousands(value)} tokens"


@register.simple_tag(takes_context=True)
def nav_roles(context) -> dict:
    """What the navigation shows for the signed-in user."""
    user = context.get("user")
    if user is None or not user.is_authenticated:
        return {"manager": False, "admin": False}
    return {"manager": user_is_manager(user=user), "admin": user_is_admin(user)}


@register.filter
def periodly(name: str) -> str:
    """``day`` -> ``daily``, ``week`` -> ``weekly``, ``month`` -> ``monthly``."""
    return {"day": "daily", "week": "weekly", "month": "monthly"}.get(name, name)


@register.filter
def evidence_label(key: str) -> str:
    """``share_near_identical`` -> ``Share near identical``."""
    return str(key).replace("_", " ").strip().capitalize()


@register.filter
def evidence_value(value) -> str:
    """Evidence numbers and lists as a person reads them: lists joined, dicts as ``key: value``."""
    if isinstance(value, (list, tuple)):
        return ", ".join(evidence_value(item) for item in value)
    if isinstance(value, dict):
        return "; ".join(f"{evidence_label(k)}: {evidence_value(v)}" for k, v in value.items())
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)
