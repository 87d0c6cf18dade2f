"""The parameter contract: aliases, shorthand, strictness, errors naming the field."""

from __future__ import annotations

import json
import time
from fractions import Fraction

import pytest
from pydantic import ValidationError

from reelgpu import InvalidSpec, LimitExceeded, Limits
from reelgpu.limits import check_spec_limits
from reelgpu.specs import FramingSpec, json_schema, parse_spec, referenced_keys

KF = {"time": 0, "x": 1, "y": 2, "width": 30, "height": 40}


def test_camel_and_snake_keys_are_both_accepted() -> None:
    a = parse_spec("framing", {"clips": [{"keyframes": [KF], "segmentData": {"trimRange": {"start": 0.5, "end": 2}}}],
                               "includeAudio": False, "targetWidth": 100, "targetHeight": 200})
    b = parse_spec("framing", {"clips": [{"keyframes": [KF], "segment_data": {"trim_start": 0.5, "trim_end": 2}}],
                               "include_audio": False, "target_width": 100, "target_height": 200})
    assert a.clips[0].segment_data.trim == b.clips[0].segment_data.trim == (0.5, 2.0)
    assert a.target_width == b.target_width == 100 and a.include_audio is False


def test_trim_range_as_list_and_frame_keyframes() -> None:
    s = parse_spec("framing", {"keyframes": [{"frame": 15, "x": 0, "y": 0, "width": 9, "height": 16}],
                               "segment_data": {"trimRange": [1, 3]}})
    assert s.clips[0].segment_data.trim == (1.0, 3.0)
    assert s.clips[0].keyframes[0].frame == 15


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"clips": [{"keyframes": [{**KF, "width": -3}]}]}, "params.clips[0].keyframes[0].width"),
        ({"clips": [{"keyframes": [{**KF, "height": 0}]}]}, "params.clips[0].keyframes[0].height"),
        ({"clips": [{"kefyrames": [KF]}]}, "params.clips[0].kefyrames"),
        ({"clips": [{"segment_data": {"trim_start": 3, "trim_end": 1}}]}, "params.clips[0].segment_data"),
        ({"clips": []}, "params.clips"),
        ({"clips": [{"keyframes": [{"x": 1, "y": 2, "width": 3, "height": 4}]}]}, "params.clips[0].keyframes[0]"),
        ({"clips": [{}], "target_width": 101, "target_height": 100}, "target_width must be even"),
        ({"clips": [{}], "fps": "abc"}, "params.fps"),
        ({"clips": [{"segment_data": {"segments": [{"start": 2, "end": 1}]}}]}, "params.clips[0].segment_data.segments[0]"),
        ({"clips": [{"segment_data": {"segments": [{"start": 0, "end": 1, "speed": 5}]}}]}, "speed"),
        ({"clips": [{}], "transition": {"type": "wipe"}}, "params.transition.type"),
        ({"clips": [{"keyframes": [{**KF, "x": float("nan")}]}]}, "params.clips[0].keyframes[0].x"),
    ],
)
def test_bad_framing_specs_name_the_field(params: dict, field: str) -> None:
    with pytest.raises(InvalidSpec) as err:
        parse_spec("framing", params)
    assert field in str(err.value)
    assert err.value.code == "INVALID_INPUT"


def test_unknown_export_and_non_object_params() -> None:
    with pytest.raises(InvalidSpec, match="unknown export"):
        parse_spec("blur", {})
    with pytest.raises(InvalidSpec, match="expected an object"):
        parse_spec("framing", [1, 2])


def test_meta_is_free_form_and_echoed() -> None:
    s = parse_spec("framing", {"clips": [{}], "meta": {"anything": {"goes": [1]}, "camelCase": True}})
    assert s.meta == {"anything": {"goes": [1]}, "camelCase": True}


def test_overlay_legacy_opacity_and_colour_rules() -> None:
    s = parse_spec("overlay", {"highlightRegions": [{"startTime": 0, "endTime": 2, "keyframes": [
        {"time": 0, "x": 1, "y": 1, "radiusX": 3, "radiusY": 4, "opacity": 0.3}]}], "highlight_color": "none"})
    kf = s.highlight_regions[0].keyframes[0]
    assert kf.fill_opacity == 0.3 and kf.stroke_opacity == 0.85
    assert s.highlight_color == "none"
    with pytest.raises(InvalidSpec, match="colour"):
        parse_spec("overlay", {"highlight_color": "red"})


def test_a_keyframe_colour_of_null_is_white() -> None:
    """As the editor's renderer draws it; a null once meant "no stroke and no fill", which only
    the export-wide ``highlight_color: "none"`` means."""
    key = {"time": 0, "x": 1, "y": 1, "radiusX": 3, "radiusY": 4}
    s = parse_spec("overlay", {"highlight_regions": [{"start_time": 0, "end_time": 2, "keyframes": [
        {**key, "color": None}, {**key, "time": 1}, {**key, "time": 2, "color": "#00FF00"}]}]})
    assert [k.color for k in s.highlight_regions[0].keyframes] == ["#FFFFFF", "#FFFFFF", "#00FF00"]
    for bad in ("white", 123, 1.5, True, ["#FFFFFF"], {"hex": "#FFFFFF"}):
        with pytest.raises(InvalidSpec, match=r"keyframes\[0\]\.color: .*colour must be '#RRGGBB'"):
            parse_spec("overlay", {"highlight_regions": [{"start_time": 0, "end_time": 2, "keyframes": [
                {**key, "color": bad}]}]})


def test_annotate_clip_range_errors_name_the_clip() -> None:
    with pytest.raises(InvalidSpec, match=r"params.clips\[1\]"):
        parse_spec("annotate", {"clips": [{"start_time": 0, "end_time": 1}, {"start_time": 5, "end_time": 2}]})


def test_limits_raise_limit_exceeded_naming_the_limit() -> None:
    s = parse_spec("framing", {"keyframes": [{**KF, "time": i} for i in range(11)]})
    with pytest.raises(LimitExceeded, match=r"params.clips\[0\].keyframes"):
        check_spec_limits(s, Limits(max_keyframes_per_clip=10))
    a = parse_spec("annotate", {"clips": [{"start_time": 0, "end_time": 1, "name": "x" * 501}]})
    with pytest.raises(LimitExceeded, match="name"):
        check_spec_limits(a)


def test_referenced_keys_and_schema() -> None:
    s = parse_spec("framing", {"clips": [{"source_key": "a.mp4"}, {}, {"source_key": "a.mp4"}, {"sourceKey": "b.mp4"}]})
    assert referenced_keys(s) == ["a.mp4", "b.mp4"]
    for kind in ("framing", "overlay", "annotate"):
        schema = json_schema(kind)
        assert schema["type"] == "object" and json.dumps(schema)
    assert "keyframes" in json.dumps(json_schema("framing"))


# --------------------------------------------------------------------------- hostile values, library API
# The handler refuses non-JSON numbers before the spec sees them; a service calling the library
# directly gets the same clean InvalidSpec naming the field, never OverflowError or a hang.
BIG = 10**5000  # repr() of it is itself a ValueError (over 4300 digits)
CLIP = {"start_time": 0, "end_time": 1}


@pytest.mark.parametrize(("kind", "params", "field"), [
    ("framing", {"clips": [{}], "fps": float("inf")}, "params.fps: fps must be a finite number"),
    ("framing", {"clips": [{}], "fps": float("-inf")}, "params.fps"),
    ("framing", {"clips": [{}], "fps": float("nan")}, "params.fps"),
    ("framing", {"clips": [{}], "fps": "1e99999999"}, "params.fps"),  # Fraction() would compute 10**99999999
    ("framing", {"clips": [{}], "fps": "9" * 5000}, "params.fps"),
    ("framing", {"clips": [{}], "aspect_ratio": "1" + "0" * 400 + ":1"}, "params.aspect_ratio"),  # float() overflow
    ("framing", {"clips": [{}], "aspect_ratio": "9" * 5000 + ":16"}, "params.aspect_ratio"),  # int() refuses
    ("annotate", {"clips": [{**CLIP, "id": BIG}]}, "params.clips[0].id: an integer of about 5000 digits"),
    ("annotate", {"clips": [{**CLIP, "video_sequence": 2**63}]}, "params.clips[0].video_sequence"),
    ("annotate", {"clips": [{**CLIP, "name": "a\ud800"}]}, "params.clips[0].name: not valid Unicode"),
    ("annotate", {"clips": [{**CLIP, "tags": ["\udc00"]}]}, "params.clips[0].tags[0]"),
    ("annotate", {"clips": [CLIP], "meta": {"x": float("nan")}}, "params.meta: must be plain JSON"),
    ("annotate", {"clips": [CLIP], "meta": {"x": BIG}}, "params.meta"),
    ("overlay", {"meta": {"x": "\ud800"}}, "params.meta"),
    ("overlay", {"highlight_regions": [{**CLIP, "id": -BIG}]}, "params.highlight_regions[0].id"),
])
def test_non_finite_huge_and_invalid_values_name_the_field(kind: str, params: dict, field: str) -> None:
    t0 = time.monotonic()
    with pytest.raises(InvalidSpec) as err:
        parse_spec(kind, params)
    assert field in str(err.value) and time.monotonic() - t0 < 0.5


def test_models_built_directly_raise_validation_errors() -> None:
    """``FramingSpec(fps=inf)`` raised OverflowError from inside the fps validator."""
    with pytest.raises(ValidationError, match="finite"):
        FramingSpec(clips=[{}], fps=float("inf"))


def test_a_huge_target_size_is_limit_exceeded() -> None:
    """The limit message formats the value: "{:g}" of a 400-digit int overflowed."""
    s = parse_spec("framing", {"clips": [{}], "target_width": 10**400, "target_height": 2})
    with pytest.raises(LimitExceeded, match=r"params.target_width is more than 1e300, over the limit of 4096"):
        check_spec_limits(s)


def test_plain_values_still_pass() -> None:
    s = parse_spec("annotate", {"clips": [{**CLIP, "id": 2**63 - 1, "video_sequence": "2", "name": "Zoë \u2029 ⚽"}],
                                "meta": {"n": 10**30, "s": "ok"}})
    assert s.clips[0].id == 2**63 - 1 and s.meta == {"n": 10**30, "s": "ok"}
    f = parse_spec("framing", {"clips": [{}], "fps": "30000/1001", "aspect_ratio": "999999:1"})
    assert f.fps_rational == Fraction(30000, 1001) and f.aspect == Fraction(999999, 1)


def test_a_key_in_both_spellings_is_named_as_given_twice() -> None:
    # pydantic keeps the camelCase one and reported the snake_case one as misspelt.
    with pytest.raises(InvalidSpec, match=r"params.clips\[0\].start_time: given twice, as 'startTime' and 'start_time'"):
        parse_spec("annotate", {"clips": [{"start_time": 1, "startTime": 2, "end_time": 3}]})
    with pytest.raises(InvalidSpec, match=r"params.clips\[0\].segmentData.trim_start: given twice"):
        parse_spec("framing", {"segmentData": {"trim_start": 1, "trimStart": 1}})  # the one-clip shorthand
    with pytest.raises(InvalidSpec, match=r"params.clips\[0\].source_start_time: given twice"):
        parse_spec("framing", {"source_start_time": 1, "sourceStartTime": 1})
    with pytest.raises(InvalidSpec, match=r"params.clips\[0\].foo_bar: unknown key \(check the spelling\)"):
        parse_spec("annotate", {"clips": [{"start_time": 1, "end_time": 3, "foo_bar": 1, "fooBar": 1}]})


def test_every_limit_message_names_its_limits_field() -> None:
    # The field is how a service finds the setting (the worker's REELGPU_LIMIT_<FIELD>).
    with pytest.raises(LimitExceeded, match=r"params.clips \(count\) is 2, over the limit of 1 \(max_clips\)$"):
        check_spec_limits(parse_spec("annotate", {"clips": [{"start_time": 0, "end_time": 1}] * 2}), Limits(max_clips=1))
    with pytest.raises(LimitExceeded, match=r"params.target_width is 4098, over the limit of 4096 \(max_output_width\)$"):
        check_spec_limits(parse_spec("framing", {"target_width": 4098, "target_height": 2}))
