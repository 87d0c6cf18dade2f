"""The annotate banner: geometry scaled from the editor's numbers, colours, text, titles, fonts."""

from __future__ import annotations

import os

import numpy as np
import pytest

from reelgpu.render import banner
from reelgpu.render.banner import (
    RATING_COLORS,
    banner_geometry,
    display_name,
    display_title,
    fit_text,
    font_has,
    render_banner,
    text_width,
)
from reelgpu.render.text import one_line


def _rgb(color: str) -> tuple[int, int, int]:
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


def _dark_columns(rgba: np.ndarray, y0: int, y1: int, below: int = 100) -> np.ndarray:
    """Columns holding any "ink" (dark text pixels) between rows y0 and y1."""
    return np.flatnonzero((rgba[y0:y1, :, :3].max(axis=2) < below).any(axis=0))


# --------------------------------------------------------------------------- geometry
def test_geometry_at_1080_is_the_editors() -> None:
    for notes, box_h in ((True, 80), (False, 50)):
        g = banner_geometry(1920, 1080, notes)
        assert (g.outer_x, g.outer_y, g.outer_w, g.outer_h) == (192 - 4, 6, 1536 + 8, box_h + 8)
        assert g.inner == (192, 10, 1536, box_h)
        assert (g.title_top, g.title_size, g.notes_top, g.notes_size) == (20, 24, 50, 16)


@pytest.mark.parametrize(("w", "h"), [(1080, 1920), (3840, 2160), (1280, 720), (320, 180), (1918, 1078)])
def test_geometry_scales_with_height_and_stays_even(w: int, h: int) -> None:
    s = h / 1080
    sprite = render_banner(title="!  Goal", notes="a note", rating=4, frame_w=w, frame_h=h)
    ph, pw = sprite.rgba.shape[:2]
    assert sprite.x % 2 == 0 and sprite.y % 2 == 0 and pw % 2 == 0 and ph % 2 == 0
    assert abs(pw - (0.8 * w + 8 * s)) <= 4
    assert abs(ph - 88 * s) <= 4
    assert abs(sprite.y - 6 * s) <= 2
    assert abs((sprite.x + pw / 2) - w / 2) <= 1  # centred
    assert sprite.x >= 0 and sprite.x + pw <= w and sprite.y + ph <= h


def test_no_notes_makes_a_shorter_box() -> None:
    with_notes = render_banner(title="!  A", notes="n", rating=4, frame_w=1920, frame_h=1080)
    without = render_banner(title="!  A", notes="", rating=4, frame_w=1920, frame_h=1080)
    assert with_notes.rgba.shape[0] == 88 and without.rgba.shape[0] == 58


# --------------------------------------------------------------------------- colours and text
@pytest.mark.parametrize("rating", [1, 2, 3, 4, 5])
def test_border_has_the_rating_colour(rating: int) -> None:
    sprite = render_banner(title="x", notes="", rating=rating, frame_w=1280, frame_h=720)
    rgba = sprite.rgba
    colour = _rgb(RATING_COLORS[rating])
    assert tuple(rgba[0, 0, :3]) == colour and tuple(rgba[-1, -1, :3]) == colour
    assert tuple(rgba[rgba.shape[0] // 2, 0, :3]) == colour
    assert (rgba[..., 3] == 255).all()  # opaque, as the editor's boxes are
    inner = rgba[rgba.shape[0] - 5, rgba.shape[1] // 2, :3]  # inside the white box, below the text
    expected = [round(255 * 0.95 + c * 0.05) for c in colour]
    assert np.abs(inner.astype(int) - expected).max() <= 1


def test_title_black_centred_and_notes_grey() -> None:
    sprite = render_banner(title="!!  Müller – Zoë", notes="Great finish", rating=5, frame_w=1920, frame_h=1080)
    rgba = sprite.rgba
    title_cols = _dark_columns(rgba, 14, 44, below=60)
    assert title_cols.size > 0
    centre = (title_cols[0] + title_cols[-1]) / 2 + sprite.x
    assert abs(centre - 960) < 6
    assert (rgba[14:44, :, :3].min(axis=2) < 20).any()  # black ink
    notes = rgba[44:72, :, :3]
    assert ((np.abs(notes.astype(int) - 0x33) <= 6).all(axis=2)).any()  # #333333 ink
    assert not (notes.max(axis=2) < 20).any()  # ...not black


@pytest.mark.parametrize("title", ["!!  Müller – Zoë", "!?  田中 陽斗", "?  Ĳsselmeer ŁÓDŹ Ærø", "!  ☃ 🦄 \u202e rtl",
                                   "!  a\nb\tc", "!  ' : [ ] ; \\ %"])
def test_any_unicode_title_renders(title: str) -> None:
    sprite = render_banner(title=title, notes=title * 3, rating=3, frame_w=1280, frame_h=720)
    assert sprite.rgba.dtype == np.uint8 and sprite.rgba.shape[2] == 4
    assert _dark_columns(sprite.rgba, 0, sprite.rgba.shape[0]).size > 0  # something was drawn


# Each breaks raqm_layout() (bidi class B) or is no character at all (a lone surrogate).
BREAKERS = ["\u2029", "\u2028", "\x85", "\x1c", "\x1d", "\x1e", "\r", "\n", "\r\n", "\x00", "\ud800"]


@pytest.mark.parametrize("breaker", BREAKERS, ids=[f"U+{ord(b[0]):04X}" for b in BREAKERS])
def test_separators_and_controls_render_like_spaces(breaker: str) -> None:
    """U+2029 in a clip name made Pillow's raqm layout raise (-> INTERNAL): text is made one line
    first, separators and controls as spaces, lone surrogates as U+FFFD."""
    expected = "\ufffd" if breaker == "\ud800" else " " * len(breaker)
    got = render_banner(title=f"!  a{breaker}b", notes=f"n{breaker}", rating=2, frame_w=640, frame_h=360)
    want = render_banner(title=f"!  a{expected}b", notes=f"n{expected}".strip(), rating=2, frame_w=640, frame_h=360)
    assert np.array_equal(got.rgba, want.rgba)


def test_measuring_and_drawing_normalise_too() -> None:
    """``text_width``/``draw_text`` are public (the demo draws captions with them): they go
    through the same normalisation, not only ``render_banner``."""
    assert text_width("a\u2029b", 20) == text_width("a b", 20)
    assert fit_text("a\u2029b" * 40, 20, 100)[0].endswith("…")


def test_one_line_keeps_format_characters_and_length() -> None:
    kept = "👨\u200d👩\u200d👧 \u200fשלום\u202e x\u00a0y"  # ZWJ sequence, bidi marks, no-break space
    assert one_line(kept) == kept
    mixed = "a\u2029b\u2028c\td\ud800"
    assert one_line(mixed) == "a b c d\ufffd" and len(one_line(mixed)) == len(mixed)


def test_accented_letters_use_the_bundled_glyphs() -> None:
    plain = render_banner(title="!  Muller Zoe", notes="", rating=3, frame_w=1920, frame_h=1080)
    accented = render_banner(title="!  Müller Zoë", notes="", rating=3, frame_w=1920, frame_h=1080)
    assert not np.array_equal(plain.rgba, accented.rgba)
    assert font_has(str(banner.BUNDLED_FONT), "ü") and font_has(str(banner.BUNDLED_FONT), "–")
    assert not font_has(str(banner.BUNDLED_FONT), "田")


@pytest.mark.parametrize(("w", "h"), [(1920, 1080), (1080, 1920), (640, 360)])
def test_long_title_fits_inside_the_box(w: int, h: int) -> None:
    title = "!!  " + "Extraordinarily long player name with a story " * 6
    sprite = render_banner(title=title, notes="n" * 400, rating=5, frame_w=w, frame_h=h)
    g = banner_geometry(w, h, True)
    ix, _, iw, _ = g.inner
    cols = _dark_columns(sprite.rgba, 0, sprite.rgba.shape[0]) + sprite.x
    assert cols[0] >= ix and cols[-1] < ix + iw


def test_fit_text_shrinks_then_ellipsises() -> None:
    text = "Zlatan Ibrahimović"
    assert fit_text(text, 24, 10_000) == (text, 24)
    width24 = text_width(text, 24)
    fitted, size = fit_text(text, 24, width24 * 0.85)  # shrinking is enough
    assert fitted == text and 14 <= size < 24 and text_width(fitted, size) <= width24 * 0.85
    fitted, size = fit_text(text * 5, 24, width24)  # needs the ellipsis too
    assert fitted.endswith("…") and size == 15 and text_width(fitted, size) <= width24


def test_notes_cut_to_100_characters() -> None:
    a = render_banner(title="t", notes="x" * 100, rating=3, frame_w=3840, frame_h=1080)
    b = render_banner(title="t", notes="x" * 100 + "EXTRA", rating=3, frame_w=3840, frame_h=1080)
    assert np.array_equal(a.rgba, b.rgba)


def test_cached_and_read_only() -> None:
    a = render_banner(title="t", notes="", rating=3, frame_w=640, frame_h=360)
    b = render_banner(title="t", notes="", rating=3, frame_w=640, frame_h=360)
    assert a is b
    assert not a.rgba.flags.writeable


# --------------------------------------------------------------------------- font fallback
def test_fallback_font_is_used_for_missing_glyphs(monkeypatch: pytest.MonkeyPatch) -> None:
    """A character the bundled font lacks is drawn with a font that has it (here: a DejaVu
    Mono glyph the Sans lacks, via a stubbed fontconfig), in its own run."""
    mono = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf"
    char = "\u2312"  # ARC: in DejaVu Sans Mono, not in DejaVu Sans
    if not os.path.exists(mono) or not font_has(mono, char) or font_has(str(banner.BUNDLED_FONT), char):
        pytest.skip("needs DejaVu Sans Mono (fonts-dejavu-core) with U+2312")
    monkeypatch.setattr(banner, "_fc_match", lambda ch: (mono, 0))
    monkeypatch.setattr(banner, "_KNOWN_FALLBACKS", ())
    monkeypatch.setattr(banner, "_found_fallbacks", [])
    monkeypatch.setattr(banner, "_blocks_without_font", set())
    banner.fallback_font.cache_clear()
    try:
        runs = banner._runs(f"a {char} b")
        assert [r[1] for r in runs] == ["a ", f"{char} ", "b"]
        assert runs[1][0] == (mono, 0) and runs[0][0] == runs[2][0] == (str(banner.BUNDLED_FONT), 0)
    finally:
        banner.fallback_font.cache_clear()


def test_no_font_for_a_character_draws_a_box_without_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(banner, "_fc_match", lambda ch: None)
    monkeypatch.setattr(banner, "_KNOWN_FALLBACKS", ())
    monkeypatch.setattr(banner, "_found_fallbacks", [])
    banner.fallback_font.cache_clear()
    try:
        assert banner.fallback_font("\U000f0000") is None  # private use: no font has it
        assert text_width("\U000f0000", 24) > 0  # the bundled font's missing-glyph box
        sprite = render_banner(title="\U000f0000\U000f0001", notes="", rating=3, frame_w=640, frame_h=360)
        assert _dark_columns(sprite.rgba, 0, sprite.rgba.shape[0]).size > 0
    finally:
        banner.fallback_font.cache_clear()


def test_cjk_uses_a_system_font_when_one_exists() -> None:
    found = banner.fallback_font("田")
    if found is None:
        pytest.skip("no CJK font installed (e.g. fonts-noto-cjk); CJK draws as boxes here")
    assert font_has(found[0], "田", found[1])
    assert banner._runs("田中")[0][0] == found


# --------------------------------------------------------------------------- titles
@pytest.mark.parametrize(
    ("name", "rating", "tags", "index", "expected"),
    [
        ("Goal", 5, ["x"], 0, "!!  Goal"),
        ("  Save  ", 4, [], 0, "!  Save"),
        ("", 3, ["Pass", "Dribble", "Shot"], 0, "!?  Interesting Pass and Dribble"),
        ("", 2, ["Tackle"], 0, "?  Mistake Tackle"),
        ("", 1, [], 6, "??  Clip 7"),
        ("", 5, [], 0, "!!  Clip 1"),
        ("", 4, ["Cross"], 2, "!  Good Cross"),
    ],
)
def test_display_title(name: str, rating: int, tags: list[str], index: int, expected: str) -> None:
    assert display_title(name, rating, tags, index) == expected
    assert display_name(name, rating, tags, index) == expected.split("  ", 1)[1]
