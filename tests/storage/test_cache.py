"""storage.cache.BlockCache: LRU order, eviction by bytes, counters, thread safety."""

from __future__ import annotations

import threading

import pytest

from storage.cache import BlockCache


def test_get_counts_hits_and_misses() -> None:
    cache = BlockCache(100)
    assert cache.get((1, 0)) is None
    cache.put((1, 0), "block", 10)
    assert cache.get((1, 0)) == "block"
    assert (cache.hits, cache.misses) == (1, 1)


def test_evicts_by_bytes_not_by_count() -> None:
    cache = BlockCache(100)
    cache.put((1, 0), "a", 40)
    cache.put((1, 1), "b", 40)
    assert len(cache) == 2
    cache.put((1, 2), "c", 40)  # 120 bytes > 100: the oldest goes
    assert (1, 0) not in cache
    assert (1, 1) in cache and (1, 2) in cache
    assert cache.used_bytes == 80
    assert cache.evictions == 1
    small = BlockCache(100)
    for i in range(50):
        small.put((1, i), i, 2)
    assert len(small) == 50  # 50 tiny entries fit where 3 large ones did not


def test_get_refreshes_recency() -> None:
    cache = BlockCache(100)
    cache.put((1, 0), "a", 40)
    cache.put((1, 1), "b", 40)
    cache.get((1, 0))
    cache.put((1, 2), "c", 40)
    assert (1, 0) in cache
    assert (1, 1) not in cache


def test_one_big_entry_evicts_several() -> None:
    cache = BlockCache(100)
    for i in range(5):
        cache.put((1, i), i, 20)
    cache.put((2, 0), "big", 90)
    assert list(cache._entries) == [(2, 0)]
    assert cache.used_bytes == 90


def test_entry_larger_than_capacity_is_not_cached() -> None:
    cache = BlockCache(100)
    cache.put((1, 0), "a", 50)
    cache.put((1, 1), "huge", 101)
    assert (1, 1) not in cache
    assert (1, 0) in cache


def test_replacing_a_key_updates_used_bytes() -> None:
    cache = BlockCache(100)
    cache.put((1, 0), "a", 60)
    cache.put((1, 0), "b", 30)
    assert cache.used_bytes == 30
    assert cache.get((1, 0)) == "b"


def test_zero_capacity_caches_nothing() -> None:
    cache = BlockCache(0)
    cache.put((1, 0), "a", 1)
    assert len(cache) == 0


def test_negative_capacity_rejected() -> None:
    with pytest.raises(ValueError):
        BlockCache(-1)


def test_evict_file_drops_only_that_file() -> None:
    cache = BlockCache(1000)
    for f in (1, 2):
        for off in (0, 4096):
            cache.put((f, off), f, 10)
    assert cache.evict_file(1) == 2
    assert cache.used_bytes == 20
    assert (2, 0) in cache and (1, 0) not in cache


def test_concurrent_use_keeps_accounting_exact() -> None:
    cache = BlockCache(5_000)
    errors: list[BaseException] = []

    def worker(seed: int) -> None:
        try:
            for i in range(3_000):
                key = (seed, i % 97)
                if cache.get(key) is None:
                    cache.put(key, i, 10 + i % 50)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(s,)) for s in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert cache.used_bytes == sum(cache._charges.values())
    assert set(cache._charges) == set(cache._entries)
    assert cache.used_bytes <= 5_000
    assert cache.hits + cache.misses == 8 * 3_000


def test_evict_files_drops_several_files_in_one_pass() -> None:
    cache = BlockCache(1000)
    for f in (1, 2, 3):
        cache.put((f, 0), f, 10)
    assert cache.evict_files({1, 3}) == 2 and cache.evict_files(set()) == 0
    assert cache.used_bytes == 10 and (2, 0) in cache
