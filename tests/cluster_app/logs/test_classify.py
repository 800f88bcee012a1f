"""Parsing and classifying exo log lines, with the lines exo really writes (exo-api.md "Logs")."""

from __future__ import annotations

import re

import pytest

from cluster_app.logs.classify import (
    GUIDE_FILTER,
    JACCL_NO_COORDINATOR,
    MODEL_NOT_FOUND,
    NO_RDMA_DEVICE,
    OUT_OF_MEMORY,
    RDMA_NOT_ENABLED,
    REBOOT_BOTH_MACS,
    RING_PEER_GONE,
    RUNNER_SEGFAULT,
    NodeLines,
    Parsed,
    classify,
    hint_for,
    parse,
)

PID_LINE = "[ 2026-06-22 15:38:54.101 | INFO     | exo.main:main_inner:339 ] pid = 41233"
IBV_DEVICES = ('rank 0 MLX_IBV_DEVICES: /tmp/tmpab12/hosts_<instance>_0.json with devices: '
               '[[null, "rdma_en3"], ["rdma_en4", null]]')
COORDINATOR = "rank 0 MLX_JACCL_COORDINATOR: 0.0.0.0:53211"
DISTRIBUTED_DONE = "Rank 0 mlx distributed initialization complete"
GROUP = "Group size: 2, group rank: 0"
TENSOR_LOAD = ("loading model from /Users/.../.exo/models/"
               "mlx-community--Llama-3.3-70B-Instruct-4bit with tensor parallelism")
JACCL_RECV = "RuntimeError: [jaccl] Recv failed with errno=60"
JACCL_RTR = "ValueError: [jaccl] Changing queue pair to RTR failed with errno 22"
RING_RESET = "[ring] Receiving from socket 12 failed with errno 54"
SEGFAULT = "Runner terminated with signal=11 (Segmentation fault: 11)"
METAL_OOM = ("[METAL] Command buffer execution failed: Insufficient Memory "
             "(00000008:kIOGPUCommandBufferCallbackErrorOutOfMemory)")


def exo_line(message: str, level: str = "INFO",
             source: str = "exo.worker.runner.runner:main:402") -> str:
    return f"[ 2026-06-22 15:38:54.101 | {level:<8} | {source} ] {message}"


def test_an_exo_line_is_split_into_its_fields():
    assert parse(PID_LINE) == Parsed("2026-06-22 15:38:54.101", "INFO", "exo.main:main_inner:339",
                                     "pid = 41233")


def test_a_line_exo_did_not_format_is_kept_whole():
    assert parse(RING_RESET) == Parsed(None, None, None, RING_RESET)
    assert parse("  File \"runner.py\", line 12, in main") == Parsed(
        None, None, None, "  File \"runner.py\", line 12, in main")


def test_line_ends_and_terminal_colours_are_dropped():
    assert parse(PID_LINE + "\r\n").text == "pid = 41233"
    assert parse("\x1b[31mERROR\x1b[0m bad thing\n") == Parsed(None, None, None, "ERROR bad thing")


def test_a_message_may_contain_brackets_and_pipes():
    line = exo_line("[ring] a | b ] c", level="WARNING")
    assert parse(line) == Parsed("2026-06-22 15:38:54.101", "WARNING",
                                 "exo.worker.runner.runner:main:402", "[ring] a | b ] c")


@pytest.mark.parametrize(("text", "level", "classes"), [
    ("pid = 41233", "INFO", []),
    (IBV_DEVICES, "INFO", ["rdma"]),
    (COORDINATOR, "INFO", ["jaccl"]),
    (DISTRIBUTED_DONE, "INFO", ["distributed"]),
    (GROUP, "INFO", ["distributed"]),
    (TENSOR_LOAD, "INFO", ["distributed"]),
    (JACCL_RECV, None, ["jaccl", "error"]),
    (JACCL_RTR, None, ["jaccl", "error"]),
    (RING_RESET, None, ["ring", "error"]),
    (SEGFAULT, "ERROR", ["error"]),
    (METAL_OOM, None, ["metal", "error"]),
    ("/usr/bin/ibv_devinfo -d rdma_en4", None, ["rdma"]),
    ("instance_meta=MlxRing sharding=Pipeline", "INFO", ["ring"]),
    ("Traceback (most recent call last):", None, ["error"]),
    ("Download failed for mlx-community/Llama-3.2-1B-Instruct-4bit", "INFO", ["error"]),
    ("something went wrong", "CRITICAL", ["error"]),
    ("Runner is slow to answer", "WARNING", ["warning"]),
    ("warning: deprecated flag --foo", None, ["warning"]),
    ("[jaccl] RDMA distributed init over rdma_en3 failed, warning", "ERROR",
     ["jaccl", "rdma", "distributed", "error", "warning"]),
])
def test_classes(text, level, classes):
    assert classify(text, level) == classes


def test_words_that_merely_contain_a_class_name_do_not_count():
    assert classify("during the bring-up the error count was 0 of the errors", "INFO") == ["error"]
    assert classify("during bring-up", "INFO") == []


@pytest.mark.parametrize(("text", "hint"), [
    (JACCL_RECV, REBOOT_BOTH_MACS),
    (JACCL_RTR, REBOOT_BOTH_MACS),
    ("RuntimeError: [jaccl] Recv failed with errno=2", REBOOT_BOTH_MACS),
    (RING_RESET, RING_PEER_GONE),
    ("Segmentation fault in ibv_reg_mr", RDMA_NOT_ENABLED),
    ("[jaccl] Couldn't connect (error: 60)", JACCL_NO_COORDINATOR),
    (METAL_OOM, OUT_OF_MEMORY),
    ("Insufficient memory to create instance. Required: 37.9GB, Available: 12.0GB", OUT_OF_MEMORY),
    ("No instance found for model mlx-community/DeepSeek-V3-4bit", MODEL_NOT_FOUND),
    ("Model 'deepseek-v3-4bit' not found", MODEL_NOT_FOUND),
    ("No IB devices found", NO_RDMA_DEVICE),
    (SEGFAULT, RUNNER_SEGFAULT),
    ("[jaccl] Recv failed with errno=61", None),  # not one of issue 1847's
    ("[jaccl] Recv failed with errno=600", None),
    ("[ring] Receiving from socket 12 failed with errno 5", None),
    ("errno 60 from something that is not jaccl", None),
    (COORDINATOR, None),
    ("pid = 41233", None),
])
def test_hints(text, hint):
    assert hint_for(text) == hint


def test_a_segfault_while_rdma_is_being_set_up_is_rdma_not_being_enabled():
    assert hint_for(SEGFAULT, rdma_setting_up=True) == RDMA_NOT_ENABLED


def test_a_node_remembers_that_its_runner_was_setting_up_rdma():
    lines = NodeLines()
    described = [lines.describe(exo_line(text)) for text in
                 (IBV_DEVICES, COORDINATOR, SEGFAULT, SEGFAULT)]
    assert [d["hint"] for d in described] == [None, None, RDMA_NOT_ENABLED, RUNNER_SEGFAULT]


def test_a_segfault_after_rdma_came_up_is_not_blamed_on_rdma():
    lines = NodeLines()
    for text in (IBV_DEVICES, COORDINATOR, DISTRIBUTED_DONE):
        lines.describe(exo_line(text))
    assert lines.describe(exo_line(SEGFAULT, level="ERROR"))["hint"] == RUNNER_SEGFAULT


def test_a_described_line_has_every_field():
    assert NodeLines().describe(exo_line(JACCL_RECV, level="ERROR")) == {
        "time": "2026-06-22 15:38:54.101", "level": "ERROR",
        "source": "exo.worker.runner.runner:main:402", "text": JACCL_RECV,
        "classes": ["jaccl", "error"], "hint": REBOOT_BOTH_MACS}
    assert NodeLines().describe(RING_RESET + "\n") == {
        "time": None, "level": None, "source": None, "text": RING_RESET,
        "classes": ["ring", "error"], "hint": RING_PEER_GONE}


def test_the_guide_filter_is_the_guides_grep():
    guide = re.compile(GUIDE_FILTER)
    assert [bool(guide.search(line)) for line in (
        IBV_DEVICES, COORDINATOR, DISTRIBUTED_DONE, JACCL_RECV, "RDMA link up", "pid = 1")] == [
        True, True, True, False, True, False]  # grep -E is case-sensitive: [jaccl] is not JACCL
