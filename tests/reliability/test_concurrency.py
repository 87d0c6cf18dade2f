"""Eight users at once through the runpod SDK's local API, with ``REELGPU_CONCURRENCY=4``.

Every user sends the *same* job id and the *same* output key for a different input (its own
duration, so frame counts tell the inputs apart): each output must land in its own user's
prefix with its own content, each job must have had its own temp dir (removed afterwards),
and the worker's memory must stay bounded while four jobs run side by side.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import reelgpu
from reelgpu.media.samples import make_sample_video

USERS = 8
PARAMS = {"target_width": 90, "target_height": 160, "encode": {"preset": "ultrafast"},
          "clips": [{"keyframes": [{"time": 0.0, "x": 10, "y": 0, "width": 54, "height": 96},
                                   {"time": 0.5, "x": 90, "y": 0, "width": 54, "height": 96}]}]}
RSS_GROWTH_LIMIT_MIB = 400  # 4 jobs of 160x96 frames; a leak or an unbounded queue would exceed it


def seconds_for(user: int) -> float:
    return 0.5 + 0.1 * user  # 15, 18, ... 36 frames at 30 fps: each input recognisable


@pytest.fixture(scope="module")
def inputs(s3: Any, rel: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    tmp = tmp_path_factory.mktemp("users")
    paths = {}
    for user in range(USERS):
        paths[user] = make_sample_video(tmp / f"u{user}.mp4", width=160, height=96, fps=30,
                                        seconds=seconds_for(user), tone_hz=300 + 50 * user)
        rel.put_object(s3, f"rel/users/c{user}/raw/in.mp4", paths[user])
    return paths


class ScratchWatcher:
    """Samples the worker's scratch root: how many per-job dirs exist at once, and which."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.max_at_once = 0
        self.seen: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            dirs = {p.name for p in self.root.glob("reelgpu-job-*")} if self.root.exists() else set()
            self.max_at_once = max(self.max_at_once, len(dirs))
            self.seen |= dirs
            self._stop.wait(0.01)

    def __enter__(self) -> ScratchWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def luma(path: Path) -> list[np.ndarray]:
    import av

    with av.open(str(path)) as c:
        return [np.asarray(f.to_ndarray(format="gray"), dtype=np.float64) for f in c.decode(video=0)]


def test_eight_users_in_parallel(worker: Any, s3: Any, rel: Any, inputs: dict[int, Path], tmp_path: Path) -> None:
    def job(user: int) -> dict[str, Any]:
        return {"job_id": "reel-export-1", "user_id": f"rel/users/c{user}", "type": "framing",
                "input_key": "raw/in.mp4", "output_key": "exports/reel.mp4", "params": PARAMS}

    warm = worker.runsync({**job(0), "job_id": "warm-up", "output_key": "exports/warm.mp4"})
    assert warm["status"] == "COMPLETED", warm
    s3.delete_object(Bucket=rel.BUCKET, Key="rel/users/c0/exports/warm.mp4")
    baseline_kib = rel.rss_kib(worker.proc.pid)

    t0 = time.monotonic()
    with rel.RssSampler(worker.proc.pid) as rss, ScratchWatcher(worker.scratch) as scratch, \
            ThreadPoolExecutor(USERS) as pool:
        responses = list(pool.map(lambda u: worker.runsync(job(u), timeout=240), range(USERS)))
    wall = time.monotonic() - t0

    for user, resp in enumerate(responses):
        assert resp["status"] == "COMPLETED", (user, resp)
        assert rel.assert_clean(resp["output"]) == "success"
        assert resp["output"]["frames"] == round(seconds_for(user) * 30), (user, resp["output"]["frames"])

    # Each prefix holds its input and its own output, nothing else.
    for user in range(USERS):
        listing = s3.list_objects_v2(Bucket=rel.BUCKET, Prefix=f"rel/users/c{user}/")
        keys = sorted(o["Key"] for o in listing.get("Contents", []))
        assert keys == [f"rel/users/c{user}/exports/reel.mp4", f"rel/users/c{user}/raw/in.mp4"], keys

    # And the content is that user's: same frames as rendering their input directly.
    for user in (0, USERS // 2, USERS - 1):
        local = tmp_path / f"c{user}.mp4"
        s3.download_file(rel.BUCKET, f"rel/users/c{user}/exports/reel.mp4", str(local))
        direct = reelgpu.framing(inputs[user], tmp_path / f"direct{user}.mp4", PARAMS, device="cpu")
        got, want = luma(local), luma(direct.output)
        assert len(got) == len(want) == direct.frames
        worst = max(float(np.mean((a - b) ** 2)) for a, b in zip(got, want))
        assert worst < 2.0, f"user {user}: frames differ from a direct render (MSE {worst:.2f})"

    assert scratch.max_at_once >= 2, "jobs did not overlap: REELGPU_CONCURRENCY had no effect"
    assert scratch.max_at_once <= 4, "more jobs in flight than REELGPU_CONCURRENCY"
    assert not list(worker.scratch.glob("reelgpu-job-*")), "a per-job temp dir survived"
    assert not rel.files_under(worker.tmpdir), "a temp file outside the per-job dirs survived"
    growth_mib = (rss.peak - baseline_kib) / 1024
    assert growth_mib < RSS_GROWTH_LIMIT_MIB, f"worker RSS grew by {growth_mib:.0f} MiB"
    rel.report("concurrency", users=USERS, concurrency=4, wall_s=round(wall, 2),
               max_jobs_at_once=scratch.max_at_once, scratch_dirs_seen=len(scratch.seen),
               rss_baseline_mib=round(baseline_kib / 1024), rss_peak_mib=round(rss.peak / 1024),
               rss_growth_mib=round(growth_mib))
