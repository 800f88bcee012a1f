"""`python -m simulators.hub`: serve the demo (or another) manifest over HTTP."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .bandwidth import Bandwidth
from .cdn import DEFAULT_TTL, Cdn
from .content import HashCache
from .faults import FaultBook, FaultSpecError
from .manifest import DEMO_MANIFEST_PATH, load_manifest, parse_scale, tiny_manifest
from .repos import RepoStore
from .server import serve
from .state import SimState


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m simulators.hub", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8790)
    p.add_argument(
        "--cdn-port", type=int, default=0,
        help="port of the CDN LFS downloads are redirected to (default: any free one)",
    )
    p.add_argument(
        "--cdn-ttl", type=float, default=DEFAULT_TTL,
        help=f"seconds a signed CDN link lasts (default {DEFAULT_TTL:g})",
    )
    source = p.add_mutually_exclusive_group()
    source.add_argument(
        "--manifest",
        type=Path,
        default=DEMO_MANIFEST_PATH,
        help="manifest JSON file (default: the demo manifest)",
    )
    source.add_argument("--tiny", action="store_true", help="serve the built-in tiny test manifest")
    p.add_argument(
        "--scale",
        default=None,
        help='size factor, e.g. "1/20000" (default) or "1"; the tiny manifest defaults to 1',
    )
    p.add_argument(
        "--token", action="append", default=[], help="accepted bearer token (repeatable)"
    )
    p.add_argument("--bandwidth", type=int, default=None, help="cap in bytes/s (default: none)")
    p.add_argument(
        "--bandwidth-per",
        choices=("global", "connection"),
        default="global",
        help="apply the cap to all downloads together or to each connection",
    )
    p.add_argument(
        "--fault",
        action="append",
        default=[],
        help='fault as JSON, e.g. \'{"kind": "drop", "path": "*.safetensors", '
        '"after_bytes": 65536}\' (repeatable; see simulators/hub/faults.py)',
    )
    p.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="directory keeping computed sha256 between runs (default: memory only)",
    )
    p.add_argument(
        "--tree-page-size",
        type=int,
        default=1000,
        help="entries per /tree page before a Link: rel=next header (Hub: 1000)",
    )
    p.add_argument("--log-level", default="info")
    return p


def state_from_args(args: argparse.Namespace) -> SimState:
    """Returns the simulator state the parsed command line describes."""
    manifest = tiny_manifest() if args.tiny else load_manifest(args.manifest)
    scale = parse_scale(args.scale or ("1" if args.tiny else "1/20000"))
    if args.bandwidth is not None and args.bandwidth <= 0:
        raise ValueError("--bandwidth must be a positive number of bytes/s")
    if args.tree_page_size <= 0:
        raise ValueError("--tree-page-size must be positive")
    if args.cdn_ttl <= 0:
        raise ValueError("--cdn-ttl must be a positive number of seconds")
    faults = FaultBook()
    for text in args.fault:
        try:
            faults.add(json.loads(text))
        except (json.JSONDecodeError, FaultSpecError) as exc:
            raise ValueError(f"--fault {text!r}: {exc}") from exc
    return SimState(
        store=RepoStore(manifest, scale, HashCache(args.cache_dir)),
        tokens=frozenset(args.token),
        bandwidth=Bandwidth(args.bandwidth, per_connection=args.bandwidth_per == "connection"),
        cdn=Cdn(args.cdn_ttl),
        faults=faults,
        tree_page_size=args.tree_page_size,
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        state = state_from_args(args)
    except ValueError as exc:  # ManifestError and FaultSpecError included
        print(f"hub simulator: {exc}", file=sys.stderr)
        return 2
    serve(state, args.host, args.port, args.cdn_port, log_level=args.log_level)
    return 0


if __name__ == "__main__":
    sys.exit(main())
