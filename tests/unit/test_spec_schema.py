"""``reelgpu schema NAME`` accepts what the exports accept: the docs' own examples, camelCase and
snake_case keys, ``trimRange`` as a list and the framing shorthand; and it refuses what they
refuse as to keys. jsonschema is the outside validator (a schema is only as good as what a
standard validator makes of it)."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic.alias_generators import to_camel

from reelgpu import InvalidSpec
from reelgpu.specs import json_schema, parse_spec

DOCS = Path(__file__).resolve().parents[2] / "docs"
KF = {"time": 0, "x": 1, "y": 2, "width": 30, "height": 40}
HKF = {"time": 0, "x": 5, "y": 5, "radius_x": 3, "radius_y": 4, "stroke_opacity": 0.5, "fill_opacity": 0.1}


def schema_errors(kind: str, params: Any) -> list[str]:
    validator = jsonschema.Draft202012Validator(json_schema(kind))
    return [e.message for e in validator.iter_errors(params)]


def parses(kind: str, params: Any) -> bool:
    try:
        parse_spec(kind, params)
    except InvalidSpec:
        return False
    return True


def test_schemas_are_valid_json_schema() -> None:
    for kind in ("framing", "overlay", "annotate"):
        jsonschema.Draft202012Validator.check_schema(json_schema(kind))


@pytest.mark.parametrize("kind", ["framing", "overlay", "annotate"])
def test_the_docs_example_is_valid_under_the_schema(kind: str) -> None:
    block = re.search(r"```json\n(.*?)```", (DOCS / f"{kind}.md").read_text(), re.S)
    example = json.loads(block.group(1))
    assert parses(kind, example)
    assert schema_errors(kind, example) == []


CASES: list[tuple[str, str, Any]] = [
    # (export, why, params): schema and parse_spec must agree on each
    ("framing", "the README's shorthand", {"keyframes": [KF], "segment_data": {"trim_start": 0.5}}),
    ("framing", "shorthand in camelCase", {"keyframes": [KF], "segmentData": {"trimRange": [0.5, 2]}, "fps": 30}),
    ("framing", "shorthand with a clips-only key", {"keyframes": [KF], "sourceKey": "a.mp4"}),
    ("framing", "shorthand and clips", {"keyframes": [KF], "clips": [{}]}),
    ("framing", "trimRange as an object", {"clips": [{"segment_data": {"trim_range": {"start": 1, "end": 2}}}]}),
    ("framing", "trimRange of three", {"clips": [{"segment_data": {"trimRange": [1, 2, 3]}}]}),
    ("framing", "a keyframe key misspelt", {"clips": [{"keyframes": [{**KF, "widht": 3}]}]}),
    ("framing", "no clips", {"fps": 30}),
    ("overlay", "camelCase radii", {"highlightRegions": [{"startTime": 0, "endTime": 1, "keyframes": [
        {"time": 0, "x": 1, "y": 1, "radiusX": 2, "radiusY": 2}]}]}),
    ("overlay", "snake_case radii", {"highlight_regions": [{"start_time": 0, "end_time": 1, "keyframes": [HKF]}]}),
    ("overlay", "a radius missing", {"highlight_regions": [{"start_time": 0, "end_time": 1, "keyframes": [
        {"time": 0, "x": 1, "y": 1, "radiusX": 2}]}]}),
    ("overlay", "a key in both spellings", {"highlight_regions": [{"start_time": 0, "startTime": 0, "end_time": 1}]}),
    ("annotate", "camelCase", {"inputKeys": {"1": "a.mp4"}, "clips": [{"startTime": 1, "endTime": 2,
                                                                        "videoSequence": 1}], "minRating": 3}),
    ("annotate", "start in both spellings", {"clips": [{"start_time": 1, "startTime": 1, "end_time": 2}]}),
    ("annotate", "start missing", {"clips": [{"end_time": 2}]}),
    ("annotate", "an unknown key", {"clips": [{"start_time": 1, "end_time": 2, "colour": "red"}]}),
    # JSON's types as they are, in both (pydantic's lax mode took "1" for 1 and "yes" for true)
    ("framing", "a number in a string", {"keyframes": [{**KF, "x": "1"}]}),
    ("framing", "a boolean in a string", {"include_audio": "yes"}),
    ("framing", "trimRange of strings", {"segment_data": {"trimRange": ["1", "2"]}}),
    ("framing", "fps true", {"fps": True}),
    ("framing", "fps as a string", {"fps": "30000/1001"}),
    ("framing", "an int where a float goes", {"keyframes": [{**KF, "x": 1}], "upscale_factor": 2}),
    ("annotate", "video_sequence true", {"clips": [{"start_time": 1, "end_time": 2, "video_sequence": True}]}),
]


@pytest.mark.parametrize(("kind", "why", "params"), CASES, ids=[c[1] for c in CASES])
def test_schema_and_parser_agree(kind: str, why: str, params: Any) -> None:
    assert (schema_errors(kind, params) == []) == parses(kind, params), why


def respelt(value: Any, rnd: random.Random) -> Any:
    """``value`` with each key in snake_case or camelCase at random (``meta`` left as it is)."""
    if isinstance(value, list):
        return [respelt(v, rnd) for v in value]
    if not isinstance(value, dict):
        return value
    return {(to_camel(k) if rnd.random() < 0.5 else k): (v if k == "meta" else respelt(v, rnd))
            for k, v in value.items()}


FULL = {
    "framing": {"clips": [{"source_key": "b.mp4", "source_start_time": 1, "keyframes": [KF],
                           "segment_data": {"trim_range": [0.5, 4], "segments": [{"start": 1, "end": 2, "speed": 0.5}]}}],
                "target_width": 100, "target_height": 200, "upscale_factor": 2, "include_audio": False,
                "transition": {"type": "fade", "duration": 0.5}, "encode": {"audio_bitrate": "128k"},
                "meta": {"any_key": 1}},
    "overlay": {"highlight_regions": [{"start_time": 0, "end_time": 1, "video_width": 10, "video_height": 10,
                                       "auto_generated": True, "keyframes": [HKF]}],
                "effect_type": "brightness_boost", "highlight_color": "none",
                "overlay_settings": {"highlight_shape": "ground", "stroke_width": 3, "fill_enabled": True,
                                     "fill_opacity": 0.2, "dim_strength": 0.3},
                "text_layers": [{"start_time": 0, "end_time": 1, "png_key": "t.png"}]},
    "annotate": {"clips": [{"start_time": 1, "end_time": 2, "video_sequence": 2, "tags": ["Goal"]}],
                 "input_keys": {"2": "b.mp4"}, "min_rating": 3, "mode": "clips", "include_audio": False},
}


@settings(max_examples=60, deadline=None)
@given(kind=st.sampled_from(sorted(FULL)), seed=st.integers(0, 2**32 - 1))
def test_any_mix_of_spellings_is_valid_under_both(kind: str, seed: int) -> None:
    params = respelt(FULL[kind], random.Random(seed))
    assert parses(kind, params)
    assert schema_errors(kind, params) == []
