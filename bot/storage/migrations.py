"""The database schema, as the steps that build it: part of storage, the only SQL speaker.

`PRAGMA user_version` holds the schema version. Each step moves the schema from version N
to N+1 inside one transaction, user_version included, so a failed step leaves the database
as it was. A step is SQL, or a Python function for work SQL cannot do (Vietnamese keys).
Never edit a released step; add another.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiosqlite

from bot.errors import SchemaTooNew
from bot.vietnamese import match_key

Step = str | Callable[[aiosqlite.Connection], Awaitable[None]]

_FTS_V3 = """
    CREATE VIRTUAL TABLE articles_fts USING fts5 (
        title_fold, summary_fold, title_key, summary_key,
        content = 'articles', content_rowid = 'id',
        tokenize = 'unicode61 remove_diacritics 0'
    );
    CREATE TRIGGER articles_fts_insert AFTER INSERT ON articles BEGIN
        INSERT INTO articles_fts (rowid, title_fold, summary_fold, title_key, summary_key)
        VALUES (new.id, new.title_fold, new.summary_fold, new.title_key, new.summary_key);
    END;
    CREATE TRIGGER articles_fts_delete AFTER DELETE ON articles BEGIN
        INSERT INTO articles_fts
            (articles_fts, rowid, title_fold, summary_fold, title_key, summary_key)
        VALUES ('delete', old.id, old.title_fold, old.summary_fold, old.title_key,
            old.summary_key);
    END;
    CREATE TRIGGER articles_fts_update AFTER UPDATE OF title_fold, summary_fold, title_key,
        summary_key ON articles BEGIN
        INSERT INTO articles_fts
            (articles_fts, rowid, title_fold, summary_fold, title_key, summary_key)
        VALUES ('delete', old.id, old.title_fold, old.summary_fold, old.title_key,
            old.summary_key);
        INSERT INTO articles_fts (rowid, title_fold, summary_fold, title_key, summary_key)
        VALUES (new.id, new.title_fold, new.summary_fold, new.title_key, new.summary_key);
    END;
    INSERT INTO articles_fts (articles_fts) VALUES ('rebuild');
"""


_FTS_V6 = """
    CREATE VIRTUAL TABLE articles_fts USING fts5 (
        title_fold, summary_fold, title_key, summary_key, feed_token,
        content = 'articles', content_rowid = 'id',
        tokenize = 'unicode61 remove_diacritics 0'
    );
    CREATE TRIGGER articles_fts_insert AFTER INSERT ON articles BEGIN
        INSERT INTO articles_fts
            (rowid, title_fold, summary_fold, title_key, summary_key, feed_token)
        VALUES (new.id, new.title_fold, new.summary_fold, new.title_key, new.summary_key,
            new.feed_token);
    END;
    CREATE TRIGGER articles_fts_delete AFTER DELETE ON articles BEGIN
        INSERT INTO articles_fts
            (articles_fts, rowid, title_fold, summary_fold, title_key, summary_key, feed_token)
        VALUES ('delete', old.id, old.title_fold, old.summary_fold, old.title_key,
            old.summary_key, old.feed_token);
    END;
    CREATE TRIGGER articles_fts_update AFTER UPDATE OF title_fold, summary_fold, title_key,
        summary_key, feed_token ON articles BEGIN
        INSERT INTO articles_fts
            (articles_fts, rowid, title_fold, summary_fold, title_key, summary_key, feed_token)
        VALUES ('delete', old.id, old.title_fold, old.summary_fold, old.title_key,
            old.summary_key, old.feed_token);
        INSERT INTO articles_fts
            (rowid, title_fold, summary_fold, title_key, summary_key, feed_token)
        VALUES (new.id, new.title_fold, new.summary_fold, new.title_key, new.summary_key,
            new.feed_token);
    END;
    INSERT INTO articles_fts (articles_fts) VALUES ('rebuild');
"""


async def _v3_search_keys(db: aiosqlite.Connection) -> None:
    """Index the match key (diacritics kept, one tone convention) beside the folded form."""
    await _run_script(
        db,
        """
        DROP TRIGGER articles_fts_insert;
        DROP TRIGGER articles_fts_delete;
        DROP TRIGGER articles_fts_update;
        DROP TABLE articles_fts;
        ALTER TABLE articles ADD COLUMN title_key TEXT NOT NULL DEFAULT '';
        ALTER TABLE articles ADD COLUMN summary_key TEXT NOT NULL DEFAULT '';
        CREATE TABLE searches (
            id INTEGER PRIMARY KEY,
            query TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        """,
    )
    async with db.execute("SELECT id, title, summary FROM articles") as cursor:
        rows = [(match_key(t), match_key(s), i) for i, t, s in await cursor.fetchall()]
    await db.executemany("UPDATE articles SET title_key = ?, summary_key = ? WHERE id = ?", rows)
    await _run_script(db, _FTS_V3)


# Each entry moves the schema from version N to N+1; never edit a released one, add another.
MIGRATIONS: tuple[Step, ...] = (
    """
    CREATE TABLE feeds (
        id TEXT PRIMARY KEY,
        url TEXT NOT NULL,
        etag TEXT,
        last_modified TEXT,
        last_polled_at TEXT,
        last_success_at TEXT,
        last_error TEXT,
        consecutive_failures INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE articles (
        id INTEGER PRIMARY KEY,
        feed_id TEXT NOT NULL REFERENCES feeds(id) ON DELETE CASCADE,
        dedup_key TEXT NOT NULL,
        url TEXT,
        title TEXT NOT NULL,
        summary TEXT NOT NULL,
        published_at TEXT,
        first_seen_at TEXT NOT NULL,
        title_fold TEXT NOT NULL,
        summary_fold TEXT NOT NULL,
        UNIQUE (feed_id, dedup_key)
    );
    CREATE INDEX articles_first_seen ON articles (first_seen_at);
    CREATE VIRTUAL TABLE articles_fts USING fts5 (
        title_fold, summary_fold,
        content = 'articles', content_rowid = 'id',
        tokenize = 'unicode61 remove_diacritics 2'
    );
    CREATE TRIGGER articles_fts_insert AFTER INSERT ON articles BEGIN
        INSERT INTO articles_fts (rowid, title_fold, summary_fold)
        VALUES (new.id, new.title_fold, new.summary_fold);
    END;
    CREATE TRIGGER articles_fts_delete AFTER DELETE ON articles BEGIN
        INSERT INTO articles_fts (articles_fts, rowid, title_fold, summary_fold)
        VALUES ('delete', old.id, old.title_fold, old.summary_fold);
    END;
    CREATE TRIGGER articles_fts_update AFTER UPDATE ON articles BEGIN
        INSERT INTO articles_fts (articles_fts, rowid, title_fold, summary_fold)
        VALUES ('delete', old.id, old.title_fold, old.summary_fold);
        INSERT INTO articles_fts (rowid, title_fold, summary_fold)
        VALUES (new.id, new.title_fold, new.summary_fold);
    END;
    CREATE TABLE editions (
        id INTEGER PRIMARY KEY,
        destination TEXT NOT NULL,
        title TEXT NOT NULL,
        planned_at TEXT NOT NULL
    );
    CREATE INDEX editions_destination ON editions (destination, planned_at);
    CREATE TABLE edition_parts (
        id INTEGER PRIMARY KEY,
        edition_id INTEGER NOT NULL REFERENCES editions(id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        text TEXT NOT NULL,
        sent_at TEXT,
        message_id INTEGER,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        UNIQUE (edition_id, seq)
    );
    CREATE INDEX edition_parts_unsent ON edition_parts (edition_id) WHERE sent_at IS NULL;
    CREATE TABLE edition_articles (
        destination TEXT NOT NULL,
        article_id INTEGER NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
        part_id INTEGER NOT NULL REFERENCES edition_parts(id) ON DELETE CASCADE,
        PRIMARY KEY (destination, article_id)
    );
    """,
    # 2: the text a summary is made from (the sapo, or the article page's main text), and a
    # record of every article page fetched, so each page is fetched once at most.
    """
    ALTER TABLE articles ADD COLUMN body TEXT NOT NULL DEFAULT '';
    CREATE TABLE pages (
        url TEXT PRIMARY KEY,
        fetched_at TEXT NOT NULL,
        error TEXT
    );
    """,
    # 3: search keys with diacritics beside the folded ones; saved searches for paging.
    _v3_search_keys,
    # 4: each channel's state as Telegram reported it: active or not (and why), and the
    # chat id Telegram moved it to, if any.
    """
    CREATE TABLE channels (
        chat TEXT PRIMARY KEY,
        current_chat TEXT,
        active INTEGER NOT NULL DEFAULT 1,
        inactive_reason TEXT,
        changed_at TEXT
    );
    """,
    # 5: a part may carry a link preview (the top story, shown large above the text).
    """
    ALTER TABLE edition_parts ADD COLUMN preview_url TEXT;
    """,
    # 6: the feed as a token in the search index, so `nguon:` filters inside FTS5.
    """
    ALTER TABLE articles ADD COLUMN feed_token TEXT NOT NULL DEFAULT '';
    UPDATE articles SET feed_token = 'feed' || lower(hex(feed_id));
    DROP TRIGGER articles_fts_insert;
    DROP TRIGGER articles_fts_delete;
    DROP TRIGGER articles_fts_update;
    DROP TABLE articles_fts;
    """
    + _FTS_V6,
    # 7: when each feed is due again (and why), and where a permanent redirect led.
    """
    ALTER TABLE feeds ADD COLUMN next_check_at TEXT;
    ALTER TABLE feeds ADD COLUMN next_check_reason TEXT;
    ALTER TABLE feeds ADD COLUMN redirected_to TEXT;
    """,
    # 8: the feed's own <ttl>, kept across 304 answers (which carry no document).
    """
    ALTER TABLE feeds ADD COLUMN ttl INTEGER;
    """,
    # 9: a saved search belongs to the chat it was made in, so a button pressed (or forged)
    # elsewhere cannot read it. Older saved searches have no chat: their buttons expire.
    """
    ALTER TABLE searches ADD COLUMN chat TEXT;
    """,
    # 10: breaking news goes through the outbox as an edition of its own kind: its articles
    # are recorded like an edition's (never posted twice to a destination), and it counts
    # neither as the destination's last edition nor toward the next one's window.
    """
    ALTER TABLE editions ADD COLUMN kind TEXT NOT NULL DEFAULT 'edition';
    CREATE INDEX editions_kind ON editions (destination, kind, planned_at);
    """,
    # 11: readers' own alerts. A reader (a private chat, or a group) follows topics written
    # in the search syntax; `alerts` remembers every article of every story queued for a
    # reader (so a story never reaches them twice, across restarts too) and when it may go
    # out (quiet hours, a personal digest, the daily cap). The outbox carries the messages;
    # `alert_state` holds the last article id matched, moved in the same transaction that
    # queues its alerts, so each article is matched exactly once. Existing articles count as
    # matched: an upgrade does not alert anyone about the backlog.
    """
    CREATE TABLE readers (
        chat TEXT PRIMARY KEY,
        times TEXT NOT NULL DEFAULT '',
        quiet TEXT NOT NULL DEFAULT '22:00-06:30',
        paused INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL
    );
    CREATE TABLE topics (
        id INTEGER PRIMARY KEY,
        chat TEXT NOT NULL REFERENCES readers(chat) ON DELETE CASCADE,
        thread INTEGER,
        query TEXT NOT NULL,
        created_at TEXT NOT NULL,
        UNIQUE (chat, query)
    );
    CREATE TABLE alerts (
        chat TEXT NOT NULL REFERENCES readers(chat) ON DELETE CASCADE,
        article_id INTEGER NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
        story INTEGER NOT NULL,
        thread INTEGER,
        topic TEXT NOT NULL,
        kind TEXT NOT NULL,
        queued_at TEXT NOT NULL,
        due_at TEXT NOT NULL,
        part_id INTEGER REFERENCES edition_parts(id) ON DELETE SET NULL,
        planned INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (chat, article_id)
    );
    CREATE INDEX alerts_due ON alerts (due_at) WHERE planned = 0;
    CREATE INDEX alerts_article ON alerts (article_id);
    CREATE TABLE alert_state (
        key TEXT PRIMARY KEY,
        value INTEGER NOT NULL
    );
    INSERT INTO alert_state (key, value)
    SELECT 'matched_through', coalesce(max(id), 0) FROM articles;
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


async def migrate(db: aiosqlite.Connection, path: Path, target: int = SCHEMA_VERSION) -> None:
    """Bring the schema up to `target` (by default the latest); SchemaTooNew if it is
    already past what this code knows. Tests stop at earlier targets to build old
    databases."""
    async with db.execute("PRAGMA user_version") as cursor:
        row = await cursor.fetchone()
    version = int(row[0]) if row else 0
    if version > SCHEMA_VERSION:
        raise SchemaTooNew(
            f"{path} has schema version {version}; this Bản tin knows up to "
            f"{SCHEMA_VERSION}. Upgrade Bản tin or use another database."
        )
    for step_version in range(version + 1, target + 1):
        step = MIGRATIONS[step_version - 1]
        await db.execute("BEGIN IMMEDIATE")
        try:
            if isinstance(step, str):
                await _run_script(db, step)
            else:
                await step(db)
            # user_version is written inside the same transaction as the schema change.
            await db.execute(f"PRAGMA user_version = {step_version}")
        except BaseException:
            await db.execute("ROLLBACK")
            raise
        await db.execute("COMMIT")


async def _run_script(db: aiosqlite.Connection, script: str) -> None:
    # executescript would COMMIT first; run the statements one by one inside our transaction.
    for statement in _statements(script):
        await db.execute(statement)


def _statements(script: str) -> list[str]:
    """Split a script into statements (a trigger's BEGIN … END stays whole)."""
    statements: list[str] = []
    current = ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            if current.strip():
                statements.append(current.strip())
            current = ""
    if current.strip():
        statements.append(current.strip())
    return statements
