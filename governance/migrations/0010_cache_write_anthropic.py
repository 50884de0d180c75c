"""Prices gain a cache-write rate; providers a protocol (kind); default prices for Claude models.

The Claude prices are frozen here (a migration must replay the same way forever); they equal
``governance.services.pricing.DEFAULT_CLAUDE_PRICES`` at the time of writing, which a test checks.
"""

from datetime import datetime, timezone
from decimal import Decimal

from django.db import migrations, models

VALID_FROM = datetime(2024, 1, 1, tzinfo=timezone.utc)

# (model, input, cache read, cache write, output) - USD per 1M tokens, Anthropic's list prices.
PRICES = [
    ("claude-opus-4-8", "5.00", "0.50", "6.25", "25.00"),
    ("claude-opus-4-7", "5.00", "0.50", "6.25", "25.00"),
    ("claude-opus-4-6", "5.00", "0.50", "6.25", "25.00"),
    ("claude-opus-4-5", "5.00", "0.50", "6.25", "25.00"),
    ("claude-opus-4-1", "15.00", "1.50", "18.75", "75.00"),
    ("claude-opus-4", "15.00", "1.50", "18.75", "75.00"),
    ("claude-opus-4-0", "15.00", "1.50", "18.75", "75.00"),
    ("claude-sonnet-4-6", "3.00", "0.30", "3.75", "15.00"),
    ("claude-sonnet-4-5", "3.00", "0.30", "3.75", "15.00"),
    ("claude-sonnet-4", "3.00", "0.30", "3.75", "15.00"),
    ("claude-sonnet-4-0", "3.00", "0.30", "3.75", "15.00"),
    ("claude-haiku-4-5", "1.00", "0.10", "1.25", "5.00"),
    ("claude-3-5-haiku", "0.80", "0.08", "1.00", "4.00"),
]


def load_claude_prices(apps, schema_editor):
    Price = apps.get_model("governance", "Price")
    existing = set(Price.objects.filter(valid_from=VALID_FROM).values_list("model", flat=True))
    Price.objects.bulk_create([
        Price(model=model, input_per_mtok=Decimal(input_rate), cached_input_per_mtok=Decimal(read_rate),
              cache_write_per_mtok=Decimal(write_rate), output_per_mtok=Decimal(output_rate),
              valid_from=VALID_FROM)
        for model, input_rate, read_rate, write_rate, output_rate in PRICES
        if model not in existing
    ])


def unload_claude_prices(apps, schema_editor):
    Price = apps.get_model("governance", "Price")
    Price.objects.filter(valid_from=VALID_FROM, model__in=[row[0] for row in PRICES]).delete()


class Migration(migrations.Migration):

    dependencies = [
        ('governance', '0009_github_identities'),
    ]

    operations = [
        migrations.AddField(
            model_name='price',
            name='cache_write_per_mtok',
            field=models.DecimalField(blank=True, decimal_places=6, help_text="Prompt tokens written to the provider's cache (Anthropic); empty = the input rate.", max_digits=12, null=True),
        ),
        migrations.AddField(
            model_name='provider',
            name='kind',
            field=models.CharField(choices=[('openai', 'OpenAI-compatible'), ('anthropic', 'Anthropic Messages API')], default='openai', help_text='The protocol it speaks: /v1/messages calls go to anthropic providers.', max_length=16),
        ),
        migrations.RunPython(load_claude_prices, unload_claude_prices),
    ]
