from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("governance", "0006_usage_targets"),
    ]

    operations = [
        migrations.AddField(
            model_name="policy",
            name="allow_unpriced_models",
            field=models.BooleanField(
                blank=True, null=True,
                help_text="Admit models without a price under a USD budget (their cost is not counted)."),
        ),
    ]
