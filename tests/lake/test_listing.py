"""Listing a local lake (``os.scandir``): visible Parquet files only, sorted, with size and a UTC
modification time; a missing folder lists nothing; date partitions come from folder names."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from devflow.lake.storage import LakeStorage


def test_local_listing(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    files = {
        "events/date=2026-01-02/part-b.parquet": b"bb",
        "events/date=2026-01-01/part-a.parquet": b"a",
        "events/date=2026-01-01/part-c.parquet.1a2b.tmp": b"partial",  # a write in progress
        "events/date=2026-01-01/notes.txt": b"x",
        "events/stray.parquet": b"sss",
        "metrics_daily/date=2026-01-01/data.parquet": b"dddd",
    }
    for relative, content in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(content)
    storage = LakeStorage.from_url(str(root))

    listed = storage.list_parquet("events")
    assert [(f.path, f.size) for f in listed] == [
        ("events/date=2026-01-01/part-a.parquet", 1),
        ("events/date=2026-01-02/part-b.parquet", 2),
        ("events/stray.parquet", 3),
    ]
    now = dt.datetime.now(dt.UTC)
    assert all(f.mtime is not None and abs((now - f.mtime).total_seconds()) < 60 for f in listed)
    assert storage.list_parquet("quarantine") == []
    assert storage.list_partitions("events") == ["2026-01-01", "2026-01-02"]
    assert storage.list_partitions("nowhere") == []
    assert storage.exists("events/stray.parquet") and not storage.exists("events/date=2026-01-01")
