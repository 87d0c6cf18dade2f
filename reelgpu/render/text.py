"""Text normalisation before layout: the one place every text renderer passes its text through.

Pillow's raqm layout (FriBiDi + HarfBuzz) shapes a single paragraph. A character of Unicode bidi
class B inside the text - LF, CR, U+001C..U+001E, NEL (U+0085), PARAGRAPH SEPARATOR (U+2029) -
makes ``raqm_layout()`` raise ``RuntimeError`` (found for U+2029 by the payload fuzzing; a scan
of all 1,114,112 code points through the bundled font finds exactly these seven). Any of them
can arrive in a clip name: JSON carries every code point, lone surrogates included (``"\\ud800"``).

The rule, for one-line texts (banner title and notes, captions):

- control characters (category Cc: tabs, newlines, C1 controls), LINE SEPARATOR (Zl) and
  PARAGRAPH SEPARATOR (Zp) become a space: a line break in a one-line banner reads as a space;
- lone surrogates (Cs) become U+FFFD: they are not characters, cannot be encoded as UTF-8 and
  have no glyph in any font;
- everything else, format characters (Cf) included, is kept: ZWJ/ZWNJ join emoji sequences and
  Indic conjuncts, bidi marks order mixed-direction names, and raqm lays all of them out.

The mapping is one character to one character, so a string and its normalised form have the
same length (``fit_text`` cuts the text by index).
"""

from __future__ import annotations

import unicodedata

REPLACEMENT = "\ufffd"
_TO_SPACE = frozenset({"Cc", "Zl", "Zp"})


def one_line(text: str) -> str:
    """``text`` safe for single-line layout (see the module doc); same length as ``text``."""
    if text.isprintable():  # the common case: no Cc/Zl/Zp/Cs (nor other non-printables) at all
        return text
    out = []
    for ch in text:
        category = unicodedata.category(ch)
        out.append(" " if category in _TO_SPACE else REPLACEMENT if category == "Cs" else ch)
    return "".join(out)
