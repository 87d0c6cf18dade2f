"""The parameter contract: aliases, shorthand, strictness, errors naming the field."""

from __future__ import annotations

import json

import pytest

from reelgpu import InvalidSpec, LimitExceeded, Limits
from reelgpu.limits import check_spec_limits
from reelgpu.specs import json_schema, parse_spec, referenced_keys

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
