"""The annotate export's burned-in banner, rasterised once per clip with Pillow.

Geometry follows the editor's ffmpeg ``drawbox``/``drawtext`` chain (origin-exports.md 5.2),
whose sizes were fixed pixels for 1080-line footage; here every pixel number is scaled by
``frame_h / 1080`` and snapped to even values so the sprite lines up with 4:2:0 chroma:

- outer box (the border): x = 0.1W - 4, y = 6, w = 0.8W + 8, h = box_h + 8, rating colour;
- inner box: x = 0.1W, y = 10, w = 0.8W, h = box_h (80 with notes, else 50), white at 95 %
  over the border colour (so the whole banner is opaque, as in the editor);
- title: 24 px, black, centred, top at y = 20; notes: first 100 characters, 16 px, #333333,
  centred, top at y = 50. Text that does not fit is shrunk (down to 60 % of its size) and then
  ellipsised with '...'.

Text is drawn with the bundled DejaVu Sans (ffmpeg's default ``Sans`` on Debian resolves to
it); characters it lacks come from a system font found through fontconfig, and characters no
font has are drawn as the bundled font's missing-glyph box. Text is made one line first
(:func:`reelgpu.render.text.one_line`). Rendering never raises on text.

:func:`render_banner` is cached (``lru_cache``) on its arguments and returns a read-only
array, so the export may call it once per frame or once per clip at the same cost.
"""

from __future__ import annotations

import bisect
import math
import os
import shutil
import struct
import subprocess
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..ops.sprite import RenderedSprite
from .text import one_line

__all__ = ["RATING_COLORS", "RATING_NOTATION", "RATING_WORDS", "RenderedSprite", "display_name",
           "display_title", "render_banner"]

FONT_DIR = Path(__file__).with_name("fonts")
BUNDLED_FONT = FONT_DIR / "DejaVuSans.ttf"

RATING_NOTATION = {1: "??", 2: "?", 3: "!?", 4: "!", 5: "!!"}
RATING_WORDS = {1: "Blunder", 2: "Mistake", 3: "Interesting", 4: "Good", 5: "Brilliant"}
RATING_COLORS = {1: "#C62828", 2: "#F9A825", 3: "#1565C0", 4: "#2E7D32", 5: "#66BB6A"}
TITLE_RGB = (0, 0, 0)
NOTES_RGB = (0x33, 0x33, 0x33)
NOTES_MAX_CHARS = 100
ELLIPSIS = "\u2026"
_MIN_SHRINK = 0.6  # shrink text to at most 60 % of its size before ellipsising
_MIN_FONT_PX = 6

# Fonts worth trying for characters DejaVu lacks, before asking fontconfig (Debian/Ubuntu, RHEL, macOS).
_KNOWN_FALLBACKS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf",
    "/System/Library/Fonts/PingFang.ttc",
    "/System/Library/Fonts/Supplemental/Arial Unicode.ttf",
)


# --------------------------------------------------------------------------- titles
def _rating(rating: int) -> int:
    """Ratings outside 1..5 fall back to 3, as the editor's constants do."""
    return rating if rating in RATING_NOTATION else 3


def display_name(name: str, rating: int, tags: Sequence[str], index: int) -> str:
    """The clip's name, or one made from its rating and tags when empty (chapter titles).

    ``"<RatingWord> <tag0> and <tag1>"``, ``"<RatingWord> <tag0>"`` or ``"Clip <index + 1>"``.
    """
    name = (name or "").strip()
    if name:
        return name
    word = RATING_WORDS[_rating(rating)]
    tags = [t for t in tags if t and t.strip()]
    if len(tags) >= 2:
        return f"{word} {tags[0].strip()} and {tags[1].strip()}"
    if len(tags) == 1:
        return f"{word} {tags[0].strip()}"
    return f"Clip {index + 1}"


def display_title(name: str, rating: int, tags: Sequence[str], index: int) -> str:
    """The banner title: rating notation, two spaces, then :func:`display_name`."""
    return f"{RATING_NOTATION[_rating(rating)]}  {display_name(name, rating, tags, index)}"


def _clean(text: str) -> str:
    """One line per text (render/text.py: line breaks and controls become spaces), trimmed."""
    return one_line(text).strip()


# --------------------------------------------------------------------------- font coverage
@lru_cache(maxsize=32)
def _cmap_ranges(path: str, index: int = 0) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Sorted (starts, ends) of the code point ranges a font maps to a real glyph.

    A minimal reader of the TrueType/OpenType ``cmap`` (formats 4 and 12, TTC collections), so
    glyph coverage is known without rendering and without a fontTools dependency. Unreadable
    fonts cover nothing.
    """
    try:
        data = Path(path).read_bytes()
        base = 0
        if data[:4] == b"ttcf":
            (count,) = struct.unpack_from(">I", data, 8)
            base = struct.unpack_from(">I", data, 12 + 4 * min(index, count - 1))[0]
        (num_tables,) = struct.unpack_from(">H", data, base + 4)
        cmap = None
        for i in range(num_tables):
            tag, _, offset, _ = struct.unpack_from(">4sIII", data, base + 12 + 16 * i)
            if tag == b"cmap":
                cmap = offset
        if cmap is None:
            return (), ()
        (n_sub,) = struct.unpack_from(">H", data, cmap + 2)
        ranges: list[tuple[int, int]] = []
        for i in range(n_sub):
            platform, encoding, offset = struct.unpack_from(">HHI", data, cmap + 4 + 8 * i)
            if (platform, encoding) not in {(3, 1), (3, 10), (0, 3), (0, 4), (0, 6)}:
                continue
            sub = cmap + offset
            (fmt,) = struct.unpack_from(">H", data, sub)
            if fmt == 12:
                (n_groups,) = struct.unpack_from(">I", data, sub + 12)
                for g in range(n_groups):
                    start, end, glyph = struct.unpack_from(">III", data, sub + 16 + 12 * g)
                    if glyph or start < end:
                        ranges.append((start + (glyph == 0), end))
            elif fmt == 4:
                ranges.extend(_format4_ranges(data, sub))
        return _merge(ranges)
    except (OSError, struct.error, IndexError):
        return (), ()


def _format4_ranges(data: bytes, sub: int) -> list[tuple[int, int]]:
    (seg_x2,) = struct.unpack_from(">H", data, sub + 6)
    seg = seg_x2 // 2
    ends = struct.unpack_from(f">{seg}H", data, sub + 14)
    starts = struct.unpack_from(f">{seg}H", data, sub + 16 + seg_x2)
    deltas = struct.unpack_from(f">{seg}h", data, sub + 16 + 2 * seg_x2)
    ro_at = sub + 16 + 3 * seg_x2
    offsets = struct.unpack_from(f">{seg}H", data, ro_at)
    out: list[tuple[int, int]] = []
    for i in range(seg):
        start, end = starts[i], ends[i]
        if start == 0xFFFF:
            continue
        if offsets[i] == 0:  # glyph = (c + delta) mod 65536; 0 means missing
            out.extend(_split_at_zero(start, end, lambda c, d=deltas[i]: (c + d) & 0xFFFF))
            continue
        for c in range(start, end + 1):
            at = ro_at + 2 * i + offsets[i] + 2 * (c - start)
            (glyph,) = struct.unpack_from(">H", data, at)
            if glyph and (glyph + deltas[i]) & 0xFFFF:
                out.append((c, c))
    return out


def _split_at_zero(start: int, end: int, glyph_of: Callable[[int], int]) -> list[tuple[int, int]]:
    """[start, end] without the one code point whose glyph is 0 (a delta segment has at most one)."""
    zero = [c for c in range(start, end + 1) if glyph_of(c) == 0][:1]
    if not zero:
        return [(start, end)]
    z = zero[0]
    return [r for r in ((start, z - 1), (z + 1, end)) if r[0] <= r[1]]


def _merge(ranges: list[tuple[int, int]]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    ranges.sort()
    merged: list[list[int]] = []
    for a, b in ranges:
        if merged and a <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return tuple(r[0] for r in merged), tuple(r[1] for r in merged)


def font_has(path: str, char: str, index: int = 0) -> bool:
    """Whether the font at ``path`` maps ``char`` (its first code point) to a glyph."""
    starts, ends = _cmap_ranges(path, index)
    cp = ord(char[0])
    i = bisect.bisect_right(starts, cp) - 1
    return i >= 0 and cp <= ends[i]


_found_fallbacks: list[tuple[str, int]] = []  # fonts that already supplied a glyph, tried first
_blocks_without_font: set[int] = set()  # 256-code-point blocks fontconfig could not cover


def _fc_match(char: str) -> tuple[str, int] | None:
    exe = shutil.which("fc-match")
    if exe is None:
        return None
    try:
        res = subprocess.run([exe, "-f", "%{file}\n%{index}", f":charset={ord(char):x}"],
                             capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    lines = res.stdout.splitlines()
    if res.returncode != 0 or not lines or not lines[0]:
        return None
    try:
        return lines[0], int(lines[1]) if len(lines) > 1 and lines[1] else 0
    except ValueError:
        return lines[0], 0


@lru_cache(maxsize=8192)
def fallback_font(char: str) -> tuple[str, int] | None:
    """(path, face index) of a system font with a glyph for ``char``, or None.

    Tries fonts that already helped, then well-known CJK/Unicode fonts, then ``fc-match
    :charset=<cp>`` (verified against the font's cmap: fontconfig returns its best match even
    when that lacks the character). A block fontconfig could not cover is not asked again, so
    text in a script no installed font has costs one subprocess, not one per character.
    """
    for path, idx in _found_fallbacks:
        if font_has(path, char, idx):
            return path, idx
    candidates = [(p, 0) for p in _KNOWN_FALLBACKS if os.path.exists(p)]
    block = ord(char) >> 8
    if block not in _blocks_without_font:
        match = _fc_match(char)
        if match is not None:
            candidates.append(match)
    for path, idx in candidates:
        if path != str(BUNDLED_FONT) and font_has(path, char, idx):
            if (path, idx) not in _found_fallbacks:
                _found_fallbacks.append((path, idx))
            return path, idx
    _blocks_without_font.add(block)
    return None


@lru_cache(maxsize=64)
def _font(path: str, index: int, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size=size, index=index)


def _runs(text: str) -> list[tuple[tuple[str, int], str]]:
    """Split ``text`` into runs drawn with one font each: the bundled font wherever it has the
    glyph (and for characters no font has: its missing-glyph box), a fallback elsewhere.
    Spaces and combining marks stay with the run they are in, to keep shaping intact."""
    bundled = (str(BUNDLED_FONT), 0)
    runs: list[tuple[tuple[str, int], str]] = []
    # Every measure and draw goes through here, so no caller can hand raqm a paragraph break.
    for ch in one_line(text):
        if runs and (ch.isspace() or unicodedata.category(ch).startswith("M")):
            font = runs[-1][0]
        elif font_has(bundled[0], ch):
            font = bundled
        else:
            font = fallback_font(ch) or bundled
        if runs and runs[-1][0] == font:
            runs[-1] = (font, runs[-1][1] + ch)
        else:
            runs.append((font, ch))
    return runs


def text_width(text: str, size: int) -> float:
    """Advance width in px of ``text`` at ``size`` px, with font fallback."""
    return sum(_font(p, i, size).getlength(run) for (p, i), run in _runs(text))


def draw_text(draw: ImageDraw.ImageDraw, x: float, top: float, text: str, size: int,
              fill: tuple[int, int, int]) -> None:
    """Draw ``text`` with its left edge at ``x`` and the bundled font's ascender at ``top``;
    runs in other fonts share the bundled font's baseline."""
    baseline = top + _font(str(BUNDLED_FONT), 0, size).getmetrics()[0]
    for (path, idx), run in _runs(text):
        font = _font(path, idx, size)
        draw.text((x, baseline), run, font=font, fill=fill, anchor="ls")
        x += font.getlength(run)


def fit_text(text: str, size: int, max_width: float) -> tuple[str, int]:
    """Shrink ``size`` (down to 60 %) until ``text`` fits ``max_width``; if it still does not,
    cut it and end it with an ellipsis. Returns (text, size)."""
    min_size = max(_MIN_FONT_PX, min(size, math.ceil(size * _MIN_SHRINK)))
    width = text_width(text, size)
    if width <= max_width:
        return text, size
    size = max(min_size, min(size - 1, int(size * max_width / width)))
    while size > min_size and text_width(text, size) > max_width:
        size -= 1
    if text_width(text, size) <= max_width:
        return text, size
    lo, hi = 0, len(text)  # longest prefix whose "prefix..." fits
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if text_width(text[:mid].rstrip() + ELLIPSIS, size) <= max_width:
            lo = mid
        else:
            hi = mid - 1
    return (text[:lo].rstrip() + ELLIPSIS if lo else ELLIPSIS), size


# --------------------------------------------------------------------------- banner
@dataclass(frozen=True)
class BannerGeometry:
    """Frame-pixel geometry of a banner (all even except the text sizes)."""

    outer_x: int
    outer_y: int
    outer_w: int
    outer_h: int
    border: int
    title_top: int
    title_size: int
    notes_top: int
    notes_size: int

    @property
    def inner(self) -> tuple[int, int, int, int]:
        """(x, y, w, h) of the white box."""
        b = self.border
        return self.outer_x + b, self.outer_y + b, self.outer_w - 2 * b, self.outer_h - 2 * b


def _even(value: float) -> int:
    return int(math.floor(value / 2.0 + 0.5)) * 2


def banner_geometry(frame_w: int, frame_h: int, has_notes: bool) -> BannerGeometry:
    """The editor's pixel numbers (for 1080 lines) scaled by ``frame_h / 1080``, snapped even."""
    s = frame_h / 1080.0
    border = 2 * max(1, round(2 * s))
    inner_w = max(2, _even(0.8 * frame_w))
    inner_x = _even((frame_w - inner_w) / 2.0)
    outer_y = max(0, _even(6 * s))
    inner_h = max(2, _even((80 if has_notes else 50) * s))
    inner_y = outer_y + border
    return BannerGeometry(
        outer_x=inner_x - border,
        outer_y=outer_y,
        outer_w=inner_w + 2 * border,
        outer_h=inner_h + 2 * border,
        border=border,
        title_top=inner_y + round(10 * s),
        title_size=max(_MIN_FONT_PX, round(24 * s)),
        notes_top=inner_y + round(40 * s),
        notes_size=max(_MIN_FONT_PX, round(16 * s)),
    )


def _hex_rgb(color: str) -> tuple[int, int, int]:
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


def render_banner(*, title: str, notes: str, rating: int, frame_w: int, frame_h: int) -> RenderedSprite:
    """The banner as an opaque RGBA sprite sized to its outer box, placed in frame pixels.

    ``title`` is drawn as given (build it with :func:`display_title`); ``notes`` is cut to its
    first 100 characters. Cached; the returned array is read-only.
    """
    return _render_banner(_clean(title), _clean(notes[:NOTES_MAX_CHARS]), _rating(rating),
                          int(frame_w), int(frame_h))


# Small: a 4K banner is ~2 MB, and the annotate export renders one clip's banner at a time.
@lru_cache(maxsize=16)
def _render_banner(title: str, notes: str, rating: int, frame_w: int, frame_h: int) -> RenderedSprite:
    g = banner_geometry(frame_w, frame_h, bool(notes))
    colour = _hex_rgb(RATING_COLORS[rating])
    img = Image.new("RGBA", (g.outer_w, g.outer_h), (*colour, 255))
    # White at 95 % over the (opaque) border colour, as drawbox color=white@0.95 composites it.
    inner_rgb = tuple(int(math.floor(255 * 0.95 + c * 0.05 + 0.5)) for c in colour)
    ix, iy, iw, ih = g.inner
    draw = ImageDraw.Draw(img)
    draw.rectangle((ix - g.outer_x, iy - g.outer_y, ix - g.outer_x + iw - 1, iy - g.outer_y + ih - 1),
                   fill=(*inner_rgb, 255))
    pad = max(2, round(8 * frame_h / 1080.0))
    max_w = iw - 2 * pad
    centre_x = frame_w / 2.0 - g.outer_x
    for text, size, top, rgb in ((title, g.title_size, g.title_top, TITLE_RGB),
                                 (notes, g.notes_size, g.notes_top, NOTES_RGB)):
        if not text:
            continue
        fitted, fsize = fit_text(text, size, max_w)
        # A shrunk line keeps the vertical centre of the full-size one.
        y = top - g.outer_y + (size - fsize) / 2.0
        draw_text(draw, centre_x - text_width(fitted, fsize) / 2.0, y, fitted, fsize, rgb)
    rgba = np.asarray(img, dtype=np.uint8).copy()
    rgba.setflags(write=False)
    return RenderedSprite(rgba=rgba, x=g.outer_x, y=g.outer_y)
