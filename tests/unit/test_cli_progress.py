"""The CLI's progress bar: drawn on a terminal only, and saying the file is still being finished
when the last frame is done (muxing and the +faststart rewrite follow)."""

from __future__ import annotations

import io
import sys

import pytest

from reelgpu.cli import ProgressBar


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_bar_ends_saying_the_file_is_being_finished(monkeypatch: pytest.MonkeyPatch) -> None:
    screen = Terminal()
    monkeypatch.setattr(sys, "stderr", screen)
    bar = ProgressBar("framing")
    bar(0, 4)
    bar(4, 4)
    assert screen.getvalue().endswith("] 4/4, finishing the file\n")


def test_no_bar_off_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    piped = io.StringIO()
    monkeypatch.setattr(sys, "stderr", piped)
    ProgressBar("framing")(4, 4)
    assert piped.getvalue() == ""
