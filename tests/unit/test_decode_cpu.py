"""The CPU video source's threading choice."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reelgpu.media.decode_cpu import PyAVVideoSource, decoder_threads


@pytest.mark.parametrize(("cores", "threads"), [(1, 1), (2, 1), (4, 1), (7, 1), (8, 2), (16, 4), (64, 16)])
def test_decoder_gets_a_quarter_of_the_cores(cores: int, threads: int) -> None:
    assert decoder_threads(cores) == threads


def test_default_counts_the_cores_this_process_may_use() -> None:
    assert decoder_threads() == max(1, len(os.sched_getaffinity(0)) // 4)


def test_source_opens_its_decoder_with_that_count(sample_30: Path) -> None:
    source = PyAVVideoSource(sample_30)
    try:
        assert source._stream.thread_count == decoder_threads()
        assert sum(1 for _ in source) == 60  # decodes the same with it
    finally:
        source.close()
    explicit = PyAVVideoSource(sample_30, threads=3)
    try:
        assert explicit._stream.thread_count == 3
        assert explicit._stream.thread_type.name == "AUTO"  # several threads: frame threads
        assert sum(1 for _ in explicit) == 60
    finally:
        explicit.close()
