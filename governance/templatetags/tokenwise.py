"""Template filters and tags for Tokenwise's pages: money, token counts, shares, navigation."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from django import template

from governance.selectors.access import user_is_admin, user_is_manager

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


@register.filter
def usd_headline(value) -> str:
    """Headline dollars: always two decimals (``$1,234.57``); a non-zero amount under a cent is ``<$0.01``."""
    if value is None or value == "":
        return "—"
    amount = Decimal(str(value))
    if 0 < abs(amount) < Decimal("0.005"):
        return "<$0.01"
    return f"${amount.quantize(Decimal('0.01'), rounding=ROUND_HALF_UP):,}"


@register.filter
def tokens_short(value) -> str:
    """Tokens in cards: ``950``, ``12.3K``, ``1.2M``, ``3.4B``."""
    if value is None or value == "":
        return "—"
    number = int(value)
    for size, suffix in ((1_000_000_000, "B"), (1_000_000, "M"), (1_000, "K")):
        if abs(number) >= size:
            return f"{number / size:.1f}".rstrip("0").rstrip(".") + suffix
    return f"{number:,}"


@register.filter
def change(current, previous) -> dict:
    """The change against the previous period, for a card: ``{"text": "+12% vs previous 30 days", "kind": "up"}``."""
    from governance.periods import change_ratio

    ratio = change_ratio(current, previous)
    if ratio is None:
        return {"text": "nothing in the previous period" if not current else "new this period", "kind": "none"}
    if abs(ratio) < 0.005:
        return {"text": "no change", "kind": "flat"}
    return {"text": f"{ratio * 100:+.0f}%", "kind": "up" if ratio > 0 else "down"}


@register.filter
def day(value) -> str:
    """The one date format of the pages: ``5 Dec 2026``."""
    if not value:
        return "—"
    from django.utils import timezone as tz

    if hasattr(value, "hour"):
        value = tz.localtime(value).date() if tz.is_aware(value) else value.date()
    return f"{value.day} {value:%b %Y}"


@register.filter
def moment(value) -> str:
    """A moment in the organisation's time zone: ``5 Dec 2026 14:03``."""
    if not value:
        return "—"
    from django.utils import timezone as tz

    local = tz.localtime(value) if tz.is_aware(value) else value
    return f"{local.day} {local:%b %Y %H:%M}"


@register.filter
def duration_ms(value) -> str:
    """``850 ms``, ``2.4 s``; None is an em dash."""
    if value is None or value == "":
        return "—"
    number = int(value)
    return f"{number:,} ms" if number < 1000 else f"{number / 1000:.1f} s"


@register.filter
def get_item(mapping, key):
    """``mapping[key]`` in a template (None when missing)."""
    return mapping.get(key) if hasattr(mapping, "get") else None


@register.filter
def slice_at(items, index):
    """``items[index]`` in a template (None past the end)."""
    try:
        return items[int(index)]
    except (IndexError, TypeError, ValueError):
        return None


@register.filter
def normalize(value) -> str:
    """A decimal without trailing zeros: ``25.0000`` -> ``25``, ``0.5000`` -> ``0.5``."""
    if value is None or value == "":
        return "—"
    return f"{Decimal(str(value)).normalize():f}"
