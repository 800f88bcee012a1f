from __future__ import annotations

from django.db import migrations

PRESETS = [
    ("Helpful assistant", "You are a helpful assistant."),
    ("Concise", "Answer briefly and directly. Use a list only when it helps; skip pleasantries."),
    ("Code reviewer", "You are a careful code reviewer. Point out bugs, unclear names, missing "
                      "tests and security problems, most important first, each with a fix."),
]


def seed(apps, schema_editor):  # type: ignore[no-untyped-def]
    SystemPreset = apps.get_model("models_app", "SystemPreset")
    for name, prompt in PRESETS:
        SystemPreset.objects.get_or_create(owner=None, name=name, defaults={"prompt": prompt})


class Migration(migrations.Migration):
    dependencies = [("models_app", "0010_conversations")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
