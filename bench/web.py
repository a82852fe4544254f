"""Public site speed at archive scale: edition and search pages over real HTTP.

    python bench/web.py [--articles N] [--source PATH] [--requests N]

Needs bench/search.py's archive of N articles (/tmp/bantin-bench-search-N.sqlite3, or
--source PATH, e.g. an older copy: Storage migrates it). It is copied once to
/tmp/bantin-bench-web-N.sqlite3 (the source is never changed) and given EDITIONS editions
of a channel with `web = true`, ten articles each drawn across the whole archive, sent.
Then bot.web runs in a child process (uvicorn, as the bot serves it) and an httpx client
asks for edition pages and search pages (the /search query kinds: common and rare words,
no diacritics, phrases, pages 1 to 3) one at a time after a warm-up. Latency is the
client's wall time per request, loopback included. The goal: p95 under 50 ms for each
kind at 1,000,000 articles.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import quantiles

import httpx
from corpus import feed_urls  # bench/ is on sys.path

from bot.format import article_block, heading_block, pack
from bot.models import Edition, StoredArticle
from bot.settings import Settings, load_settings
from bot.storage import Storage
from bot.storage.base import from_db_time

GOAL_ARTICLES = 1_000_000
GOAL_MS = 50.0
EDITIONS = 3000
PER_EDITION = 10
CHAT = "@bantinbench"
QUERIES = ["Việt Nam", "Hà Nội", "kinh te", "bóng đá", '"giá vàng"', "thủ tướng", "tai nạn"]
WARMUP = 30


def config_text() -> str:
    feeds = "".join(f'[[feeds]]\nid = "{i}"\nname = "{i}"\nurl = "{u}"\n' for i, u in feed_urls())
    return feeds + f'[[channels]]\nchat = "{CHAT}"\nschedule = ["07:00"]\nweb = true\n'


def settings_in(folder: Path, database: Path) -> Settings:
    config = folder / "bench.toml"
    config.write_text(config_text(), encoding="utf-8")
    return load_settings({"BOT_DATABASE": str(database)}, str(config))


def sample_articles(path: Path, count: int, seed: int) -> list[StoredArticle]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        top = int(db.execute("SELECT max(id) FROM articles").fetchone()[0])
        ids = random.Random(seed).sample(range(1, top + 1), count)
        rows: list[tuple[object, ...]] = []
        for start in range(0, len(ids), 900):
            chunk = ids[start : start + 900]
            rows += db.execute(
                "SELECT id, feed_id, url, title, summary, published_at, first_seen_at FROM"
                f" articles WHERE id IN ({','.join('?' * len(chunk))})",
                chunk,
            ).fetchall()
    return [
        StoredArticle(
            int(r[0]), str(r[1]), r[2], str(r[3]), str(r[4]),  # type: ignore[arg-type]
            from_db_time(r[5]), from_db_time(r[6]),  # type: ignore[arg-type]
        )
        for r in rows
    ]  # fmt: skip


async def publish(path: Path, settings: Settings) -> None:
    """EDITIONS sent editions of CHAT, PER_EDITION archive articles each."""
    articles = sample_articles(path, EDITIONS * PER_EDITION, seed=1)
    storage = await Storage.open(path)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    try:
        for n in range(EDITIONS):
            chosen = articles[n * PER_EDITION : (n + 1) * PER_EDITION]
            planned = start + timedelta(hours=12 * n)
            title = f"Bản tin {n}"
            blocks = [heading_block(title)] + [
                article_block(a, a.feed_id, settings.timezone, dated=False) for a in chosen
            ]
            parts = pack(blocks, continued=heading_block(f"{title} (tiếp)"))
            edition_id = await storage.plan_edition(Edition(CHAT, title, planned, tuple(parts)))
            assert edition_id is not None
            for part in await storage.pending_parts(CHAT):
                await storage.mark_sent(part.id, 1, planned)
    finally:
        await storage.close()


def prepare(source: Path, target: Path, folder: Path) -> None:
    if target.exists():
        print(f"reusing {target}")
        return
    print(f"copying {source} to {target} and publishing {EDITIONS:,} editions")
    started = time.monotonic()
    partial = target.with_name(target.name + ".partial")
    shutil.copyfile(source, partial)
    for suffix in ("-wal", "-shm"):
        if Path(f"{source}{suffix}").exists():
            shutil.copyfile(f"{source}{suffix}", f"{partial}{suffix}")
    asyncio.run(publish(partial, settings_in(folder, partial)))
    for suffix in ("-wal", "-shm"):
        Path(f"{partial}{suffix}").unlink(missing_ok=True)
    partial.rename(target)
    print(f"ready in {time.monotonic() - started:.0f} s")


SERVE = """
import asyncio, sys
from pathlib import Path
sys.path.insert(0, sys.argv[3])
from web import settings_in
from bot.metrics import Metrics
from bot.storage import Storage
from bot.web import Site, WebServer, make_app

async def main() -> None:
    database = Path(sys.argv[1])
    settings = settings_in(Path(sys.argv[2]), database)
    storage = await Storage.open(database)
    server = WebServer(("127.0.0.1", 0), make_app(Site(lambda: settings, storage), Metrics(),
                       lambda: (True, {})))
    await server.start()
    print(server.address[1], flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await server.stop()
    await storage.close()

asyncio.run(main())
"""


async def measure(base: str, paths: dict[str, list[str]]) -> dict[str, list[float]]:
    timings: dict[str, list[float]] = {kind: [] for kind in paths}
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        for path in [p for ps in paths.values() for p in ps][:WARMUP]:
            (await client.get(path)).raise_for_status()
        for kind, kind_paths in paths.items():
            for path in kind_paths:
                started = time.perf_counter()
                response = await client.get(path)
                timings[kind].append((time.perf_counter() - started) * 1000)
                response.raise_for_status()
    return timings


def report(timings: dict[str, list[float]], articles: int) -> None:
    worst = 0.0
    print(f"{'page':<10} {'n':>5} {'p50':>7} {'p95':>7} {'max':>7}   (ms)")
    for kind, values in timings.items():
        cuts = quantiles(values, n=100)
        worst = max(worst, cuts[94])
        print(f"{kind:<10} {len(values):>5} {cuts[49]:>7.1f} {cuts[94]:>7.1f} {max(values):>7.1f}")
    goal = f"goal: p95 under {GOAL_MS:.0f} ms for each page at {GOAL_ARTICLES:,} articles"
    if articles != GOAL_ARTICLES:
        print(f"{goal}: not measured (this run has {articles:,}; worst p95 {worst:.1f} ms)")
    else:
        print(f"{goal}: {'yes' if worst < GOAL_MS else 'NO'} (worst p95 {worst:.1f} ms)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=GOAL_ARTICLES)
    parser.add_argument("--source", type=Path, help="an archive made by bench/search.py")
    parser.add_argument("--requests", type=int, default=300, help="of each page kind")
    args = parser.parse_args()
    source = args.source or Path(f"/tmp/bantin-bench-search-{args.articles}.sqlite3")
    if not source.exists():
        print(f"{source} not found: run bench/search.py --articles {args.articles} first, "
              "or name an archive with --source", file=sys.stderr)  # fmt: skip
        return 2
    target = Path(f"/tmp/bantin-bench-web-{args.articles}.sqlite3")
    with tempfile.TemporaryDirectory() as folder:
        prepare(source, target, Path(folder))
        with sqlite3.connect(target) as db:
            ids = [r[0] for r in db.execute("SELECT id FROM editions ORDER BY id")]
        server = subprocess.Popen(
            [sys.executable, "-c", SERVE, str(target), folder, str(Path(__file__).parent)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert server.stdout is not None
            base = f"http://127.0.0.1:{server.stdout.readline().strip()}"
            rng = random.Random(2)
            paths = {
                "edition": [f"/ban-tin/{rng.choice(ids)}" for _ in range(args.requests)],
                "search": [
                    f"/tim?q={rng.choice(QUERIES)}&trang={rng.randint(1, 3)}"
                    for _ in range(args.requests)
                ],
                "home": ["/"] * (args.requests // 3),
                "channel": [f"/kenh/{CHAT}"] * (args.requests // 3),
            }
            timings = asyncio.run(measure(base, paths))
        finally:
            if server.stdin is not None:
                server.stdin.close()
            server.wait(30)
    print(f"\nbot.web over loopback HTTP, {args.articles:,} articles, {len(ids):,} editions:")
    report(timings, args.articles)
    return 0


if __name__ == "__main__":
    sys.exit(main())
