from __future__ import annotations

from django.db import migrations

from models_app.catalogue.guide import GUIDE_MODELS


def seed(apps, schema_editor):  # type: ignore[no-untyped-def]
    LlmModel = apps.get_model("models_app", "LlmModel")
    for fields in GUIDE_MODELS:
        LlmModel.objects.get_or_create(slug=fields["slug"], defaults={**fields, "source": "guide"})


def unseed(apps, schema_editor):  # type: ignore[no-untyped-def]
    LlmModel = apps.get_model("models_app", "LlmModel")
    LlmModel.objects.filter(slug__in=[fields["slug"] for fields in GUIDE_MODELS]).delete()


class Migration(migrations.Migration):
    dependencies = [("models_app", "0001_initial")]
    operations = [migrations.RunPython(seed, unseed)]
