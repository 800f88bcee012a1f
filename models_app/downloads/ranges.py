"""Byte spans of a file: which are on disk, which are missing, and how to cut the missing ones
into pieces fetched in parallel. Pure functions; a span is `(start, end)`, end excluded."""

from __future__ import annotations

from collections.abc import Iterable

Span = tuple[int, int]

MIB = 1024 * 1024


def merged(spans: Iterable[Span]) -> list[Span]:
    """Returns the spans sorted, with empty ones dropped and touching or overlapping ones joined."""
    out: list[Span] = []
    for start, end in sorted(s for s in spans if s[1] > s[0]):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def covered(spans: Iterable[Span]) -> int:
    """Returns how many bytes the spans hold (overlaps counted once)."""
    return sum(end - start for start, end in merged(spans))


def clipped(spans: Iterable[Span], size: int) -> list[Span]:
    """Returns the parts of the spans inside [0, size), merged."""
    return merged((max(start, 0), min(end, size)) for start, end in spans)


def missing(done: Iterable[Span], size: int) -> list[Span]:
    """Returns the spans of [0, size) that `done` does not hold."""
    gaps: list[Span] = []
    position = 0
    for start, end in clipped(done, size):
        if start > position:
            gaps.append((position, start))
        position = end
    if position < size:
        gaps.append((position, size))
    return gaps


def prefix_end(done: Iterable[Span]) -> int:
    """Returns where the bytes held from 0 on stop: 0 when the first byte is missing."""
    spans = merged(done)
    return spans[0][1] if spans and spans[0][0] == 0 else 0


def plan(gaps: Iterable[Span], connections: int, *, smallest: int, largest: int,
         align: int) -> list[Span]:
    """Returns the gaps cut into pieces to fetch over `connections` at once, in file order.

    Each piece is a share of what is left after it (1 / (2 x connections)), so pieces shrink
    towards the end of the file: the first ones are large (few requests), the last ones small,
    so the connections finish together and the sha256, which can only follow the bytes in
    order, has little left to read once the last piece is in. Sizes stay within [smallest,
    largest] (the last piece of a gap up to twice `smallest`) and are rounded up to `align`.
    """
    spans = merged(gaps)
    remaining = sum(end - start for start, end in spans)
    out: list[Span] = []
    for start, end in spans:
        at = start
        while at < end:
            share = -(-remaining // (2 * max(connections, 1)))
            size = -(-min(max(share, smallest), largest) // align) * align
            # A last bit smaller than a piece goes with the piece before it.
            piece = (at, end if end - at - size < smallest else at + size)
            out.append(piece)
            remaining -= piece[1] - piece[0]
            at = piece[1]
    return out
