"""One rank of the link benchmark: timed all_sum rounds over MLX distributed, per message size.

`mlx.launch` starts one of these on every rank (`python -m cluster_app.linkbench.rank`). Rank 0
prints JSON lines on stdout: one per size as soon as it is measured, then the whole result.
It imports nothing of the panel, so it starts fast and runs on a node without its settings.
"""

from __future__ import annotations

import argparse
import json
import re
import socket
import statistics
import sys
import time
from typing import Any, cast

import mlx.core as mx

# 4 B to 64 MiB by fours: the small end shows latency, the large end bandwidth. Bounded so a
# run on a slow TCP loopback still takes seconds, not minutes.
DEFAULT_SIZES = [4 * 4**i for i in range(13)]
QUICK_SIZES = [4 * 4**i for i in range(10)]  # up to 1 MiB
DEFAULT_ROUNDS = 50
QUICK_ROUNDS = 20
MIN_ROUNDS = 3
# Large messages get fewer rounds: about this many bytes per size, never under MIN_ROUNDS.
BYTES_PER_SIZE = 128 * 1024**2
WARMUP_ROUNDS = 5
HOST_NAME_BYTES = 64
SIZE = re.compile(r"^(\d+)([KMG]?)$", re.I)
UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}


def parse_size(text: str) -> int:
    """Bytes for `4`, `64K`, `16M` (binary units); a whole number of float32 values."""
    match = SIZE.match(text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 4, 64K, 16M)")
    nbytes = int(match[1]) * UNITS[match[2].upper()]
    if nbytes < 4 or nbytes % 4 or nbytes > UNITS["G"]:
        raise argparse.ArgumentTypeError(f"{text}: sizes are multiples of 4 bytes, up to 1G")
    return nbytes


def rounds_for(nbytes: int, rounds: int) -> int:
    return max(MIN_ROUNDS, min(rounds, BYTES_PER_SIZE // nbytes))


def point(nbytes: int, times: list[float]) -> dict[str, Any]:
    seconds = statistics.median(times)
    # Algorithmic bandwidth (bytes reduced per second); for two ranks it equals bus bandwidth.
    return {"bytes": nbytes, "seconds": seconds, "gbps": nbytes * 8 / seconds / 1e9,
            "rounds": len(times)}


def time_all_sum(group: mx.distributed.Group, nbytes: int, rounds: int) -> list[float]:
    """Seconds per all_sum of `nbytes`, each round evaluated before the next starts."""
    data = mx.ones((nbytes // 4,), dtype=mx.float32)
    mx.eval(data)
    mx.eval(mx.distributed.all_sum(data, group=group))  # first touch of this size's buffers
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        mx.eval(mx.distributed.all_sum(data, group=group))
        times.append(time.perf_counter() - started)
    return times


def warm_up(group: mx.distributed.Group) -> None:
    """Connect every rank and check the sum is right, so a broken link fails loudly."""
    for _ in range(WARMUP_ROUNDS):
        total = mx.distributed.all_sum(mx.ones((1,), dtype=mx.float32), group=group)
        if total.item() != group.size():
            raise RuntimeError(f"all_sum of ones over {group.size()} ranks gave {total.item()}")


def host_names(group: mx.distributed.Group) -> list[str]:
    """Every rank's host name, in rank order. Gathered with all_sum, the one operation every
    backend has: each rank fills its own row of zeros."""
    rows = [[0.0] * HOST_NAME_BYTES for _ in range(group.size())]
    mine = socket.gethostname().encode()[:HOST_NAME_BYTES]
    rows[group.rank()][:len(mine)] = [float(byte) for byte in mine]
    # A 2-D array's tolist() is its rows (mlx types it as any depth of list or a scalar).
    summed = cast(list[list[float]],
                  mx.distributed.all_sum(mx.array(rows, dtype=mx.float32), group=group).tolist())
    return [bytes(int(value) for value in row).rstrip(b"\0").decode(errors="replace")
            for row in summed]


def emit(line: dict[str, Any]) -> None:
    print(json.dumps(line), flush=True)


def run(backend: str, sizes: list[int], rounds: int) -> None:
    """Time every size on this rank; rank 0 prints the points and the result."""
    group = mx.distributed.init(strict=True, backend=backend)
    if group.size() < 2:
        raise RuntimeError("only one rank: start the probe with mlx.launch")
    lead = group.rank() == 0
    warm_up(group)
    hosts = host_names(group)
    points = []
    for index, nbytes in enumerate(sizes):
        points.append(point(nbytes, time_all_sum(group, nbytes, rounds_for(nbytes, rounds))))
        if lead:
            emit({"linkprobe": "point", "index": index, "count": len(sizes), **points[-1]})
    if lead:
        emit({"linkprobe": "result", "backend": backend, "ranks": group.size(), "hosts": hosts,
              "points": points})


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m cluster_app.linkbench.rank",
                                     description="Time MLX all_sum across the launched ranks.")
    parser.add_argument("--backend", default="any", choices=["any", "ring", "jaccl", "mpi"])
    parser.add_argument("--sizes", type=lambda text: [parse_size(s) for s in text.split(",")],
                        help="comma-separated message sizes, e.g. 4,1K,1M (default 4 B to 64M)")
    parser.add_argument("--rounds", type=int, help="timed rounds per size (fewer for big ones)")
    parser.add_argument("--quick", action="store_true", help="sizes up to 1M, fewer rounds")
    args = parser.parse_args(argv)
    if args.sizes is None:
        args.sizes = QUICK_SIZES if args.quick else DEFAULT_SIZES
    if args.rounds is None:
        args.rounds = QUICK_ROUNDS if args.quick else DEFAULT_ROUNDS
    if not 1 <= args.rounds <= 1000:
        parser.error("--rounds is from 1 to 1000")
    return args


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    run(args.backend, args.sizes, args.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
