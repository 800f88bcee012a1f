from __future__ import annotations

import json
from dataclasses import asdict, replace

import pytest

from cluster_app.nodes.units import GIB
from models_app.planner.core import (
    NodeShare,
    PlanModel,
    PlanNode,
    format_context,
    format_gb,
    format_share,
    kv_bytes_per_token,
    kv_cache_bytes,
    plan,
    risk_for,
    thresholds,
)

# Architecture facts from each model's config.json; sizes are the guide's.
DEEPSEEK_4BIT = PlanModel(
    slug="deepseek-v3-4bit", name="DeepSeek V3 4-bit", size_bytes=378 * GIB, n_layers=61,
    hidden_size=7168, num_attention_heads=128, num_key_value_heads=128, head_dim=128,
    kv_latent_dim=512 + 64,  # kv_lora_rank + qk_rope_head_dim
    context_length=163840, tensor_parallel=True, tier="essential", tier_reason="Primary LLM.",
)
DEEPSEEK_8BIT = replace(
    DEEPSEEK_4BIT, slug="deepseek-v3-8bit", name="DeepSeek V3 8-bit", size_bytes=712 * GIB,
    tier="not_recommended",
    tier_reason="Too close to limit: 93% memory utilization (only 56 GB buffer).",
)
LLAMA_70B = PlanModel(
    slug="llama-3.1-70b", name="Llama 3.1 70B 4-bit", size_bytes=38 * GIB, n_layers=80,
    hidden_size=8192, num_attention_heads=64, num_key_value_heads=8, head_dim=128,
    context_length=131072,
)
LLAMA_8B = PlanModel(
    slug="llama-3.1-8b", name="Llama 3.1 8B 4-bit", size_bytes=45 * GIB // 10, n_layers=32,
    hidden_size=4096, num_attention_heads=32, num_key_value_heads=8, context_length=131072,
)
LLAMA_1B = PlanModel(
    slug="llama-3.2-1b", name="Llama 3.2 1B 4-bit", size_bytes=12 * GIB // 10, n_layers=16,
    hidden_size=2048, num_attention_heads=32, num_key_value_heads=8, head_dim=64,
    context_length=131072, tier="essential",
)
GUIDE_SET = [DEEPSEEK_4BIT, LLAMA_70B, LLAMA_8B, LLAMA_1B]

ALPHA = PlanNode(name="alpha", display_name="ALPHA", ram_total=512 * GIB)
BETA = PlanNode(name="beta", display_name="BETA", ram_total=256 * GIB)
CLUSTER = [ALPHA, BETA]


def busy(alpha_used_gib: int, beta_used_gib: int) -> list[PlanNode]:
    """The cluster up, with live used memory on each node."""
    return [replace(ALPHA, ram_used=alpha_used_gib * GIB),
            replace(BETA, ram_used=beta_used_gib * GIB)]


def shares_of(result, slug):
    return {fit.name: share for fit in result.nodes for share in fit.shares if share.slug == slug}


@pytest.mark.parametrize(
    ("n_bytes", "shown"),
    [(378 * GIB, "378 GB"), (38 * GIB, "38 GB"), (45 * GIB // 10, "4.5 GB"),
     (12 * GIB // 10, "1.2 GB"), (4217 * GIB // 10, "422 GB"), (0, "0.0 GB")],
)
def test_amounts_are_shown_as_the_guide_writes_them(n_bytes, shown):
    assert format_gb(n_bytes) == shown


@pytest.mark.parametrize(
    ("n_bytes", "shown"),
    [(390 * GIB, "390 GB"), (352 * GIB, "352 GB"), (3475 * GIB // 10, "347 GB"),
     (3463 * GIB // 10, "346 GB"), (99 * GIB // 10 + GIB // 20, "9.9 GB")],
)
def test_headroom_is_rounded_down(n_bytes, shown):
    assert format_gb(n_bytes, round_down=True) == shown


def test_amounts_round_half_up_where_headroom_rounds_down():
    assert format_gb(3475 * GIB // 10) == "348 GB"
    assert format_gb(3475 * GIB // 10, round_down=True) == "347 GB"


def test_just_under_ten_gb_rounds_up_to_whole_gb():
    assert format_gb(996 * GIB // 100) == "10 GB"


def test_a_sliver_of_the_cluster_is_shown_as_under_one_percent():
    assert format_share(45 * GIB // 10, 768 * GIB) == "<1%"
    assert format_share(38 * GIB, 768 * GIB) == "5%"
    assert format_share(0, 768 * GIB) == "0%"


def test_contexts_are_written_in_k_tokens():
    assert [format_context(65536), format_context(8192), format_context(1000)] == \
        ["64k", "8k", "1,000"]


def test_risk_is_medium_from_70_percent_and_high_from_92_percent():
    total = 100 * GIB
    assert risk_for(total * 70 // 100 - 1, total) == "Low"
    assert risk_for(total * 70 // 100, total) == "Medium"
    assert risk_for(total * 92 // 100 - 1, total) == "Medium"
    assert risk_for(total * 92 // 100, total) == "High"


def test_the_guides_recommended_table_is_reproduced():
    rows = plan(GUIDE_SET, CLUSTER).rows

    shown = [(r.name, r.size_label, r.utilisation_label, r.remaining_label, r.risk) for r in rows]
    assert shown == [
        ("DeepSeek V3 4-bit", "378 GB", "49%", "390 GB", "Low"),
        ("Llama 3.1 70B 4-bit", "38 GB", "54%", "352 GB", "Low"),
        ("Llama 3.1 8B 4-bit", "4.5 GB", "55%", "347 GB", "Low"),
        ("Llama 3.2 1B 4-bit", "1.2 GB", "55%", "346 GB", "Low"),
    ]
    llama_8b_and_1b = 45 * GIB // 10 + 12 * GIB // 10
    assert [r.cumulative_bytes for r in rows] == [
        378 * GIB, 416 * GIB, 416 * GIB + 45 * GIB // 10, 416 * GIB + llama_8b_and_1b]
    assert rows[3].remaining_bytes == 768 * GIB - rows[3].cumulative_bytes
    assert not any(r.not_recommended for r in rows)


def test_the_guides_set_totals_422_gb_at_55_percent_low_risk_and_fits():
    result = plan(GUIDE_SET, CLUSTER)

    assert (result.totals.loaded_label, result.totals.utilisation_label, result.totals.risk) == \
        ("422 GB", "55%", "Low")
    assert result.fits is True
    assert result.reasons == []
    assert result.suggestion is None


def test_deepseek_8bit_alone_is_93_percent_with_56_gb_left_high_risk_and_flagged():
    (row,) = plan([DEEPSEEK_8BIT], CLUSTER).rows

    assert (row.size_label, row.utilisation_label, row.remaining_label, row.risk) == \
        ("712 GB", "93%", "56 GB", "High")
    assert row.remaining_bytes == 56 * GIB
    assert row.not_recommended is True
    assert row.tier_reason == "Too close to limit: 93% memory utilization (only 56 GB buffer)."


def test_the_budget_breakdown_matches_the_guide_without_a_context_cache():
    budget = plan(GUIDE_SET, CLUSTER, context_tokens=0).budget

    assert [(line.label, line.size_label, line.share_label) for line in budget] == [
        ("DeepSeek V3 4-bit", "378 GB", "49%"),
        ("Llama 3.1 70B 4-bit", "38 GB", "5%"),
        ("Llama 3.1 8B 4-bit", "4.5 GB", "<1%"),
        ("Llama 3.2 1B 4-bit", "1.2 GB", "<1%"),
        ("Overhead", "50 GB", "7%"),
        ("Free buffer", "296 GB", "39%"),
    ]
    # 768 - 421.7 - 50 = 296.3 GB
    assert budget[-1].bytes == 768 * GIB - (416 * GIB + 45 * GIB // 10 + 12 * GIB // 10) - 50 * GIB


def test_the_budget_takes_the_kv_cache_out_of_the_free_buffer():
    budget = plan(GUIDE_SET, CLUSTER).budget

    # 4,605,345,792 + 20 GiB + 8 GiB + 2 GiB of cache at 64k: 34.3 GB
    assert [(line.label, line.size_label, line.share_label) for line in budget[4:]] == [
        ("KV cache (64k context)", "34 GB", "4%"),
        ("Overhead", "50 GB", "7%"),
        ("Free buffer", "262 GB", "34%"),
    ]
    assert budget[4].bytes == 4_605_345_792 + 30 * GIB


def test_live_memory_in_use_has_its_own_budget_line():
    budget = plan([], busy(300, 100)).budget

    assert [(line.label, line.size_label, line.share_label) for line in budget] == [
        ("In use now", "400 GB", "52%"),
        ("Overhead", "50 GB", "7%"),
        ("Free buffer", "318 GB", "41%"),
    ]


def test_thresholds_are_537_gb_safe_and_706_gb_limit_on_768_gb():
    limits = thresholds(768 * GIB)

    assert (limits.total_label, limits.safe_label, limits.limit_label) == \
        ("768 GB", "537 GB", "706 GB")
    assert limits.safe_bytes == 768 * GIB * 70 // 100
    assert limits.limit_bytes == 768 * GIB * 92 // 100
    assert plan([], CLUSTER).thresholds == limits


def test_llama_70b_caches_20_gib_at_64k():
    # 2 (K and V) * 80 layers * 8 KV heads * 128 head_dim * 2 bytes (fp16)
    assert kv_bytes_per_token(LLAMA_70B) == 2 * 80 * 8 * 128 * 2 == 327_680
    assert kv_cache_bytes(LLAMA_70B, 65536) == 327_680 * 65536 == 21_474_836_480 == 20 * GIB


def test_llama_8b_caches_8_gib_at_64k_with_head_dim_from_hidden_size():
    # head_dim = 4096 hidden / 32 heads = 128; 2 * 32 * 8 * 128 * 2 bytes per token
    assert kv_bytes_per_token(LLAMA_8B) == 2 * 32 * 8 * (4096 // 32) * 2 == 131_072
    assert kv_cache_bytes(LLAMA_8B, 65536) == 8 * GIB


def test_deepseek_caches_its_compressed_latent_not_full_keys_and_values():
    # 61 layers * (512 kv_lora_rank + 64 rope dims) * 2 bytes * 65,536 tokens
    assert kv_cache_bytes(DEEPSEEK_4BIT, 65536) == 61 * 576 * 2 * 65536 == 4_605_345_792


def test_kv_heads_default_to_attention_heads():
    model = PlanModel(slug="mha", name="MHA", size_bytes=GIB, n_layers=2, hidden_size=64,
                      num_attention_heads=4)

    assert kv_bytes_per_token(model) == 2 * 2 * 4 * (64 // 4) * 2


def test_an_8_bit_cache_halves_the_kv_bytes():
    assert kv_cache_bytes(replace(LLAMA_70B, kv_bytes_per_value=1), 65536) == 10 * GIB


def test_a_model_without_attention_heads_has_no_kv_size():
    model = PlanModel(slug="bare", name="Bare", size_bytes=GIB, n_layers=2, hidden_size=64)

    with pytest.raises(ValueError, match="bare: no attention heads given"):
        kv_cache_bytes(model, 1024)


def test_the_context_is_capped_at_the_models_context_length():
    # Llama 3 8B (3.0) holds 8,192 tokens at most: 131,072 bytes per token * 8,192 = 1 GiB
    llama_3_8b = replace(LLAMA_8B, slug="llama-3-8b", name="Llama 3 8B", context_length=8192)

    result = plan([llama_3_8b], CLUSTER)

    (row,) = result.rows
    assert (row.context_tokens, row.context_capped, row.kv_cache_bytes) == (8192, True, GIB)
    assert result.context_tokens == 65536
    assert result.totals.kv_cache_bytes == GIB
    assert result.notes == ["Llama 3 8B: context capped at its maximum of 8k tokens."]


def test_a_context_within_the_models_length_is_not_capped():
    (row,) = plan([LLAMA_70B], CLUSTER).rows

    assert (row.context_tokens, row.context_capped) == (65536, False)


def test_an_empty_plan_fits_with_only_the_overhead():
    result = plan([], CLUSTER)

    assert result.rows == []
    assert (result.totals.loaded_bytes, result.totals.loaded_label, result.totals.utilisation_label,
            result.totals.risk, result.totals.needed_bytes) == (0, "0.0 GB", "0%", "Low", 50 * GIB)
    assert [(line.label, line.size_label, line.share_label) for line in result.budget] == [
        ("Overhead", "50 GB", "7%"), ("Free buffer", "718 GB", "93%")]
    assert result.fits is True
    assert result.suggestion is None
    assert [fit.shares for fit in result.nodes] == [[], []]


def test_the_overhead_is_spread_in_proportion_to_node_memory():
    alpha, beta = plan([], CLUSTER).nodes

    # 50 GiB split 512:256; the odd byte goes to the larger remainder
    assert (alpha.overhead_bytes, beta.overhead_bytes) == (50 * GIB * 2 // 3, 50 * GIB // 3 + 1)
    assert alpha.overhead_bytes + beta.overhead_bytes == 50 * GIB


def test_deepseek_4bit_is_split_evenly_across_both_nodes():
    shares = shares_of(plan([DEEPSEEK_4BIT], CLUSTER), "deepseek-v3-4bit")

    half = NodeShare(slug="deepseek-v3-4bit", strategy="tensor", layers=61,
                     weights_bytes=189 * GIB, kv_bytes=4_605_345_792 // 2)
    assert shares == {"alpha": half, "beta": half}


def test_a_node_fit_reports_what_it_holds_and_what_is_left():
    alpha, beta = plan([DEEPSEEK_4BIT], busy(100, 10)).nodes

    planned = 189 * GIB + 4_605_345_792 // 2
    assert (beta.total_bytes, beta.used_bytes, beta.planned_bytes) == (256 * GIB, 10 * GIB, planned)
    assert beta.free_after_bytes == 256 * GIB - 10 * GIB - beta.overhead_bytes - planned
    assert beta.utilisation == (256 * GIB - beta.free_after_bytes) / (256 * GIB)
    assert (beta.limit_bytes, beta.over_limit) == (256 * GIB * 92 // 100, False)
    assert alpha.free_after_bytes == 512 * GIB - 100 * GIB - alpha.overhead_bytes - planned


def test_a_pipeline_model_goes_whole_on_the_node_with_the_most_free_memory():
    # Either node could hold its 58 GB; ALPHA has 512 - 350 - 33.3 = 128.7 GB free,
    # BETA 256 - 16.7 = 239.3 GB
    result = plan([LLAMA_70B], busy(350, 0))

    assert shares_of(result, "llama-3.1-70b") == {"beta": NodeShare(
        slug="llama-3.1-70b", strategy="whole", layers=80, weights_bytes=38 * GIB,
        kv_bytes=20 * GIB)}


def test_a_70b_pipeline_model_too_big_for_either_node_is_split_by_free_memory():
    # 38 + 20 GB of cache fits under neither limit alone: ALPHA has 512 - 384 - 33.3 = 94.7 GB
    # free, BETA 256 - 168 - 16.7 = 71.3 GB; 80 layers * 94.7 / 166 = 45.6 -> 46 and 34
    result = plan([LLAMA_70B], busy(384, 168))

    shares = shares_of(result, "llama-3.1-70b")
    assert (shares["alpha"].layers, shares["beta"].layers) == (46, 34)
    assert shares["alpha"].layers + shares["beta"].layers == 80
    assert shares["alpha"].weights_bytes == 38 * GIB * 46 // 80
    assert shares["alpha"].weights_bytes + shares["beta"].weights_bytes == 38 * GIB
    assert (shares["alpha"].kv_bytes, shares["beta"].kv_bytes) == \
        (20 * GIB * 46 // 80, 20 * GIB * 34 // 80)
    assert {share.strategy for share in shares.values()} == {"layers"}
    assert result.fits is True


def test_a_model_on_a_full_cluster_is_spread_by_node_size_to_show_each_overflow():
    result = plan([LLAMA_70B], busy(512, 256))

    shares = shares_of(result, "llama-3.1-70b")
    # 80 layers split 512:256 -> 53.3 and 26.7 -> 53 and 27
    assert (shares["alpha"].layers, shares["beta"].layers) == (53, 27)
    assert [fit.over_limit for fit in result.nodes] == [True, True]


def test_live_used_memory_leaves_less_room_than_configured_memory():
    assert plan(GUIDE_SET, CLUSTER).fits is True

    result = plan(GUIDE_SET, busy(300, 100))

    assert result.fits is False
    assert result.totals.in_use_bytes == 400 * GIB
    # 400 in use + 421.7 weights + 34.3 cache + 50 overhead
    assert result.reasons == [
        "Needs 906 GB with a 64k context (400 GB of it already in use), the 92% limit is 706 GB.",
        "ALPHA would hold 573 GB, over its 92% limit of 471 GB.",
        "BETA would hold 333 GB, over its 92% limit of 235 GB.",
    ]
    assert result.suggestion is not None
    assert result.suggestion.unload == ["deepseek-v3-4bit"]
    assert result.suggestion.sentence == "Fits if you unload DeepSeek V3 4-bit."


def test_the_fewest_models_to_unload_may_be_more_than_one():
    result = plan(GUIDE_SET, busy(420, 200))

    assert result.suggestion is not None
    assert result.suggestion.unload == ["deepseek-v3-4bit", "llama-3.1-70b"]
    assert result.suggestion.sentence == \
        "Fits if you unload DeepSeek V3 4-bit and Llama 3.1 70B 4-bit."


def test_the_not_recommended_8bit_model_does_not_fit_and_says_why():
    result = plan([DEEPSEEK_8BIT], CLUSTER)

    assert result.fits is False
    # 712 weights + 4.3 cache + 50 overhead; BETA holds half: 356 + 2.1 + 16.7
    assert result.reasons == [
        "Needs 766 GB with a 64k context, the 92% limit is 706 GB.",
        "BETA would hold 375 GB, over its 92% limit of 235 GB.",
    ]
    warning = ("DeepSeek V3 8-bit is not recommended: "
               "Too close to limit: 93% memory utilization (only 56 GB buffer).")
    assert result.warnings == [warning]
    assert result.suggestion is not None
    assert result.suggestion.unload == ["deepseek-v3-8bit"]
    assert result.suggestion.sentence == "Fits if you unload DeepSeek V3 8-bit."


def test_a_not_recommended_model_without_a_reason_is_still_warned_about():
    model = replace(LLAMA_1B, tier="not_recommended", tier_reason="")

    assert plan([model], CLUSTER).warnings == ["Llama 3.2 1B 4-bit is not recommended."]


def test_unloading_prefers_a_not_recommended_model_over_a_larger_one():
    # Either model alone fits beside 250 GB in use; both together do not
    llama_70b_8bit = replace(LLAMA_70B, slug="llama-3.1-70b-8bit", name="Llama 3.1 70B 8-bit",
                             size_bytes=75 * GIB, tier="not_recommended")

    result = plan([DEEPSEEK_4BIT, llama_70b_8bit], busy(230, 20))

    assert result.suggestion is not None
    assert result.suggestion.unload == ["llama-3.1-70b-8bit"]


def test_unloading_prefers_the_largest_model_among_recommended_ones():
    llama_70b_8bit = replace(LLAMA_70B, slug="llama-3.1-70b-8bit", name="Llama 3.1 70B 8-bit",
                             size_bytes=75 * GIB)

    result = plan([DEEPSEEK_4BIT, llama_70b_8bit], busy(230, 20))

    assert result.suggestion is not None
    assert result.suggestion.unload == ["deepseek-v3-4bit"]


def test_nothing_to_unload_helps_when_the_memory_in_use_is_already_over_the_limit():
    result = plan([LLAMA_8B], busy(500, 0))

    assert result.fits is False
    assert result.reasons == ["ALPHA would hold 533 GB, over its 92% limit of 471 GB."]
    assert result.suggestion is None


def test_a_node_outside_the_cluster_is_left_out():
    result = plan([LLAMA_70B], [ALPHA, replace(BETA, in_cluster=False)])

    assert result.thresholds.total_bytes == 512 * GIB
    assert [fit.name for fit in result.nodes] == ["alpha"]
    assert result.rows[0].utilisation_label == format_share(38 * GIB, 512 * GIB) == "7%"


def test_with_no_node_in_the_cluster_nothing_fits():
    result = plan([LLAMA_1B], [replace(ALPHA, in_cluster=False)])

    assert result.fits is False
    assert result.reasons == ["No node is in the cluster."]
    assert result.nodes == []
    assert result.suggestion is None


def test_the_plan_converts_to_json_through_asdict():
    shape = json.loads(json.dumps(asdict(plan(GUIDE_SET, busy(300, 100)))))

    assert shape["suggestion"] == {"unload": ["deepseek-v3-4bit"],
                                   "sentence": "Fits if you unload DeepSeek V3 4-bit."}
    assert shape["rows"][0]["remaining_label"] == "390 GB"
    assert shape["nodes"][0]["shares"][0]["strategy"] == "tensor"
