"""Pure pieces of the chat proxy: the router, the stream meter, the cost arithmetic."""

from __future__ import annotations

import json
from decimal import Decimal

from models_app.proxy.rules import Route, choose
from models_app.usage.costs import Price, cloud_cost, weekly_savings
from models_app.usage.meter import StreamMeter, outcome

RULES = {"coding": ["deepseek-v3-4bit", "llama-3.1-70b", "llama-3.1-8b"],
         "quick": ["llama-3.1-8b", "llama-3.1-70b", "llama-3.2-1b"],
         "default": ["deepseek-v3-4bit", "llama-3.1-70b", "llama-3.1-8b", "llama-3.2-1b"]}


def test_coding_goes_to_deepseek_when_it_is_ready():
    assert choose("coding", RULES, {"deepseek-v3-4bit", "llama-3.1-8b"}) == Route(
        "coding", "deepseek-v3-4bit", ())


def test_a_busy_or_loading_model_falls_back_to_the_next_ready_one():
    route = choose("coding", RULES, {"llama-3.1-8b"})
    assert route == Route("coding", "llama-3.1-8b", ("deepseek-v3-4bit", "llama-3.1-70b"))
    assert route.describe() == ("auto:coding -> llama-3.1-8b "
                                "(deepseek-v3-4bit, llama-3.1-70b not ready)")


def test_unknown_or_missing_task_uses_the_default_rule():
    assert choose("poetry", RULES, {"llama-3.2-1b"}).task == "default"
    assert choose(None, RULES, {"llama-3.2-1b"}).slug == "llama-3.2-1b"


def test_nothing_ready_says_so():
    route = choose("quick", RULES, set())
    assert route.slug is None and route.describe().startswith("auto:quick -> none ready")


def sse(*events) -> bytes:
    return (b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events)
            + b"data: [DONE]\n\n")


def chunk(text, **extra):
    return {"object": "chat.completion",
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": text}}], **extra}


def test_meter_reads_first_token_speed_and_usage_across_split_chunks():
    meter = StreamMeter(started=10.0)
    stream = b": keep-alive\n\n" + sse(chunk("Hel"), chunk("lo"), chunk("!", usage={
        "prompt_tokens": 15, "completion_tokens": 11, "total_tokens": 26}))
    meter.feed(stream[:40], 10.5)  # keep-alive and part of the first chunk: no token yet
    assert meter.first_token_at is None
    meter.feed(stream[40:200], 10.75)
    meter.feed(stream[200:], 11.75)
    assert meter.first_token_ms == 750
    assert (meter.prompt_tokens, meter.completion_tokens) == (15, 11)
    assert meter.tokens_per_second == 10.0  # 10 tokens after the first, in 1 s


def test_meter_reads_anthropic_events_and_errors():
    meter = StreamMeter(started=0.0)
    meter.feed(b'event: message_start\ndata: {"type":"message_start",'
               b'"message":{"usage":{"input_tokens":7,"output_tokens":1}}}\n\n', 0.1)
    meter.feed(b'event: content_block_delta\ndata: {"type":"content_block_delta",'
               b'"delta":{"type":"text_delta","text":"Hi"}}\n\n', 0.2)
    meter.feed(b'event: message_delta\ndata: {"type":"message_delta",'
               b'"usage":{"output_tokens":5}}\n\n', 0.6)
    assert (meter.prompt_tokens, meter.completion_tokens, meter.first_token_ms) == (7, 5, 200)
    failed = StreamMeter(started=0.0)
    failed.feed(b'data: {"error": {"message": "runner died", "code": 500}}\n\n', 1.0)
    assert failed.error == "runner died"


# Chunks of both APIs, some plain text and some not, and text that names keys.
EVENTS = [
    {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]},
    {"choices": [{"index": 0, "delta": {"reasoning_content": "Hmm"}}]},
    {"choices": [{"index": 0, "delta": {"content": 'say "usage", "error":"x"'}}]},
    {"choices": [{"index": 0, "delta": {"content": "!"}, "finish_reason": None}]},
    {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
     "usage": {"prompt_tokens": 3, "completion_tokens": 4}},
    {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}},
    {"type": "ping"}, {"type": "content_block_stop", "index": 0}, {"type": "message_stop"},
    {"error": {"message": "runner died", "code": 500}},
]


def compact(event: dict) -> bytes:
    """A chunk as exo writes it."""
    return b"data: " + json.dumps(event, separators=(",", ":")).encode() + b"\n\n"


def test_plain_text_chunks_as_exo_writes_them_count_as_when_parsed():
    exos, spaced = StreamMeter(started=0.0), StreamMeter(started=0.0)
    for moment, event in enumerate(EVENTS):
        exos.feed(compact(event), moment)
        spaced.feed(b"data: " + json.dumps(event).encode() + b"\n\n", moment)  # always parsed
    assert exos == spaced
    assert (exos.chunks, exos.first_token_at, exos.completion_tokens) == (4, 1, 4)
    assert exos.error == "runner died"
    together = StreamMeter(started=0.0)
    together.feed(b"".join(compact(event) for event in EVENTS), 1)
    assert (together.chunks, together.completion_tokens, together.error) == (4, 4, "runner died")


def test_a_run_of_text_chunks_is_counted_at_once():
    meter = StreamMeter(started=0.0)
    meter.feed(compact(EVENTS[0]), 0.5)  # the role, no text yet
    text = b"".join(compact(chunk(f"word{n} ")) for n in range(100))
    meter.feed(text[:5000], 1.0)  # ends inside a chunk, which waits for the rest
    meter.feed(text[5000:] + b"data: [DONE]\n\n", 2.0)
    assert (meter.chunks, meter.first_token_at, meter.finished) == (100, 1.0, True)


def test_the_speed_is_exos_own_when_exo_gives_it():
    answer = b"".join(compact(chunk(f"word{n} ")) for n in range(8))
    measured = StreamMeter(started=0.0)
    measured.feed(answer + b"data: [DONE]\n\n", 1.0)  # all of it in one read
    assert measured.tokens_per_second is None  # no time between its first token and its end
    told = StreamMeter(started=0.0)
    told.feed(answer + b': generation_stats {"generation_tps":161.54,"prompt_tps":900.0}\n\n'
              b"data: [DONE]\n\n", 1.0)
    assert told.tokens_per_second == 161.5 and (told.chunks, told.finished) == (8, True)


CHUNK = b'data: {"choices": [{"delta": {"role": "assistant", "content": "Hi"}}]}\n\n'


def test_a_chat_stream_ends_finished_only_with_done():
    meter = StreamMeter(started=0.0)
    meter.feed(b": keep-alive\n\n" + CHUNK, 0.1)
    assert outcome(meter, client_left=False, broken=None) == (
        "failed", "exo closed the stream before the answer was finished")
    meter.feed(b"data: [DONE]\n\n", 0.2)
    assert outcome(meter, client_left=False, broken=None) == ("ok", "")


def test_a_messages_stream_ends_finished_with_a_stop_reason():
    cut = StreamMeter(started=0.0)
    cut.feed(b'data: {"type":"message_delta","delta":{"stop_reason":null},'
             b'"usage":{"output_tokens":3}}\n\ndata: {"type":"message_stop"}\n\n', 0.1)
    assert outcome(cut, client_left=False, broken=None)[0] == "failed"
    done = StreamMeter(started=0.0)
    done.feed(b'data: {"type":"message_delta","delta":{"stop_reason":"end_turn"}}\n\n', 0.1)
    assert outcome(done, client_left=False, broken=None) == ("ok", "")


def test_a_whole_answer_is_finished_and_a_broken_one_is_not():
    whole = StreamMeter(started=0.0)
    whole.take_body(json.dumps({"usage": {"prompt_tokens": 3, "completion_tokens": 4}}).encode())
    assert whole.finished and (whole.prompt_tokens, whole.completion_tokens) == (3, 4)
    broken = StreamMeter(started=0.0)
    broken.take_body(b'{"choices": [{"message": {"content": "Hel')
    assert not broken.finished


def test_who_ended_it_decides_the_record():
    meter = StreamMeter(started=0.0)
    assert outcome(meter, client_left=True, broken=None) == (
        "cancelled", "the client disconnected")
    assert outcome(meter, client_left=False, broken="peer closed connection") == (
        "failed", "exo broke the answer off: peer closed connection")
    meter.feed(b'data: {"error": {"message": "runner died", "code": 500}}\n\ndata: [DONE]\n\n',
               0.1)
    assert outcome(meter, client_left=False, broken=None) == ("failed", "runner died")


def test_cloud_cost_per_million_tokens():
    sonnet = Price("Claude API (Sonnet)", Decimal("3"), Decimal("15"))
    assert cloud_cost(sonnet, 1_000_000, 1_000_000) == Decimal("18")
    assert cloud_cost(sonnet, 0, 1_000_000) == Decimal("15")  # the guide's "1M tokens = $15"


def test_weekly_savings_against_electricity():
    prices = [Price("Claude API (Sonnet)", Decimal("3"), Decimal("15")),
              Price("DeepSeek API", Decimal("0.27"), Decimal("1.10"))]
    electricity, savings = weekly_savings(prices, prompt_tokens=10_000_000,
                                          completion_tokens=10_000_000,
                                          electricity_per_hour=Decimal("0.50"))
    assert electricity == Decimal("84.00")  # $0.50 x 168 h
    assert [(s.name, s.cloud_cost, s.saving_per_week) for s in savings] == [
        ("Claude API (Sonnet)", Decimal("180.00"), Decimal("96.00")),
        ("DeepSeek API", Decimal("13.70"), Decimal("-70.30"))]
    assert savings[0].saving_per_month == Decimal("411.43")  # 96 x 30 / 7
