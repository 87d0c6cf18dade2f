"""Storage key rules and the job envelope (CONTRACT.md, "Job envelope"): keys are validated,
never normalised, and the ``{user_id}/`` prefix cannot be escaped."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import reelgpu
from handler.envelope import parse_envelope
from handler.errors import JobError
from handler.keys import MAX_KEY_BYTES, check_key, check_user_id, resolve_key
from handler.plan import plan_job
from handler.settings import Settings
from reelgpu.limits import Limits

USER = "prod/users/5f0c/profiles/default"
FRAMING = {"clips": [{"keyframes": [{"time": 0, "x": 0, "y": 0, "width": 54, "height": 96}]}]}


def envelope(**overrides: Any) -> dict[str, Any]:
    base = {"job_id": "export_1787116043463_x582pkj", "user_id": USER, "type": "framing",
            "input_key": "temp/multi_clip/source_0.mp4", "output_key": "working_videos/working_42.mp4",
            "params": FRAMING}
    base.update(overrides)
    return base


# --------------------------------------------------------------------------- single keys
@pytest.mark.parametrize("key", [
    "raw_clips/test.mp4",
    "working_videos/working_42_1a2b3c4d.mp4",
    "temp/multi_clip_export_1787116043463_x582pkj/source_0.mp4",
    "games/9b1de4.mp4",
    "a",
    "dir/.hidden",
    "dots.../x..y/...",  # only exact '.'/'..' segments are path syntax
    "ünïcödé/名前.mp4",
    "a" * MAX_KEY_BYTES,
])
def test_valid_keys_are_returned_unchanged(key: str) -> None:
    assert check_key(key, "input_key") == key


@pytest.mark.parametrize(("key", "why"), [
    ("", "empty"),
    ("/abs/path.mp4", "start with '/'"),
    ("a//b.mp4", "empty path segment"),
    ("a/b/", "empty path segment"),
    ("../x.mp4", "'..'"),
    ("a/../../x.mp4", "'..'"),
    ("a/./x.mp4", "'.'"),
    (".", "'.'"),
    ("a\\..\\x.mp4", "backslash"),
    ("a/%2e%2e/x.mp4", "'%'"),
    ("a%2Fb", "'%'"),
    ("a/b\x00.mp4", "U+0000"),
    ("a/b\n.mp4", "U+000A"),
    ("a/b\x7f", "U+007F"),
    ("a/\u202egnp.exe", "U+202E"),  # right-to-left override: a spoofed name
    ("a" * (MAX_KEY_BYTES + 1), "bytes"),
    ("é" * (MAX_KEY_BYTES // 2 + 1), "bytes"),  # the limit counts UTF-8 bytes, not characters
    ("a/\ud800.mp4", "UTF-8"),
])
def test_invalid_keys_are_forbidden(key: str, why: str) -> None:
    with pytest.raises(JobError) as err:
        check_key(key, "input_key")
    assert err.value.code == "FORBIDDEN_KEY"
    assert str(err.value).startswith("input_key ") and why in str(err.value)


def test_non_string_key_is_invalid_input() -> None:
    with pytest.raises(JobError) as err:
        check_key(42, "output_key")
    assert err.value.code == "INVALID_INPUT"


def test_user_prefix_and_global_games_keys() -> None:
    assert resolve_key("raw/x.mp4", USER, "input_key") == f"{USER}/raw/x.mp4"
    assert resolve_key("games/abc.mp4", USER, "input_key") == "games/abc.mp4"
    assert resolve_key("games", USER, "input_key") == f"{USER}/games"  # only 'games/' is global
    with pytest.raises(JobError, match="read-only") as err:
        resolve_key("games/abc.mp4", USER, "output_key", write=True)
    assert err.value.code == "FORBIDDEN_KEY"


def test_prefixed_key_may_not_exceed_the_limit() -> None:
    key = "a" * (MAX_KEY_BYTES - 4)
    assert check_key(key) == key
    with pytest.raises(JobError, match="user prefix"):
        resolve_key(key, USER, "input_key")


@pytest.mark.parametrize("user_id", ["games", "games/x", "../u", "u/../v", "/u", "u/", "", "u\\v", "u%2f"])
def test_bad_user_ids_are_forbidden(user_id: str) -> None:
    with pytest.raises(JobError) as err:
        check_user_id(user_id)
    assert err.value.code == "FORBIDDEN_KEY"


# --------------------------------------------------------------------------- properties
SEGMENT_CHARS = st.sampled_from(list("abcXYZ019._-é/%\\\x00 ") + ["..", "."])
ANY_KEY = st.lists(SEGMENT_CHARS, max_size=30).map("".join) | st.text(max_size=60)
USER_IDS = st.sampled_from([USER, "u1", "dev/users/a b/profiles/x"])


@settings(max_examples=400, deadline=None)
@given(key=ANY_KEY, user_id=USER_IDS)
def test_accepted_keys_never_escape_the_user_prefix(key: str, user_id: str) -> None:
    try:
        full = resolve_key(key, user_id, "input_key")
    except JobError as err:
        assert err.code in ("FORBIDDEN_KEY", "INVALID_INPUT")
        return
    # Validated, never normalised: the key is used exactly as given...
    assert full in (key, f"{user_id}/{key}")
    # ...inside the user's prefix, or the global footage...
    assert full.startswith(user_id + "/") or full.startswith("games/")
    # ...and nothing in it means "go up" or "start over" to a tool that treats keys as paths.
    segments = full.split("/")
    assert "" not in segments and "." not in segments and ".." not in segments
    assert "\\" not in full and "%" not in full and len(full.encode()) <= MAX_KEY_BYTES


@settings(max_examples=200, deadline=None)
@given(parts=st.lists(st.from_regex(r"[a-z0-9_]{1,8}", fullmatch=True), min_size=1, max_size=5),
       bad=st.sampled_from(["..", ".", ""]), at=st.integers(min_value=0, max_value=5))
def test_any_dot_or_empty_segment_is_rejected(parts: list[str], bad: str, at: int) -> None:
    parts = list(parts)
    parts.insert(min(at, len(parts)), bad)
    with pytest.raises(JobError) as err:
        resolve_key("/".join(parts), USER, "input_key")
    assert err.value.code == "FORBIDDEN_KEY"


@settings(max_examples=200, deadline=None)
@given(key=st.text(max_size=40), user_id=USER_IDS)
def test_only_outputs_outside_games_are_writable(key: str, user_id: str) -> None:
    try:
        full = resolve_key(key, user_id, "output_key", write=True)
    except JobError:
        return
    assert full.startswith(user_id + "/") and not full.startswith("games/")


# --------------------------------------------------------------------------- envelope
def test_envelope_accepts_the_contract_shape() -> None:
    env = parse_envelope(envelope())
    assert env.type == "framing" and env.params == FRAMING


@pytest.mark.parametrize(("change", "needle"), [
    ({"outputKey": "x.mp4"}, "input.outputKey: unknown key"),
    ({"type": "blur"}, "input.type"),
    ({"job_id": ""}, "input.job_id"),
    ({"job_id": "bad id\nwith newline"}, "input.job_id"),
    ({"user_id": 5}, "input.user_id"),
    ({"params": "not-an-object"}, "input.params"),
])
def test_envelope_errors_name_the_field(change: dict[str, Any], needle: str) -> None:
    with pytest.raises(JobError) as err:
        parse_envelope(envelope(**change))
    assert err.value.code == "INVALID_INPUT" and needle in str(err.value)


def test_missing_envelope_field_is_reported() -> None:
    raw = envelope()
    del raw["output_key"]
    with pytest.raises(JobError, match=r"input.output_key: required"):
        parse_envelope(raw)


def test_plan_uses_the_library_contract_for_params() -> None:
    bad = {"clips": [{"keyframes": [{"time": 0, "x": 0, "y": 0, "width": 0, "height": 9}]}]}
    with pytest.raises(reelgpu.InvalidSpec, match=r"params.clips\[0\].keyframes\[0\].width"):
        plan_job(envelope(params=bad), Settings())


def test_plan_checks_spec_limits_and_payload_size() -> None:
    many = {"clips": [{"keyframes": [{"time": i, "x": 0, "y": 0, "width": 9, "height": 16} for i in range(5)]}]}
    with pytest.raises(reelgpu.LimitExceeded, match="keyframes"):
        plan_job(envelope(params=many), Settings(limits=Limits(max_keyframes_per_clip=4)))
    with pytest.raises(JobError, match="payload") as err:
        plan_job(envelope(), Settings(limits=Limits(max_payload_bytes=100)))
    assert err.value.code == "LIMIT_EXCEEDED"


@pytest.mark.parametrize(("size", "refused"), [(10_000_000, False), (10_000_001, True)])
def test_default_payload_limit_is_ten_megabytes(size: int, refused: bool) -> None:
    """CONTRACT.md and RunPod's /run: a job payload of at most 10 MB (10,000,000 bytes)."""
    from handler.envelope import payload_size

    padded = envelope(params={**FRAMING, "meta": {"pad": ""}})
    padded["params"]["meta"]["pad"] = "x" * (size - payload_size(padded))
    assert payload_size(padded) == size
    if refused:
        with pytest.raises(JobError, match="payload is 10000001 bytes, over the limit of 10000000") as err:
            plan_job(padded, Settings())
        assert err.value.code == "LIMIT_EXCEEDED"
    else:
        assert plan_job(padded, Settings()).spec.meta["pad"]


def test_plan_validates_keys_named_in_params() -> None:
    params = {"clips": [{"source_key": "../other-user/x.mp4"}]}
    with pytest.raises(JobError, match="params key") as err:
        plan_job(envelope(params=params), Settings())
    assert err.value.code == "FORBIDDEN_KEY"
    ok = plan_job(envelope(params={"clips": [{"source_key": "games/g.mp4"}, {"source_key": "raw/b.mp4"}]}),
                  Settings())
    assert ok.sources == {"games/g.mp4": "games/g.mp4", "raw/b.mp4": f"{USER}/raw/b.mp4"}


def test_output_may_not_overwrite_an_input() -> None:
    with pytest.raises(JobError, match="differ") as err:
        plan_job(envelope(output_key="temp/multi_clip/source_0.mp4"), Settings())
    assert err.value.code == "INVALID_INPUT"


def test_annotate_clips_mode_marks_completion_with_the_sidecar() -> None:
    params = {"mode": "clips", "clips": [{"start_time": 0, "end_time": 1}],
              "input_keys": {"1": "games/a.mp4", "2": "games/b.mp4"}}
    plan = plan_job(envelope(type="annotate", input_key="games/a.mp4", output_key="exports/clips",
                             params=params), Settings())
    assert plan.marker_key == "exports/clips.json"
    assert set(plan.sources) == {"games/a.mp4", "games/b.mp4"}


def test_settings_limits_from_env() -> None:
    s = Settings.from_env({"REELGPU_LIMIT_MAX_CLIPS": "7", "REELGPU_JOB_TIMEOUT_S": "60", "REELGPU_DEVICE": "cpu"})
    assert s.limits.max_clips == 7 and s.job_timeout_s == 60 and s.device == "cpu"
    with pytest.raises(ValueError, match="REELGPU_DEVICE"):
        Settings.from_env({"REELGPU_DEVICE": "tpu"})


def test_settings_range_reads_from_env() -> None:
    s = Settings.from_env({"REELGPU_RANGE_READ_MIN_MIB": "0", "REELGPU_RANGE_BLOCK_MIB": "0.25"})
    assert s.range_read_min_bytes == 0 and s.range_block_bytes == 256 * 1024
    assert Settings.from_env({}).range_read_min_bytes == 64 * 2**20 == Settings().range_read_min_bytes
    with pytest.raises(ValueError, match=r"REELGPU_RANGE_BLOCK_MIB='0.01' must be a finite number >= 0.0625"):
        Settings.from_env({"REELGPU_RANGE_BLOCK_MIB": "0.01"})


def test_scratch_names_become_keys_in_one_pass() -> None:
    """A key put into a message is not matched again: the input's scratch name 00.mp4 became
    the output key when that key ended in the input key ("video.mp4" -> "exports/video.mp4")."""
    from pathlib import Path

    from handler.inputs import keys_for_paths

    work = Path("/tmp/reelgpu-job-x1")
    names = {work / "00.mp4": "video.mp4", work / "out" / "video.mp4": "exports/video.mp4", work: "<scratch>"}
    assert keys_for_paths("00.mp4: NVDEC cannot decode it", names) == "video.mp4: NVDEC cannot decode it"
    assert keys_for_paths(f"{work}/00.mp4 and {work}/out/video.mp4 in {work}", names) == \
        "video.mp4 and exports/video.mp4 in <scratch>"
    assert keys_for_paths("x00.mp4 stays", names) == "x00.mp4 stays"


@pytest.mark.parametrize(("name", "raw", "says"), [
    ("REELGPU_LIMIT_MAX_CLIPS", "abc", "REELGPU_LIMIT_MAX_CLIPS='abc' is not a number"),
    ("REELGPU_LIMIT_MAX_OUTPUT_DURATION_S", "-5", "REELGPU_LIMIT_MAX_OUTPUT_DURATION_S='-5' must be a finite number"),
    ("REELGPU_JOB_TIMEOUT_S", "0", "REELGPU_JOB_TIMEOUT_S='0' must be a finite number >= 1"),
    ("REELGPU_JOB_TIMEOUT_S", "nan", "REELGPU_JOB_TIMEOUT_S='nan' must be a finite number"),
    ("REELGPU_MAX_INPUT_BYTES", "inf", "REELGPU_MAX_INPUT_BYTES='inf' must be a finite number"),
    ("REELGPU_CONCURRENCY", "two", "REELGPU_CONCURRENCY='two' is not a number"),
    ("REELGPU_CONCURRENCY", "2.5", "REELGPU_CONCURRENCY='2.5' must be a whole number"),
    ("REELGPU_LIMIT_MAX_CLIPS", "0.5", "REELGPU_LIMIT_MAX_CLIPS='0.5' must be a whole number"),
    ("REELGPU_PROGRESS_INTERVAL_S", "-1", "REELGPU_PROGRESS_INTERVAL_S='-1' must be a finite number >= 0"),
])
def test_a_bad_setting_names_its_variable(name: str, raw: str, says: str) -> None:
    with pytest.raises(ValueError, match=re.escape(says)):
        Settings.from_env({name: raw})


def test_r2_part_size_under_five_mib_is_refused() -> None:
    from handler.storage import storage_from_env

    r2 = {"R2_ENDPOINT": "http://127.0.0.1:9", "R2_ACCESS_KEY_ID": "k", "R2_SECRET_ACCESS_KEY": "s",
          "R2_BUCKET_NAME": "b", "REELGPU_S3_PART_MIB": "4"}
    with pytest.raises(ValueError, match=r"REELGPU_S3_PART_MIB='4' must be a finite number >= 5"):
        storage_from_env(r2)


def test_settings_and_the_concurrency_modifier_read_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    from handler.job import concurrency_modifier

    for raw, jobs in [("4", 4), ("4.0", 4), ("1e1", 10), ("", 1)]:
        monkeypatch.setenv("REELGPU_CONCURRENCY", raw)
        assert concurrency_modifier(1) == jobs == Settings.from_env().concurrency
    assert Settings.from_env({"REELGPU_LIMIT_MAX_TEXT_LAYERS": "0"}).limits.max_text_layers == 0  # a limit too
