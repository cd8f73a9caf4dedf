"""Shared fixtures for the storage tests: small engines so flushes and compactions happen."""

from __future__ import annotations

import pytest

import storage


def small_options(**overrides) -> storage.Options:
    """Tiny memtable/levels: a few thousand keys exercise every flush and compaction path."""
    base = dict(
        fsync="no",
        memtable_bytes=16 * 1024,
        target_file_bytes=16 * 1024,
        level1_bytes=64 * 1024,
        level_multiplier=4,
        block_size=1024,
        block_cache_bytes=256 * 1024,
    )
    base.update(overrides)
    return storage.Options(**base)


@pytest.fixture
def make_options():
    """The small_options factory, as a fixture (test modules are not a package)."""
    return small_options


@pytest.fixture
def db_path(tmp_path):
    return str(tmp_path / "db")


@pytest.fixture
def open_db(db_path):
    """open_db(**options) -> Engine; every engine opened is closed at teardown."""
    opened = []

    def _open(**overrides):
        db = storage.open(db_path, small_options(**overrides))
        opened.append(db)
        return db

    yield _open
    for db in opened:
        db.close()
