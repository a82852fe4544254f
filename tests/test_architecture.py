"""Imports point one way: models ← pure stages ← I/O adapters ← orchestrators ← app."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from conftest import ROOT

LAYERS = {
    # foundations
    "bot": 0, "bot.errors": 0, "bot.models": 0, "bot.settings": 0, "bot.vietnamese": 0,
    "bot.logs": 0,
    # pure stages: no I/O, no await on the network or the database
    "bot.text": 1, "bot.summarize": 1, "bot.normalize": 1, "bot.parse": 1, "bot.digest": 1,
    "bot.extract": 1, "bot.query": 1, "bot.opml": 1, "bot.politeness": 1, "bot.cluster": 1,
    "bot.format": 1, "bot.addresses": 1, "bot.site": 1, "bot.decide": 1, "bot.topics": 1,
    # I/O adapters: each speaks to one outside thing
    "bot.fetch": 2, "bot.publish": 2,
    "bot.guard": 2,  # the connection half of fetch
    "bot.metrics": 2,  # the exported metrics
    # orchestrators
    "bot.pipeline": 3, "bot.editions": 3, "bot.jobs": 3, "bot.handlers": 3, "bot.runtime": 3,
    "bot.web": 3,  # /healthz, /metrics and the public site
    "bot.alerts": 3, "bot.readers": 3,
    # composition root and command line
    "bot.app": 4, "bot.__main__": 5,
}  # fmt: skip
# The storage package: one adapter split by what it stores. Inside it, imports point one
# way too: base (the connection and its lock) ← one store per thing stored ← Storage.
STORAGE = {
    "bot.storage.migrations": 0, "bot.storage.base": 1,
    "bot.storage.feeds": 2, "bot.storage.search": 2, "bot.storage.editions": 2,
    "bot.storage.readers": 2,
    "bot.storage.articles": 3,  # stores an article's search keys, from search
    "bot.storage.published": 3,  # the public site's search ranks as search does
    "bot.storage.polls": 4,  # a poll's articles and the feed's record, in one transaction
    "bot.storage": 5,
}  # fmt: skip
LAYERS.update(dict.fromkeys(STORAGE, 2))
# The cluster package: one pure stage split by what it does. Reading the text ← weighing
# its terms ← scoring pairs ← grouping them into stories.
CLUSTER = {
    "bot.cluster.terms": 0, "bot.cluster.weights": 1, "bot.cluster.pairs": 2, "bot.cluster": 3,
}  # fmt: skip
LAYERS.update(dict.fromkeys(CLUSTER, 1))
PACKAGES = {"bot.storage": STORAGE, "bot.cluster": CLUSTER}
HALVES = {("bot.fetch", "bot.guard")}
IO_LIBRARIES = {"httpx", "httpcore", "aiosqlite", "sqlite3", "telegram", "apscheduler", "asyncio"}
ONLY_IN = {
    "sqlite3": set(STORAGE),
    "aiosqlite": set(STORAGE),
    "feedparser": {"bot.parse"},
    "trafilatura": {"bot.extract"},
    "listparser": {"bot.opml"},
    "tomlkit": {"bot.opml"},
    "prometheus_client": {"bot.metrics"},
    "telegram": {"bot.publish", "bot.handlers", "bot.readers", "bot.app"},
}


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def module_name(path: Path) -> str:
    relative = path.relative_to(ROOT).with_suffix("")
    parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
    return ".".join(parts)


MODULES = {module_name(p): p for p in (ROOT / "bot").rglob("*.py")}


def test_every_module_has_a_layer() -> None:
    assert set(MODULES) == set(LAYERS)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_imports_point_down(name: str) -> None:
    for imported in imports_of(MODULES[name]):
        if imported in LAYERS and imported != "bot":
            assert LAYERS[imported] <= LAYERS[name], f"{name} imports {imported}"
            package = next((p for p, inside in PACKAGES.items() if imported in inside), None)
            if package is not None and name in PACKAGES[package]:
                assert PACKAGES[package][imported] < PACKAGES[package][name], (
                    f"{name} imports {imported}"
                )
            elif package is not None:
                # the rest of the bot sees the package, not how it is split
                assert imported == package, f"{name} imports {imported}"
            elif LAYERS[name] == 2 and (name, imported) not in HALVES:
                # adapters do not lean on each other
                assert LAYERS[imported] < 2, f"{name} imports {imported}"
        top = imported.split(".")[0]
        # Triggers are plain schedule arithmetic; settings use them to validate schedules.
        if LAYERS[name] <= 1 and not imported.startswith("apscheduler.triggers"):
            assert top not in IO_LIBRARIES, f"pure module {name} imports {imported}"
        if top in ONLY_IN:
            assert name in ONLY_IN[top], f"{name} imports {top}"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_every_module_says_what_it_owns(name: str) -> None:
    assert ast.get_docstring(ast.parse(MODULES[name].read_text(encoding="utf-8")))


@pytest.mark.parametrize("name", sorted(set(STORAGE) - {"bot.storage.base"}))
def test_only_storage_base_holds_the_connection(name: str) -> None:
    """The locking rule (bot/storage/base.py): the stores reach the connection only through
    the base's helpers, which take the lock, so no statement runs outside it."""
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    touched = {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and node.attr in {"_db", "_lock"}
    }
    assert not touched, f"{name} uses {touched} directly"
