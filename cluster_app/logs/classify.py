"""exo log lines: parse exo's file format, classify each line, and name known failures.

exo (loguru) writes
``[ 2026-06-22 15:38:54.101 | INFO     | exo.main:main_inner:339 ] pid = 41233``.
Anything else (runner stderr, a start script's output) is kept whole, with no time or level.
Pure: plain strings in, plain data out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# The cluster guide's own filter:
# `tail -f /tmp/exo-alpha.log | grep -E "JACCL|RDMA|IBV|distributed"`.
GUIDE_FILTER = "JACCL|RDMA|IBV|distributed"

_LINE = re.compile(
    r"\[ (?P<time>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?) \| (?P<level>[A-Z]+) *"
    r"\| (?P<source>[^\]]*?) \] ?(?P<text>.*)")
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")

# Most lines are ruled out by plain substring tests on the lower-cased text (fast); only the
# few left get the exact patterns.
_TOPIC_WORDS = (
    ("jaccl", ("jaccl",)),
    ("rdma", ("rdma", "ibv")),
    ("distributed", ("distributed", "group rank", "tensor parallel")),
    ("ring", ("[ring]", "mlxring", "mlx_ring")),
    ("metal", ("metal", "kiogpu")),
)
# Every class a line can have, in the order classify() gives them.
CLASSES = (*(topic for topic, _ in _TOPIC_WORDS), "error", "warning")
_ERROR_LEVELS = {"ERROR", "CRITICAL"}
_ERROR_WORDS = ("error", "exception", "failed", "fatal", "traceback", "segmentation",
                "terminated with signal")
_ERROR_TEXT = re.compile(
    r"Traceback|[A-Z]\w*(?:Error|Exception)\b|(?i:\berror\b|failed|fatal)"
    r"|Segmentation fault|terminated with signal")
_WARNING_TEXT = re.compile(r"\bwarn(?:ing)?\b", re.I)

# Hints for failures whose cause is known. Each names what to do, and where it is explained.
REBOOT_BOTH_MACS = (
    "JACCL lost its RDMA connection. Reboot both Macs (ALPHA and BETA), then start the cluster "
    "again: nothing short of a reboot recovers it (exo issue 1847).")
RDMA_NOT_ENABLED = (
    "RDMA is not enabled on this Mac: the runner crashed registering RDMA memory (ibv_reg_mr). "
    "Start it in Recovery, run `rdma_ctl enable` in Terminal, restart (exo issue 2186).")
RUNNER_SEGFAULT = (
    "A runner crashed (segmentation fault); the lines before it say where. With MlxJaccl, a crash "
    "in ibv_reg_mr means RDMA is not enabled (exo issue 2186).")
RING_PEER_GONE = (
    "The TCP ring peer went away (connection reset by peer, errno 54): the runner on the other "
    "node stopped or crashed. Look at that node's lines from the same moment.")
JACCL_NO_COORDINATOR = (
    "JACCL could not reach its coordinator (MLX_JACCL_COORDINATOR): check that the nodes reach "
    "each other on that address and port, and that the other runner is still starting.")
OUT_OF_MEMORY = (
    "Out of memory: check `memory_pressure`, restart exo to clear memory, unload large models or "
    "use a smaller one (Llama 70B instead of DeepSeek V3). The Planner shows what fits.")
MODEL_NOT_FOUND = (
    "exo does not know or has not loaded this model: check its name with "
    "`curl -s http://localhost:52415/models` and load it on the Cluster page.")
NO_RDMA_DEVICE = (
    "No RDMA device: check it with `/usr/bin/ibv_devinfo -d <rdma interface>`; if none is listed, "
    "run `rdma_ctl enable` in Recovery and check the Thunderbolt cable.")

_HINTS = (
    (re.compile(r"\[jaccl\].*errno[= ](?:2|22|60)\b", re.I), REBOOT_BOTH_MACS),
    (re.compile(r"ibv_reg_mr.*(?:segmentation|sigsegv|signal[= ]11)"
                r"|(?:segmentation|sigsegv|signal[= ]11).*ibv_reg_mr", re.I), RDMA_NOT_ENABLED),
    (re.compile(r"\[ring\].*errno[= ]54\b", re.I), RING_PEER_GONE),
    (re.compile(r"\[jaccl\] Couldn't connect", re.I), JACCL_NO_COORDINATOR),
    (re.compile(r"insufficient memory|out of memory|OutOfMemory|MemoryError|\bOOM\b"
                r"|greater than the maximum allowed buffer size", re.I), OUT_OF_MEMORY),
    (re.compile(r"No instance found for model|model '[^']*' not found", re.I), MODEL_NOT_FOUND),
    (re.compile(r"No IB devices found|ibv_open_device.*fail|couldn't open (?:ib|rdma) device",
                re.I), NO_RDMA_DEVICE),
)
# Every hint's pattern contains one of these (lower-case) words.
_HINT_WORDS = ("errno", "ibv_", "signal", "segmentation", "sigsegv", "memory", "oom",
               "buffer size", "found", "couldn't")
_SEGFAULT = re.compile(r"signal[= ]11\b|Segmentation fault|SIGSEGV", re.I)
# Lines of a runner setting up RDMA, and the one saying it got through (lower case).
_RDMA_SETUP = ("mlx_ibv_devices", "mlx_jaccl_coordinator", "ibv_reg_mr")
_RDMA_READY = "distributed initialization complete"


@dataclass(frozen=True, slots=True)
class Parsed:
    time: str | None
    level: str | None
    source: str | None
    text: str


def parse(line: str) -> Parsed:
    """Split an exo line into its fields; any other line is kept whole."""
    line = line.rstrip("\r\n")
    if "\x1b" in line:
        line = _ANSI.sub("", line)
    match = _LINE.fullmatch(line)
    if match is None:
        return Parsed(None, None, None, line)
    return Parsed(match["time"], match["level"], match["source"], match["text"])


def classify(text: str, level: str | None = None, *, lower: str | None = None) -> list[str]:
    """The classes of a line, in CLASSES order; a line can have several or none. `lower`:
    the text in lower case, when the caller has it already."""
    low = text.lower() if lower is None else lower
    found = [name for name, words in _TOPIC_WORDS if any(word in low for word in words)]
    if level in _ERROR_LEVELS or (any(word in low for word in _ERROR_WORDS)
                                  and _ERROR_TEXT.search(text)):
        found.append("error")
    if level == "WARNING" or ("warn" in low and _WARNING_TEXT.search(text)):
        found.append("warning")
    return found


def hint_for(text: str, *, rdma_setting_up: bool = False, lower: str | None = None) -> str | None:
    """What to do about a known failure, or None. `rdma_setting_up`: the node's runner was
    registering RDMA and had not finished, so a segfault now is RDMA's."""
    low = text.lower() if lower is None else lower
    if not any(word in low for word in _HINT_WORDS):
        return None
    for pattern, hint in _HINTS:
        if pattern.search(text):
            return hint
    if _SEGFAULT.search(text):
        return RDMA_NOT_ENABLED if rdma_setting_up else RUNNER_SEGFAULT
    return None


class NodeLines:
    """Describes one node's lines in the order they were written: a segfault's hint depends on
    whether the node was in the middle of setting up RDMA."""

    def __init__(self) -> None:
        self.rdma_setting_up = False

    def describe(self, line: str) -> dict[str, Any]:
        parsed = parse(line)
        text = parsed.text
        low = text.lower()
        if any(word in low for word in _RDMA_SETUP):
            self.rdma_setting_up = True
        elif _RDMA_READY in low:
            self.rdma_setting_up = False
        hint = hint_for(text, rdma_setting_up=self.rdma_setting_up, lower=low)
        if hint == RDMA_NOT_ENABLED:
            self.rdma_setting_up = False  # explained once; the next runner starts afresh
        return {"time": parsed.time, "level": parsed.level, "source": parsed.source, "text": text,
                "classes": classify(text, parsed.level, lower=low), "hint": hint}

