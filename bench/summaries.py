"""Summary quality and speed on VietNews (../shared/data/vietnews-dev.jsonl).

    python bench/summaries.py [--data PATH] [--repeat N]

Input per article: its title, and its body sentences joined with spaces (the dataset's own
line split breaks at some abbreviations, so everything is re-split by our splitter).
Reference: the human-written `abstract`. Prints ROUGE-1/2/L F1 on syllables for Lead-1,
Lead-2 and Bản tin side by side, and Bản tin's articles per second on one core.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from statistics import mean

from rouge import scores  # bench/ is on sys.path when this script runs
from shared_data import VIETNEWS, require  # bench/ is on sys.path

from bot.summarize import summarize
from bot.vietnamese import split_sentences


def load(path: Path) -> list[dict[str, object]]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=VIETNEWS)
    parser.add_argument("--repeat", type=int, default=5, help="timing passes over the data")
    args = parser.parse_args()
    require(args.data)
    rows = load(args.data)
    inputs = [(str(r["title"]), " ".join(r["body_sentences"])) for r in rows]  # type: ignore[arg-type]
    references = [str(r["abstract"]) for r in rows]

    systems = {
        "Lead-1": [" ".join(split_sentences(body)[:1]) for _, body in inputs],
        "Lead-2": [" ".join(split_sentences(body)[:2]) for _, body in inputs],
        "Bản tin": [summarize(body, title=title) for title, body in inputs],
    }
    print(f"{len(rows)} articles from {args.data.name}; ROUGE F1 x 100 on syllables")
    print(f"{'system':<10} {'R-1':>6} {'R-2':>6} {'R-L':>6} {'chars':>6}")
    results = {}
    for name, candidates in systems.items():
        triples = [scores(c, r) for c, r in zip(candidates, references, strict=True)]
        r1, r2, rl = (100 * mean(t[i] for t in triples) for i in range(3))
        results[name] = (r1, r2, rl)
        length = mean(len(c) for c in candidates)
        print(f"{name:<10} {r1:6.2f} {r2:6.2f} {rl:6.2f} {length:6.0f}")

    start = time.process_time()
    for _ in range(args.repeat):
        for title, body in inputs:
            summarize(body, title=title)
    elapsed = time.process_time() - start
    rate = args.repeat * len(inputs) / elapsed
    print(f"Bản tin speed: {rate:,.0f} articles/s on one core (CPU time, {args.repeat} passes)")

    beats = all(a > b for a, b in zip(results["Bản tin"], results["Lead-2"], strict=True))
    print(
        f"above Lead-2 on all three: {'yes' if beats else 'NO'}; 500 articles/s: "
        f"{'yes' if rate >= 500 else 'NO'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
