"""Default list prices for common models, so a fresh install can cost calls at once.

The values are frozen here (a migration must replay the same way forever); they equal
``governance.services.pricing.DEFAULT_PRICES`` at the time of writing, which a test checks. Later price
changes are new versions (``price_set`` or a new data migration), never edits of these rows.
"""

from datetime import datetime, timezone
from decimal import Decimal

from django.db import migrations

VALID_FROM = datetime(2024, 1, 1, tzinfo=timezone.utc)

PRICES = [
    ("gpt-4o", "2.50", "1.25", "10.00"),
    ("gpt-4o-mini", "0.15", "0.075", "0.60"),
    ("gpt-4.1", "2.00", "0.50", "8.00"),
    ("gpt-4.1-mini", "0.40", "0.10", "1.60"),
    ("gpt-4.1-nano", "0.10", "0.025", "0.40"),
    ("gpt-5", "1.25", "0.125", "10.00"),
    ("gpt-5-mini", "0.25", "0.025", "2.00"),
    ("gpt-5-nano", "0.05", "0.005", "0.40"),
    ("o1", "15.00", "7.50", "60.00"),
    ("o3", "2.00", "0.50", "8.00"),
    ("o3-mini", "1.10", "0.55", "4.40"),
    ("o4-mini", "1.10", "0.275", "4.40"),
    ("gpt-4-turbo", "10.00", None, "30.00"),
    ("gpt-3.5-turbo", "0.50", None, "1.50"),
    ("gpt-3.5-turbo-instruct", "1.50", None, "2.00"),
    ("text-embedding-3-small", "0.02", None, "0"),
    ("text-embedding-3-large", "0.13", None, "0"),
    ("text-embedding-ada-002", "0.10", None, "0"),
]


def load_default_prices(apps, schema_editor):
    Price = apps.get_model("governance", "Price")
    existing = set(Price.objects.filter(valid_from=VALID_FROM).values_list("model", flat=True))
    Price.objects.bulk_create([
        Price(model=model, input_per_mtok=Decimal(input_rate),
              cached_input_per_mtok=None if cached_rate is None else Decimal(cached_rate),
              output_per_mtok=Decimal(output_rate), valid_from=VALID_FROM)
        for model, input_rate, cached_rate, output_rate in PRICES
        if model not in existing
    ])


def unload_default_prices(apps, schema_editor):
    Price = apps.get_model("governance", "Price")
    Price.objects.filter(valid_from=VALID_FROM, model__in=[row[0] for row in PRICES]).delete()


class Migration(migrations.Migration):

    dependencies = [
        ("governance", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(load_default_prices, unload_default_prices),
    ]
