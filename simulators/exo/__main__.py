"""``python -m simulators.exo``: serve a simulated exo cluster on one port."""

from __future__ import annotations

import argparse
import functools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import uvicorn

from .app import build_app
from .catalogue import BUILT_IN
from .config import (
    DEFAULT_HF_ENDPOINT,
    SimConfig,
    default_nodes,
    parse_downloaded,
    parse_drop,
    parse_model_speed,
    parse_node,
)
from .wire import MAIN, VERSIONS

T = TypeVar("T")


def _parsed(parser: argparse.ArgumentParser, parse: Callable[[str], T], text: str) -> T:
    try:
        return parse(text)
    except ValueError as error:
        parser.error(str(error))
        raise  # parser.error exits; this keeps type checkers content


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m simulators.exo",
        description="A simulated exo cluster speaking exo's HTTP API (release 1.0.71 or main).",
    )
    parser.add_argument("--exo-version", choices=VERSIONS, default=MAIN,
                        help="the exo whose JSON to speak (default: main)")
    parser.add_argument("--node", action="append", default=[], metavar="NAME:GIB[:k=v,...]",
                        help="a node (repeat); fields ip, rdma, disk, chip, model, models_dir, "
                             "rdma_ctl=on|off, friendly (its friendlyName). Default: ALPHA:512 "
                             "(master) and BETA:256")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=52415)
    parser.add_argument("--log-dir", type=Path, default=Path("var/exo-sim/logs"),
                        help="each node logs to <log dir>/<name lower>/exo.log")
    parser.add_argument("--models-dir", type=Path, default=None, metavar="BASE",
                        help="base models dir: node NAME uses BASE/<name lower> "
                             "(models_dir= on --node overrides)")
    parser.add_argument("--load-time", type=float, default=6.0,
                        help="seconds a runner takes to start, connect, load and warm up "
                             "(its shard's download comes on top)")
    parser.add_argument("--speed", type=float, default=1.0,
                        help="multiplier on generation and download speed (and 1/first-token)")
    parser.add_argument("--model-speed", action="append", default=[], metavar="MODEL_ID=TOK_S",
                        help="tokens/s for one model (repeat); default the cluster guide's table")
    parser.add_argument("--download-speed", type=float, default=150e6, metavar="BYTES_S")
    parser.add_argument("--downloaded", action="append", default=[], metavar="MODEL_ID[@NODE]",
                        help="model present at start (repeat); default the guide's four "
                             "recommended models on every node")
    parser.add_argument("--rescan-interval", type=float, default=60.0,
                        help="seconds between exo's looks at the models directories")
    parser.add_argument("--retry-backoff", type=float, default=0.5,
                        help="seconds before a failed runner is first re-created (doubling)")
    parser.add_argument("--hf-endpoint", default=None,
                        help="the Hugging Face Hub exo asks for cards and searches (default: "
                             f"$HF_ENDPOINT, else {DEFAULT_HF_ENDPOINT}); $HF_TOKEN is sent")
    parser.add_argument("--node-timeout", type=float, default=30.0,
                        help="seconds a silent node stays in /state before it is dropped")
    parser.add_argument("--tick", type=float, default=0.25,
                        help="seconds between simulation steps")
    parser.add_argument("--latency", type=float, default=0.0,
                        help="fault: seconds added to every exo API answer")
    parser.add_argument("--error-rate", type=float, default=0.0,
                        help="fault: share of exo API requests answered 500 (1 = all)")
    parser.add_argument("--drop-node", action="append", default=[], metavar="NAME[@SECONDS]",
                        help="fault: stop a node SECONDS after start (repeat)")
    parser.add_argument("--fail-load", action="append", default=[], metavar="MODEL_ID",
                        help="fault: instances of this model fail while loading (segfault)")
    parser.add_argument("--seed", type=int, default=None, help="seed for readings and jitter")
    parser.add_argument("--stopped", action="store_true",
                        help="start with every node down; node agents (python -m "
                             "simulators.exo.node) bring them up and down like exo processes")
    return parser


def config_from_args(argv: Sequence[str] | None = None) -> SimConfig:
    parser = build_parser()
    args = parser.parse_args(argv)
    nodes = [_parsed(parser, functools.partial(parse_node, index=index), text)
             for index, text in enumerate(args.node)] or default_nodes()
    downloaded: dict[str, list[str]] = {}
    for text in args.downloaded:
        model_id, node = _parsed(parser, parse_downloaded, text)
        downloaded.setdefault(model_id, []).extend([node] if node else [])
    for model_id in args.fail_load:
        if model_id not in BUILT_IN:
            parser.error(f"unknown model {model_id!r}")
    extra = {"hf_endpoint": args.hf_endpoint} if args.hf_endpoint else {}
    return SimConfig(
        **extra,
        nodes=nodes,
        exo_version=args.exo_version,
        rescan_interval=args.rescan_interval,
        retry_backoff=args.retry_backoff,
        host=args.host,
        port=args.port,
        log_dir=args.log_dir,
        models_base=args.models_dir,
        load_time=args.load_time,
        speed=args.speed,
        node_timeout=args.node_timeout,
        tick=args.tick,
        download_speed=args.download_speed,
        model_speeds=dict(_parsed(parser, parse_model_speed, t) for t in args.model_speed),
        downloaded=downloaded,
        latency=args.latency,
        error_rate=args.error_rate,
        drop_nodes=[_parsed(parser, parse_drop, t) for t in args.drop_node],
        fail_load=set(args.fail_load),
        seed=args.seed,
        stopped=args.stopped,
    )


def main(argv: Sequence[str] | None = None) -> None:
    config = config_from_args(argv)
    uvicorn.run(build_app(config), host=config.host, port=config.port, log_level="warning")


if __name__ == "__main__":
    main()
