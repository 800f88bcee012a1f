from __future__ import annotations

from django.db import migrations

from models_app.catalogue.guide import NAME_ROUTES


def seed(apps, schema_editor):  # type: ignore[no-untyped-def]
    RouteRule = apps.get_model("models_app", "RouteRule")
    NameRoute = apps.get_model("models_app", "NameRoute")
    for position, (pattern, task, description) in enumerate(NAME_ROUTES, start=1):
        rule = RouteRule.objects.filter(task=task).first()
        if rule is not None:  # an admin may have deleted the router's rule
            NameRoute.objects.get_or_create(pattern=pattern, defaults={
                "rule": rule, "position": 10 * position, "description": description})


class Migration(migrations.Migration):
    dependencies = [("models_app", "0007_name_routes")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
