"""Errors carry what their message names as attributes (``field``, ``limit``, ``value``,
``maximum``, ``filename``), so a caller can point at the field without parsing the message; the
worker's failure result carries ``field`` and ``limit`` too."""

from __future__ import annotations

import base64
import errno
import io
import pickle
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

import reelgpu
from handler.envelope import check_plain_json, parse_envelope
from handler.errors import JobError, error_result
from handler.plan import plan_job
from handler.settings import Settings
from reelgpu.limits import Limits, check_input_limits, check_spec_limits
from reelgpu.specs import parse_spec

USER = "prod/users/5f0c/profiles/default"
BOX = {"time": 0, "x": 0, "y": 0, "width": 54, "height": 96}


def envelope(**overrides: Any) -> dict[str, Any]:
    base = {"job_id": "j1", "user_id": USER, "type": "framing", "input_key": "raw/a.mp4",
            "output_key": "out/b.mp4", "params": {"clips": [{"keyframes": [BOX]}]}}
    base.update(overrides)
    return base


@pytest.mark.parametrize(("kind", "params", "fields"), [
    ("framing", {"clips": [{"keyframes": [{**BOX, "width": 0}]}]}, ("params.clips[0].keyframes[0].width",)),
    ("framing", {"clips": [{"keyframes": [BOX]}], "fsp": 30}, ("params.fsp",)),
    ("overlay", {"highlight_regions": [{"start_time": 2, "end_time": 1, "keyframes": []}]},
     ("params.highlight_regions[0]",)),
    ("annotate", {"clips": [{"start_time": "a", "end_time": 1}, {"start_time": 0}]},
     ("params.clips[0].start_time", "params.clips[1].endTime")),  # a missing key: the alias
    ("framing", [], ("params",)),
    ("export", {}, ("type",)),
])
def test_invalid_spec_names_its_fields(kind: str, params: Any, fields: tuple[str, ...]) -> None:
    with pytest.raises(reelgpu.InvalidSpec) as err:
        parse_spec(kind, params)
    assert err.value.fields == fields
    assert err.value.field == fields[0]
    for field in fields:  # the attribute is what the message says
        assert f"{field}:" in str(err.value) or str(err.value).startswith(f"{field}: ")


def test_limit_exceeded_names_limit_value_and_field() -> None:
    spec = parse_spec("framing", {"clips": [{"keyframes": [BOX, {**BOX, "time": 1}, {**BOX, "time": 2}]}]})
    with pytest.raises(reelgpu.LimitExceeded) as err:
        check_spec_limits(spec, Limits(max_keyframes_per_clip=2))
    e = err.value
    assert (e.limit, e.value, e.maximum, e.field) == ("max_keyframes_per_clip", 3, 2, "params.clips[0].keyframes")
    with pytest.raises(reelgpu.LimitExceeded) as err:  # a file's fact, not a parameter
        check_input_limits(9000, 1080, 10.0, "game.mp4")
    e = err.value
    assert (e.limit, e.value, e.maximum, e.field) == ("max_input_width", 9000, 8192, None)


def test_missing_input_keeps_filename(tmp_path: Path) -> None:
    missing = tmp_path / "nope.mp4"
    with pytest.raises(FileNotFoundError) as err:
        reelgpu.framing(missing, tmp_path / "out.mp4", {})
    assert isinstance(err.value, reelgpu.InputNotFound)
    assert err.value.filename == str(missing) and err.value.errno == errno.ENOENT
    with pytest.raises(reelgpu.InputNotFound) as err:
        reelgpu.framing(tmp_path, tmp_path / "out.mp4", {})  # a folder where the video goes
    assert err.value.errno == errno.EISDIR


def test_library_arguments_are_fields(tmp_path: Path, sample_30: Path) -> None:
    with pytest.raises(reelgpu.InvalidSpec) as err:
        reelgpu.framing(sample_30, tmp_path, {})  # a folder as the output
    assert err.value.field == "dst"
    with pytest.raises(reelgpu.InvalidSpec) as err:
        reelgpu.framing(sample_30, tmp_path / "o.mp4", {}, device="gpu")  # type: ignore[arg-type]
    assert err.value.field == "device"


def test_text_layer_of_the_wrong_size_names_the_layer(tmp_path: Path, sample_30: Path) -> None:
    png = io.BytesIO()
    Image.new("RGBA", (10, 10)).save(png, format="PNG")
    layer = {"start_time": 0, "end_time": 1, "png_b64": base64.b64encode(png.getvalue()).decode()}
    with pytest.raises(reelgpu.InvalidSpec) as err:
        reelgpu.overlay(sample_30, tmp_path / "o.mp4", {"text_layers": [layer]})
    assert err.value.field == "params.text_layers[0]"


@pytest.mark.parametrize("error", [
    reelgpu.InvalidSpec("params.a: bad; params.b: bad", fields=("params.a", "params.b")),
    reelgpu.LimitExceeded("x", limit="max_clips", value=201, maximum=200, field="params.clips"),
    reelgpu.InputNotFound("f.mp4: file not found", filename="f.mp4", field="params.x"),
    reelgpu.CorruptMedia("f.mp4: broken"),
])
def test_attributes_survive_pickling(error: reelgpu.ReelGpuError) -> None:
    """A process pool sends errors back pickled; Exception's own pickling would call
    ``cls(message)`` and drop every keyword attribute."""
    back = pickle.loads(pickle.dumps(error))
    assert type(back) is type(error) and str(back) == str(error)
    assert vars(back) == vars(error)
    if isinstance(error, OSError):
        assert (back.filename, back.errno) == (error.filename, errno.ENOENT)


# --------------------------------------------------------------------------- the worker's result
def result_of(call: Any) -> dict[str, Any]:
    try:
        call()
    except Exception as exc:  # noqa: BLE001 - every failure becomes a result
        return error_result(exc)
    raise AssertionError("no error raised")


def test_worker_result_carries_library_field_and_limit() -> None:
    bad = envelope(params={"clips": [{"keyframes": [{**BOX, "height": -1}]}]})
    out = result_of(lambda: plan_job(bad, Settings()))
    assert out["code"] == "INVALID_INPUT" and out["field"] == "params.clips[0].keyframes[0].height"
    assert "limit" not in out
    many = envelope(params={"clips": [{"keyframes": [BOX]}] * 3})
    out = result_of(lambda: plan_job(many, Settings(limits=Limits(max_clips=2))))
    assert (out["code"], out["limit"], out["field"]) == ("LIMIT_EXCEEDED", "max_clips", "params.clips")


@pytest.mark.parametrize(("raw", "code", "field"), [
    ({**envelope(), "user_id": "../x"}, "FORBIDDEN_KEY", "user_id"),
    ({**envelope(), "input_key": "/etc/passwd"}, "FORBIDDEN_KEY", "input_key"),
    ({**envelope(), "output_key": "games/x.mp4"}, "FORBIDDEN_KEY", "output_key"),
    ({**envelope(), "output_key": "raw/a.mp4"}, "INVALID_INPUT", "output_key"),
    ({k: v for k, v in envelope().items() if k != "user_id"}, "INVALID_INPUT", "user_id"),
])
def test_worker_result_names_envelope_fields(raw: dict[str, Any], code: str, field: str) -> None:
    out = result_of(lambda: plan_job(raw, Settings()))
    assert (out["code"], out["field"]) == (code, field)


def test_key_in_params_is_described_not_named_as_a_field() -> None:
    """``params key '../x'`` says which key, but is no field path: no ``field`` is invented."""
    out = result_of(lambda: plan_job(envelope(params={"clips": [{"source_key": "../x.mp4"}]}), Settings()))
    assert out["code"] == "FORBIDDEN_KEY" and "field" not in out


def test_worker_limits_are_named() -> None:
    out = result_of(lambda: plan_job(envelope(), Settings(limits=Limits(max_payload_bytes=100))))
    assert (out["code"], out["limit"]) == ("LIMIT_EXCEEDED", "max_payload_bytes")


def test_non_json_values_name_their_place() -> None:
    with pytest.raises(JobError) as err:
        check_plain_json({"params": {"clips": [{"x": float("nan")}]}})
    assert err.value.field == "params.clips[0].x"
    with pytest.raises(JobError) as err:
        parse_envelope([])
    assert err.value.field == "input"
    deep: dict = {}
    node = deep
    for _ in range(100):
        node["k"] = {}
        node = node["k"]
    with pytest.raises(JobError, match="nested deeper") as err:
        check_plain_json({"params": deep})
    assert err.value.field == "params.k.k.k.k.k.k.k"  # the path as far as it is shown: a real field
    assert not err.value.field.endswith(".")


@pytest.mark.parametrize("bad", [1.0, True, [1], {"a": 1}])
@pytest.mark.parametrize("key", ["video_sequence", "id"])
def test_a_value_that_fits_no_member_of_a_union_names_the_field_once(bad: Any, key: str) -> None:
    """``video_sequence`` and ``id`` take a string or an integer: pydantic reports one error
    per member, located at ``...video_sequence.str`` and ``...video_sequence.int``, which are
    not fields of the spec (helper-40). One field, one message naming both."""
    with pytest.raises(reelgpu.InvalidSpec) as caught:
        parse_spec("annotate", {"input_keys": {"1": "a.mp4"}, "clips": [{"start_time": 0, "end_time": 1, key: bad}]})
    assert caught.value.fields == (f"params.clips[0].{key}",) == (caught.value.field,)
    assert f"params.clips[0].{key}: Input should be a valid string or a valid integer" in str(caught.value)


def test_an_unknown_key_named_like_a_type_is_still_named() -> None:
    with pytest.raises(reelgpu.InvalidSpec) as caught:
        parse_spec("annotate", {"clips": [{"start_time": 0, "end_time": 1, "int": 3}]})
    assert caught.value.field == "params.clips[0].int"


@pytest.mark.parametrize("key", ["str", "set", "a[1]"])
def test_an_input_key_named_like_a_union_member_is_still_named(key: str) -> None:
    """Union member names are dropped from a location only where the input has no such key:
    ``input_keys`` entries are the caller's own names (helper-43)."""
    with pytest.raises(reelgpu.InvalidSpec) as caught:
        parse_spec("annotate", {"input_keys": {key: 5}, "clips": [{"start_time": 0, "end_time": 1}]})
    assert caught.value.fields == (f"params.input_keys.{key}",)
