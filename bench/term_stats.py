"""How long Storage.term_stats takes for an edition's candidates, on a large archive.

    python bench/term_stats.py [--db PATH] [--candidates N]

Opens an existing archive (by default the one bench/search.py builds for a million
articles: run `python bench/search.py` first), takes its N newest articles (500, an
edition's candidates at most) and times how long the store takes to say how common
their words are: the look-ups editions and breaking news make before clustering. First
with nothing remembered (as after a start), then for the next N newest articles (as the
next edition: counts are remembered for a few hours, so only new words are looked up).
The most common words looked up are listed, as they cost the most (each is a walk over
its list of rows in the FTS index). Page cache warm when the archive was just built.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

from bot.cluster import lookup_terms
from bot.storage import Storage

DEFAULT = Path("/tmp/bantin-bench-search-1000000.sqlite3")


async def run(path: Path, candidates: int) -> None:
    storage = await Storage.open(path)
    try:
        newest = await storage.latest(2 * candidates)
        edition, later = newest[candidates:], newest[:candidates]
        began = time.perf_counter()
        terms = lookup_terms(edition)
        cut = time.perf_counter() - began
        began = time.perf_counter()
        stats = await storage.term_stats(terms)
        cold = time.perf_counter() - began
        next_terms = lookup_terms(later)
        began = time.perf_counter()
        await storage.term_stats(next_terms)
        warm = time.perf_counter() - began
        common = sorted(stats.df.items(), key=lambda item: -item[1])[:5]
        print(f"archive: {stats.documents:,} articles ({path})")
        print(f"{len(edition)} candidates: {len(terms):,} terms, cut in {cut * 1000:.0f} ms")
        print(f"Storage.term_stats, nothing remembered: {cold * 1000:.0f} ms")
        print(
            f"the next {len(later)} articles' {len(next_terms):,} terms, "
            f"{len(next_terms - terms):,} of them new: {warm * 1000:.0f} ms"
        )
        print("most common terms looked up: " + ", ".join(f"{t} {n:,}" for t, n in common))
    finally:
        await storage.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, default=DEFAULT)
    parser.add_argument("--candidates", type=int, default=500)
    args = parser.parse_args()
    if not args.db.is_file():
        print(f"{args.db} not found: build it with `python bench/search.py`", file=sys.stderr)
        return 2
    asyncio.run(run(args.db, args.candidates))
    return 0


if __name__ == "__main__":
    sys.exit(main())
