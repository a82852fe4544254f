"""Where the benchmarks find the evaluation data, and a clear exit when it is absent.

The data is third-party research material kept beside the project in ../shared/data and never
copied in, so a fresh clone does not have it.
"""

from __future__ import annotations

import sys
from pathlib import Path

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
VIETNEWS = SHARED_DATA / "vietnews-dev.jsonl"
VMDS = SHARED_DATA / "vmds-dev.jsonl"

_ORIGIN = {
    VIETNEWS.name: "VietNews (github.com/ThanhChinhBK/vietnews, data/val_tokenized) as JSON lines",
    VMDS.name: "VMDS (github.com/lupanh/VietnameseMDS) as JSON lines",
}


def require(path: Path) -> Path:
    """Return `path` if it exists; otherwise explain where the file comes from and exit 2."""
    if path.is_file():
        return path
    origin = _ORIGIN.get(path.name, "the team's shared evaluation data")
    print(
        f"{path} not found. This benchmark reads {path.name}: {origin}, kept in the team's "
        f"shared folder beside the project (../shared/data/). Pass its location with --data PATH.",
        file=sys.stderr,
    )
    raise SystemExit(2)
