"""Fuzzed job payloads through the handler's entry point.

Whatever ``job["input"]`` holds - wrong types, NaN and infinities, huge numbers, deep nesting,
long or odd Unicode, camelCase/snake_case mixes, mutated but plausible export params - the
result must be a success or a clean error object with a contract code: never an exception,
never a traceback, never ``INTERNAL`` (that code means a bug: all of these are the caller's
input, and the handler owns every check of it). Failures write nothing; successes write only
under the job's own user prefix; no temp file survives a job.

In process, :func:`handler.job.handler` (the real RunPod entry point, configured from the
environment) runs against a local storage folder for speed; a handful of raw JSON bodies go
over HTTP to the runpod SDK's local API server, where duplicate keys and ``NaN`` literals can
only exist as text. ``REELGPU_FUZZ_EXAMPLES`` sets the budget (default 300 in all).
"""

from __future__ import annotations

import asyncio
import base64
import copy
import io
import json
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

import reelgpu
from handler import job as hjob
from handler.storage import LocalStorage
from reelgpu.media.samples import make_sample_video

SUPPORT = sys.modules["reelgpu_reliability_support"]  # loaded by conftest.py (no imports between tests)
USER = "fuzz/users/u1"
INPUT_KEY = "raw/in.mp4"
STATS: Counter = Counter()


# --------------------------------------------------------------------------- the handler, in process
@pytest.fixture(scope="module")
def fuzz_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """Storage with a tiny input (96x64, 10 fps, 0.6 s + audio), scratch and TMPDIR folders,
    and the environment the entry point reads. Limits are lowered so that plausible-but-huge
    jobs end quickly in LIMIT_EXCEEDED instead of rendering for minutes."""
    import tempfile

    root = tmp_path_factory.mktemp("fuzz")
    dirs = {"storage": root / "storage", "scratch": root / "scratch", "tmp": root / "tmp"}
    for d in dirs.values():
        d.mkdir()
    video = make_sample_video(root / "in.mp4", width=96, height=64, fps=10, seconds=0.6)
    LocalStorage(dirs["storage"]).upload(video, f"{USER}/{INPUT_KEY}")
    (root / "text.png").write_bytes(_png(96, 64))
    LocalStorage(dirs["storage"]).upload(root / "text.png", f"{USER}/layers/text.png", content_type="image/png")
    mp = pytest.MonkeyPatch()
    for k, v in {
        "REELGPU_STORAGE_DIR": str(dirs["storage"]), "REELGPU_SCRATCH_DIR": str(dirs["scratch"]),
        "REELGPU_DEVICE": "cpu", "REELGPU_JOB_TIMEOUT_S": "30", "REELGPU_PROGRESS_INTERVAL_S": "5",
        "REELGPU_LIMIT_MAX_OUTPUT_WIDTH": "256", "REELGPU_LIMIT_MAX_OUTPUT_HEIGHT": "256",
        "REELGPU_LIMIT_MAX_OUTPUT_DURATION_S": "20", "REELGPU_LIMIT_MAX_CLIPS": "6",
        "REELGPU_LIMIT_MAX_KEYFRAMES_PER_CLIP": "64", "REELGPU_LIMIT_MAX_TEXT_LAYERS": "3",
        "TMPDIR": str(dirs["tmp"]),
    }.items():
        mp.setenv(k, v)
    for k in ("R2_ENDPOINT", "R2_ENDPOINT_URL", "R2_ACCESS_KEY_ID", "R2_SECRET_ACCESS_KEY", "R2_BUCKET_NAME"):
        mp.delenv(k, raising=False)
    mp.setattr(tempfile, "tempdir", str(dirs["tmp"]))
    BASELINE[dirs["storage"]] = SUPPORT.files_under(dirs["storage"])
    yield dirs
    mp.undo()


def _png(width: int, height: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGBA", (width, height), (255, 255, 255, 0)).save(buf, format="PNG")
    return buf.getvalue()


BASELINE: dict[Path, dict[str, int]] = {}


def run_handler(job_input: Any, dirs: dict[str, Path], rel: Any) -> tuple[str, dict[str, Any]]:
    """One job through ``handler.job.handler``; checks every invariant around it."""
    before = rel.files_under(dirs["storage"])
    assert before == BASELINE[dirs["storage"]], "the store did not start clean"
    t0 = time.monotonic()
    result = asyncio.run(hjob.handler({"id": "fuzz", "input": job_input}))
    elapsed = time.monotonic() - t0
    outcome = rel.assert_clean(result)
    assert outcome != "INTERNAL", result  # a bug: the input is the caller's, every check is ours
    if outcome == "INVALID_INPUT":  # the field at fault is an attribute too, and the message names it
        assert result["field"] in result["error"], result
    assert elapsed < 40, (elapsed, result)
    after = rel.files_under(dirs["storage"])
    new = {k for k in after if k not in before or after[k] != before[k]}
    if outcome == "success":
        # Only under the job's own prefix (user_id is whatever the handler accepted).
        prefix = job_input["user_id"] + "/"
        meta_prefix = f"{LocalStorage.META_DIR}/{prefix}"
        assert new and all(k.startswith((prefix, meta_prefix)) for k in new), new
        out = dirs["storage"] / prefix / result["output_key"]
        if job_input["type"] == "annotate" and job_input["params"].get("mode") == "clips":
            assert out.with_name(out.name + ".json").is_file()  # the prefix's completion marker
        else:
            info = reelgpu.probe(out)
            assert info.faststart and info.frame_count == result["frames"] > 0
    else:
        assert not new, (outcome, new)  # a failed job publishes nothing
    rel.reset_tree(dirs["storage"], BASELINE[dirs["storage"]])  # every example starts from the same store
    assert not rel.files_under(dirs["scratch"]), "a job's scratch files survived it"
    assert not rel.files_under(dirs["tmp"]), "a temp file survived the job"
    STATS[outcome] += 1
    return outcome, result


# --------------------------------------------------------------------------- strategies
ODD_STRINGS = [
    "", " ", "\x00", "\n", "\u202e", "\ufeff", "\ud800", "😀" * 50, "a" * 5000, "../../etc/passwd",
    "games/x.mp4", "https://evil.example/x.mp4", "s3://bucket/k", "%2e%2e/x", "a\\b", "null", "NaN",
    "１２３", "ｆｒａｍｉｎｇ", "FRAMING", "framing ", "\u0301", "Ω" * 300,
]
KEY_NAMES = ["job_id", "jobId", "user_id", "userId", "type", "input_key", "inputKey", "output_key", "outputKey",
             "params", "clips", "keyframes", "startTime", "start_time", "radiusX", "radius_x", "trimRange",
             "meta", "__proto__", "constructor", "", "\x00"]
leaf = st.one_of(
    st.none(), st.booleans(),
    st.integers(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([1e308, -1e308, 5e-324, -0.0, 2**63, 2**64]),
    st.text(max_size=40), st.sampled_from(ODD_STRINGS),
)
keys = st.one_of(st.sampled_from(KEY_NAMES), st.text(max_size=12))
json_values = st.recursive(
    leaf, lambda children: st.lists(children, max_size=5) | st.dictionaries(keys, children, max_size=6),
    max_leaves=25)


def nest(depth: int, as_dict: bool) -> Any:
    """Built iteratively: the fuzzer itself must not need recursion for this."""
    value: Any = 1
    for _ in range(depth):
        value = {"a": value} if as_dict else [value]
    return value


deep_values = st.builds(nest, st.integers(min_value=1, max_value=20_000), st.booleans())

VALID_PARAMS: dict[str, dict[str, Any]] = {
    "framing": {"target_width": 72, "target_height": 128, "clips": [{
        "keyframes": [{"time": 0.0, "x": 10, "y": 0, "width": 36, "height": 64},
                      {"time": 0.5, "x": 50, "y": 0, "width": 36, "height": 64}],
        "segment_data": {"trim_start": 0.0, "trim_end": 0.6, "segments": [{"start": 0.1, "end": 0.3, "speed": 0.5}]}}],
        "fps": 10, "transition": {"type": "cut", "duration": 0.2}, "encode": {"preset": "ultrafast"},
        "meta": {"project": 1}},
    "overlay": {"highlight_regions": [{"id": "r1", "start_time": 0.0, "end_time": 0.6, "keyframes": [
        {"time": 0.0, "x": 30, "y": 30, "radiusX": 10, "radiusY": 20, "color": "#FFD700"},
        {"time": 0.5, "x": 60, "y": 30, "radiusX": 10, "radiusY": 20, "color": "#FFD700"}]}],
        "text_layers": [{"start_time": 0.0, "end_time": 0.5, "png_key": "layers/text.png"}],
        "effect_type": "dark_overlay", "encode": {"preset": "ultrafast"}},
    "annotate": {"clips": [{"start_time": 0.0, "end_time": 0.3, "name": "Goal ⚽", "rating": 5, "tags": ["Goal"]},
                           {"start_time": 0.3, "end_time": 0.6, "name": "", "rating": 2, "notes": "n"}],
                 "encode": {"preset": "ultrafast"}},
}
TEXT_LAYER_B64 = base64.b64encode(_png(96, 64)).decode()


def envelope(kind: str = "framing", **over: Any) -> dict[str, Any]:
    base = {"job_id": "fuzz-1", "user_id": USER, "type": kind, "input_key": INPUT_KEY,
            "output_key": "exports/out.mp4", "params": copy.deepcopy(VALID_PARAMS[kind])}
    base.update(over)
    return base


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


def snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


def paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path to a node of a JSON value (the node itself included)."""
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out.extend(paths(v, (*prefix, k)))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out.extend(paths(v, (*prefix, i)))
    return out


def mutate(doc: dict[str, Any], data: st.DataObject, n: int) -> dict[str, Any]:
    """Apply ``n`` random edits: replace a node, delete it, rename its key (camelCase,
    snake_case or a typo), add an unknown key, or repeat a list item."""
    doc = copy.deepcopy(doc)
    for _ in range(n):
        where = data.draw(st.sampled_from(paths(doc)[1:] or [()]))
        if not where:
            continue
        parent: Any = doc
        for part in where[:-1]:
            parent = parent[part]
        last = where[-1]
        op = data.draw(st.sampled_from(["replace", "replace", "delete", "rename", "add", "repeat"]))
        if op == "replace":
            parent[last] = data.draw(json_values)
        elif op == "delete":
            del parent[last]
        elif op == "rename" and isinstance(last, str):
            new = data.draw(st.sampled_from([camel(last), snake(last), last + "s", last.upper(), last[:-1] or "x"]))
            parent[new] = parent.pop(last)
        elif op == "add" and isinstance(parent, dict):
            parent[data.draw(keys)] = data.draw(json_values)
        elif op == "repeat" and isinstance(parent, list):
            parent.extend([copy.deepcopy(parent[last])] * data.draw(st.integers(1, 70)))
    return doc


# --------------------------------------------------------------------------- in-process properties
def test_the_unmutated_jobs_succeed(fuzz_env: dict[str, Path], rel: Any) -> None:
    """The seeds of the mutation fuzzing work, so a mutant's failure is the mutation's doing."""
    for kind in VALID_PARAMS:
        outcome, result = run_handler(envelope(kind), fuzz_env, rel)
        assert outcome == "success", result
    overlay_b64 = envelope("overlay")
    overlay_b64["params"]["text_layers"] = [{"start_time": 0, "end_time": 0.5, "png_b64": TEXT_LAYER_B64}]
    assert run_handler(overlay_b64, fuzz_env, rel)[0] == "success"



def _with_params(**params: Any) -> dict[str, Any]:
    doc = envelope("framing")
    doc["params"].update(params)
    return doc


@pytest.mark.parametrize(("job_input", "needle"), [
    (_with_params(meta=nest(200, as_dict=True)), "nested deeper than 64 levels"),
    (_with_params(meta={"x": float("nan")}), "nan is not a JSON number"),  # would be echoed back
    (_with_params(fps=float("inf")), "inf is not a JSON number"),
    (_with_params(target_width=10**30), "integer out of the 64-bit range"),
    (_with_params(meta={"s": "\ud800"}), "lone surrogate"),
    (_with_params(**{"a\nINFO forged line": 1}), "a\\nINFO forged line"),  # one log line, escaped
    (_with_params(**{"\u202eevil": 1}), "\\u202eevil"),
], ids=["deep", "nan", "inf", "huge-int", "surrogate", "newline-key", "bidi-key"])
def test_plain_json_rules(fuzz_env: dict[str, Path], rel: Any, job_input: dict[str, Any], needle: str) -> None:
    """The rules behind the fuzzing, one example each (so that each protection is pinned)."""
    outcome, result = run_handler(job_input, fuzz_env, rel)
    assert outcome == "INVALID_INPUT" and needle in result["error"], result


def test_a_key_segment_too_long_for_a_local_folder(fuzz_env: dict[str, Path], rel: Any) -> None:
    """Found by a long run: a valid 600-byte ``user_id`` segment is fine for S3 but over a file
    system's 255-byte name limit; the local store refuses it cleanly instead of crashing."""
    outcome, result = run_handler(envelope("annotate", user_id="Ω" * 300), fuzz_env, rel)
    assert outcome == "FORBIDDEN_KEY" and "local storage folder" in result["error"], result


@SUPPORT.fuzz_settings(0.15)
@given(value=st.one_of(json_values, deep_values))
def test_any_json_value_as_input(fuzz_env: dict[str, Path], rel: Any, value: Any) -> None:
    code = run_handler(value, fuzz_env, rel)[0]
    assert code in ("INVALID_INPUT", "LIMIT_EXCEEDED")


ENVELOPE_KEYS = ["job_id", "user_id", "type", "input_key", "output_key", "params"]


@SUPPORT.fuzz_settings(0.1)
@given(data=st.data(), kind=st.sampled_from(sorted(VALID_PARAMS)), n=st.integers(1, 3))
def test_mutated_envelopes(fuzz_env: dict[str, Path], rel: Any, data: st.DataObject, kind: str, n: int) -> None:
    """Wrong types, odd strings, missing fields, camelCase twins and unknown keys at the top."""
    doc = envelope(kind)
    for _ in range(n):
        key = data.draw(st.sampled_from(ENVELOPE_KEYS + ["jobId", "outputKey", "inputKeys", "input", "id"]))
        op = data.draw(st.sampled_from(["replace", "odd", "delete", "camel"]))
        if op == "replace":
            doc[key] = data.draw(json_values)
        elif op == "odd":
            doc[key] = data.draw(st.sampled_from(ODD_STRINGS))
        elif op == "delete":
            doc.pop(key, None)
        elif key in doc:
            doc[camel(key)] = doc.pop(key)
    run_handler(doc, fuzz_env, rel)


@SUPPORT.fuzz_settings(0.2)
@given(data=st.data(), kind=st.sampled_from(sorted(VALID_PARAMS)), n=st.integers(1, 4))
def test_mutated_params(fuzz_env: dict[str, Path], rel: Any, data: st.DataObject, kind: str, n: int) -> None:
    """Plausible params with a few edits: many still render, the rest must fail cleanly."""
    doc = envelope(kind)
    if kind == "overlay" and data.draw(st.booleans()):
        doc["params"]["text_layers"][0] = {"start_time": 0.0, "end_time": 0.5, "png_b64": TEXT_LAYER_B64}
    doc["params"] = mutate(doc["params"], data, n)
    run_handler(doc, fuzz_env, rel)


def _raw(pairs: list[tuple[str, str]]) -> str:
    """A JSON object from already-encoded members, duplicates and all."""
    return "{" + ", ".join(f"{json.dumps(k)}: {v}" for k, v in pairs) + "}"


RAW_VALUES = ["NaN", "Infinity", "-Infinity", "1e999", "-0", "9" * 400, "1.0e-400", '"\\ud800"', '"\\u0000"',
              "[]", "{}", "null", "true", '"x"', '"../../u2/in.mp4"', '"games/raw.mp4"']


@SUPPORT.fuzz_settings(0.05, minimum=8)
@given(data=st.data(), kind=st.sampled_from(sorted(VALID_PARAMS)))
def test_raw_json_text_with_duplicate_keys(fuzz_env: dict[str, Path], rel: Any, data: st.DataObject,
                                           kind: str) -> None:
    """Raw JSON text as a client would send it: duplicated members (Python keeps the last,
    other parsers the first), JSON-invalid literals, snake_case and camelCase twins. Parsed
    the way the SDK parses it, then run: a success must land under the user id that won."""
    base = envelope(kind)
    pairs = [(k, json.dumps(v)) for k, v in base.items()]
    for _ in range(data.draw(st.integers(1, 3))):
        key = data.draw(st.sampled_from(ENVELOPE_KEYS + ["outputKey", "userId"]))
        value = data.draw(st.sampled_from(RAW_VALUES + [json.dumps("other/users/u2"), json.dumps("exports/b.mp4")]))
        pairs.insert(data.draw(st.integers(0, len(pairs))), (key, value))
    text = _raw(pairs)
    parsed = json.loads(text)  # what runpod's API (FastAPI / json) hands the worker
    run_handler(parsed, fuzz_env, rel)


@pytest.fixture(scope="module", autouse=True)
def _figures(rel: Any) -> Iterator[None]:
    STATS.clear()
    t0 = time.monotonic()
    yield
    rel.report("fuzz_in_process", jobs=sum(STATS.values()), outcomes=dict(STATS),
               examples_budget=rel.fuzz_examples(1.0), seconds=round(time.monotonic() - t0, 1))


# --------------------------------------------------------------------------- over HTTP
HTTP_BODIES = {
    "duplicate user_id": ('{"input": {"job_id": "http-dup", "user_id": "rel/users/h1", "type": "framing", '
                          '"input_key": "raw/in.mp4", "output_key": "exports/dup.mp4", "user_id": "rel/users/h2", '
                          '"params": {"target_width": 90, "target_height": 160}}}'),
    "NaN literal": ('{"input": {"job_id": "http-nan", "user_id": "rel/users/h1", "type": "framing", '
                    '"input_key": "raw/in.mp4", "output_key": "exports/nan.mp4", "params": {"meta": {"x": NaN}}}}'),
    "Infinity fps": ('{"input": {"job_id": "http-inf", "user_id": "rel/users/h1", "type": "framing", '
                     '"input_key": "raw/in.mp4", "output_key": "exports/inf.mp4", "params": {"fps": Infinity}}}'),
    "400-digit number": ('{"input": {"job_id": "http-big", "user_id": "rel/users/h1", "type": "framing", '
                         '"input_key": "raw/in.mp4", "output_key": "exports/big.mp4", "params": {"target_width": '
                         + "9" * 400 + "}}}"),
    "5000-digit number": '{"input": {"job_id": "http-huge", "params": {"x": ' + "9" * 5000 + "}}}",
    "nesting 300": ('{"input": {"job_id": "http-deep", "user_id": "rel/users/h1", "type": "framing", '
                    '"input_key": "raw/in.mp4", "output_key": "exports/deep.mp4", "params": {"meta": '
                    + "[" * 300 + "]" * 300 + "}}}"),
    "nesting 50000": '{"input": ' + "[" * 50_000 + "]" * 50_000 + "}",
    "lone surrogate": ('{"input": {"job_id": "http-sur", "user_id": "rel/users/h1", "type": "framing", '
                       '"input_key": "raw/\\ud800.mp4", "output_key": "exports/s.mp4", "params": {}}}'),
    "camel and snake twins": ('{"input": {"job_id": "http-twin", "user_id": "rel/users/h1", "type": "overlay", '
                              '"input_key": "raw/in.mp4", "output_key": "exports/twin.mp4", "params": '
                              '{"highlight_regions": [{"start_time": 0, "startTime": 0.5, "end_time": 1}]}}}'),
    "2 MB of emoji": ('{"input": {"job_id": "http-emoji", "user_id": "rel/users/h1", "type": "annotate", '
                      '"input_key": "raw/in.mp4", "output_key": "exports/e.mp4", "params": {"clips": [{"start_time": 0,'
                      ' "end_time": 0.5, "name": "' + "😀" * 500_000 + '"}]}}}'),
    "input is a list": '{"input": [1, 2, 3]}',
    "not JSON": '{"input": {"job_id": ',
}


def test_adversarial_bodies_over_http(worker: Any, s3: Any, rel: Any, sample_video: Path) -> None:
    """The same classes of input as raw HTTP bodies to the runpod SDK's local API: the worker
    answers each with a clean error (or the SDK refuses the body before the worker sees it:
    FastAPI's 4xx for unparsable JSON, 50,000-deep nesting and 5,000-digit numbers), and keeps
    serving."""
    rel.put_object(s3, "rel/users/h1/raw/in.mp4", sample_video)
    rel.put_object(s3, "rel/users/h2/raw/in.mp4", sample_video)
    outcomes: dict[str, str] = {}
    for name, body in HTTP_BODIES.items():
        status, text = rel.post_raw(worker, body)
        assert "Traceback" not in text and "error_traceback" not in text, (name, text[:500])
        if status != 200:
            assert status in (400, 422), (name, status, text[:300])  # refused by the SDK's server
            outcomes[name] = f"HTTP {status}"
            continue
        resp = json.loads(text)
        if resp["status"] == "COMPLETED":
            outcomes[name] = rel.assert_clean(resp["output"])
        else:
            assert resp["status"] == "FAILED", resp
            code = resp["error"].split(":", 1)[0]
            assert code in rel.CODES and code != "INTERNAL", (name, resp["error"][:300])
            outcomes[name] = code
    # Python's json keeps the last duplicate: the job ran for h2, and wrote only there.
    assert outcomes["duplicate user_id"] == "success"
    s3.head_object(Bucket=rel.BUCKET, Key="rel/users/h2/exports/dup.mp4")
    with pytest.raises(s3.exceptions.ClientError):
        s3.head_object(Bucket=rel.BUCKET, Key="rel/users/h1/exports/dup.mp4")
    assert outcomes["NaN literal"] == outcomes["Infinity fps"] == "INVALID_INPUT"
    assert outcomes["nesting 300"] == outcomes["lone surrogate"] == outcomes["400-digit number"] == "INVALID_INPUT"
    bodies = dict(zip(HTTP_BODIES, worker.responses[-len(HTTP_BODIES):]))
    assert "nested deeper than 64" in bodies["nesting 300"] and "64-bit" in bodies["400-digit number"]
    assert outcomes["2 MB of emoji"] == "LIMIT_EXCEEDED"
    assert worker.proc.poll() is None  # still serving
    ok = worker.runsync({"job_id": "http-after", "user_id": "rel/users/h1", "type": "framing",
                         "input_key": "raw/in.mp4", "output_key": "exports/after.mp4",
                         "params": {"target_width": 90, "target_height": 160}})
    assert ok["status"] == "COMPLETED", ok
    rel.report("fuzz_http", bodies=len(HTTP_BODIES), outcomes=outcomes)


# --------------------------------------------------------------------------- well-typed, hostile values
num = st.one_of(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
                st.sampled_from([0.0, -0.0, 5e-324, 1e-9, 0.5, 1e9, 1e308, -1e308, 96.0, 64.0]))
pos = st.one_of(st.floats(min_value=5e-324, max_value=1e4), st.sampled_from([5e-324, 1e-9, 0.5, 1.0, 2.0, 96.0, 1e6]))
nonneg = st.one_of(st.floats(min_value=0, max_value=2.0), st.sampled_from([0.0, 5e-324, 1e9, 1e308]))
# Line and paragraph separators, controls and lone surrogates included: text is the caller's.
text = st.one_of(st.text(max_size=30), st.sampled_from(ODD_STRINGS[:10] + ["x" * 500, "\u202e" * 10, "😀" * 200,
                                                                          "a\u2029b", "\u2028", "a\x1cb\x85"]))


@st.composite
def framing_params(draw: st.DrawFn) -> dict[str, Any]:
    interpolation = draw(st.sampled_from(["catmull_rom", "linear"]))

    def keyframe() -> dict[str, Any]:
        kf = {"x": draw(num), "y": draw(num), "width": draw(pos), "height": draw(pos)}
        kf["time" if draw(st.booleans()) else "frame"] = draw(nonneg)
        return kf

    clips = []
    for _ in range(draw(st.integers(1, 3))):
        clip: dict[str, Any] = {"keyframes": [keyframe() for _ in range(draw(st.integers(0, 4)))]}
        if draw(st.booleans()):
            a, b = sorted(draw(st.lists(nonneg, min_size=2, max_size=2)))
            clip["segment_data"] = {"segments": [{"start": a, "end": b + 0.01,
                                                  "speed": draw(st.floats(min_value=1e-6, max_value=4))}]}
        if draw(st.booleans()):
            clip["rotation"] = draw(num)
        if draw(st.booleans()):
            clip["source_start_time"] = draw(nonneg)
        clips.append(clip)
    params: dict[str, Any] = {"clips": clips, "encode": {"preset": "ultrafast"}}
    if draw(st.booleans()):
        params["target_width"], params["target_height"] = (2 * draw(st.integers(1, 150)) for _ in range(2))
    else:
        params["aspect_ratio"] = f"{draw(st.sampled_from([1, 9, 16, 1000, 999999]))}:{draw(st.sampled_from([1, 9, 16, 1000]))}"
        params["upscale_factor"] = draw(st.one_of(st.floats(min_value=1e-3, max_value=16), st.sampled_from([5e-324, 1e-9])))
    if draw(st.booleans()):
        params["fps"] = draw(st.one_of(st.floats(min_value=1, max_value=240), st.sampled_from(["30000/1001", "1/1"])))
    params["transition"] = {"type": draw(st.sampled_from(["cut", "fade", "dissolve"])),
                            "duration": draw(st.floats(min_value=0, max_value=10))}
    params["interpolation"] = interpolation
    params["include_audio"] = draw(st.booleans())
    return params


@st.composite
def overlay_params(draw: st.DrawFn) -> dict[str, Any]:
    regions = []
    for i in range(draw(st.integers(0, 3))):
        a, b = sorted(draw(st.lists(nonneg, min_size=2, max_size=2)))
        kfs = [{"time": draw(nonneg), "x": draw(num), "y": draw(num), "radiusX": draw(nonneg), "radiusY": draw(nonneg),
                "strokeOpacity": draw(st.floats(0, 1)), "fillOpacity": draw(st.floats(0, 1)),
                "color": draw(st.sampled_from(["#FFD700", "#000000", "#ffffff"]))}
               for _ in range(draw(st.integers(0, 4)))]
        region: dict[str, Any] = {"id": i, "start_time": a, "end_time": b, "enabled": draw(st.booleans()),
                                  "keyframes": kfs}
        if draw(st.booleans()):
            region["videoWidth"], region["videoHeight"] = draw(st.integers(1, 10**6)), draw(st.integers(1, 10**6))
        regions.append(region)
    return {"highlight_regions": regions, "effect_type": draw(st.sampled_from(["dark_overlay", "brightness_boost", "original"])),
            "overlay_settings": {"highlight_shape": draw(st.sampled_from(["body", "ground"])),
                                 "stroke_width": draw(st.floats(0, 50)), "fill_enabled": draw(st.booleans()),
                                 "fill_opacity": draw(st.floats(0, 1)), "dim_strength": draw(st.floats(0, 1))},
            "highlight_color": draw(st.sampled_from([None, "none", "#00FF00"])), "encode": {"preset": "ultrafast"},
            "include_audio": draw(st.booleans())}


@st.composite
def annotate_params(draw: st.DrawFn) -> dict[str, Any]:
    clips = []
    for _ in range(draw(st.integers(1, 4))):
        a, b = sorted(draw(st.lists(st.floats(min_value=0, max_value=0.7), min_size=2, max_size=2)))
        clips.append({"start_time": a, "end_time": b + 0.05, "name": draw(text), "notes": draw(text),
                      "rating": draw(st.integers(1, 5)), "tags": draw(st.lists(text, max_size=3))})
    return {"clips": clips, "mode": draw(st.sampled_from(["compilation", "clips"])),
            "min_rating": draw(st.integers(1, 5)), "encode": {"preset": "ultrafast"}}


GENERATORS = {"framing": framing_params(), "overlay": overlay_params(), "annotate": annotate_params()}


@SUPPORT.fuzz_settings(0.15)
@given(data=st.data(), kind=st.sampled_from(sorted(GENERATORS)))
def test_well_typed_hostile_params(fuzz_env: dict[str, Path], rel: Any, data: st.DataObject, kind: str) -> None:
    """Params that pass the schema with extreme values (1e308 coordinates, 5e-324 sizes, 1e-6
    speeds, 1:999999 aspect ratios, regions scaled from a 1-pixel editor canvas...): these reach
    the renderer, which must either produce a verified video or fail with a clean code."""
    doc = envelope(kind, params=data.draw(GENERATORS[kind]),
                   output_key="exports/clips" if kind == "annotate" else "exports/out.mp4")
    run_handler(doc, fuzz_env, rel)


# --------------------------------------------------------------------------- bugs the fuzzing found
# Each was a strict xfail until the library was fixed; these pin the fixes.
def _framing_job(keyframes: list[dict[str, Any]], **params: Any) -> dict[str, Any]:
    return envelope("framing", params={"target_width": 72, "target_height": 128, "clips": [{"keyframes": keyframes}],
                                       "encode": {"preset": "ultrafast"}, **params})


def test_catmull_rom_zoom_hold_zoom_keeps_a_valid_crop(fuzz_env: dict[str, Path], rel: Any) -> None:
    kfs = [{"time": t, "x": 0, "y": 0, "width": w, "height": h}
           for t, w, h in [(0.0, 96, 64), (0.2, 9.6, 6.4), (0.4, 9.6, 6.4), (0.6, 96, 64)]]
    run_handler(_framing_job(kfs), fuzz_env, rel)


def test_subpixel_crop_sizes_render_as_one_pixel_crops(fuzz_env: dict[str, Path], rel: Any) -> None:
    """Was KNOWN_BUG_CROP_COLLAPSE: a 5e-324 px crop with upscale_factor 0.001 underflowed to 0
    (ZeroDivisionError in timeline.output_size -> INTERNAL). Sizes > 0 are valid per the
    contract; below 1 px they count as 1 px, so the output is the rule's 2 px minimum."""
    kfs = [{"time": 0.0, "x": 0, "y": 0, "width": 5e-324, "height": 64}]
    outcome, result = run_handler(envelope("framing", params={"clips": [{"keyframes": kfs}], "upscale_factor": 0.001,
                                                              "encode": {"preset": "ultrafast"}}), fuzz_env, rel)
    assert outcome == "success" and (result["width"], result["height"]) == (2, 2), result


def test_paragraph_separator_in_a_banner_title(fuzz_env: dict[str, Path], rel: Any) -> None:
    """Was KNOWN_BUG_PARAGRAPH_SEPARATOR: U+2029 in a clip name made Pillow's raqm_layout() fail
    in the annotate banner -> INTERNAL. Text is made one line before layout (render/text.py)."""
    name = "a\u2029b\u2028c\x85d\r\ne"
    outcome, result = run_handler(envelope("annotate", params={
        "clips": [{"start_time": 0.0, "end_time": 0.3, "name": name, "notes": name, "tags": [name]}],
        "encode": {"preset": "ultrafast"}}), fuzz_env, rel)
    assert outcome == "success", result
