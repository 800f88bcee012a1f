from __future__ import annotations

from django.db import migrations

# The guide's DeepSeek V3 models, renamed to the cards exo really has (exo has none for V3).
RENAMED = {
    "deepseek-v3-4bit": ("mlx-community/DeepSeek-V3-4bit", "mlx-community/DeepSeek-V3.1-4bit"),
    "deepseek-v3-8bit": ("mlx-community/DeepSeek-V3-8bit", "mlx-community/DeepSeek-V3.1-8bit"),
}


def rename(apps, schema_editor, *, forward: bool):  # type: ignore[no-untyped-def]
    LlmModel = apps.get_model("models_app", "LlmModel")
    for slug, (old, new) in RENAMED.items():
        was, becomes = (old, new) if forward else (new, old)
        # A copy already added under the new id (from the Hub, or exo) keeps it.
        if LlmModel.objects.filter(repo_id=becomes).exists():
            continue
        LlmModel.objects.filter(slug=slug, repo_id=was).update(repo_id=becomes,
                                                               exo_model_id=becomes)


class Migration(migrations.Migration):
    dependencies = [("models_app", "0004_seed_router_and_prices")]
    operations = [migrations.RunPython(lambda apps, editor: rename(apps, editor, forward=True),
                                       lambda apps, editor: rename(apps, editor, forward=False))]
