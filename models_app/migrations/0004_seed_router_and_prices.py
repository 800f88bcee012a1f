from __future__ import annotations

from decimal import Decimal

from django.db import migrations

from models_app.catalogue.guide import GUIDE_PRICES, GUIDE_ROUTES


def seed(apps, schema_editor):  # type: ignore[no-untyped-def]
    RouteRule = apps.get_model("models_app", "RouteRule")
    CloudPrice = apps.get_model("models_app", "CloudPrice")
    CostSettings = apps.get_model("models_app", "CostSettings")
    for task, description, slugs in GUIDE_ROUTES:
        RouteRule.objects.get_or_create(task=task, defaults={"description": description,
                                                             "slugs": slugs})
    for name, given, taken in GUIDE_PRICES:
        CloudPrice.objects.get_or_create(name=name, defaults={
            "input_usd_per_million": Decimal(given), "output_usd_per_million": Decimal(taken)})
    if not CostSettings.objects.exists():
        CostSettings.objects.create(electricity_usd_per_hour=Decimal("0.50"))


class Migration(migrations.Migration):
    dependencies = [("models_app", "0003_router_usage_costs")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
