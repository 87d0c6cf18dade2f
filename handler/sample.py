"""``python -m handler.sample``: put a generated sample video into the local storage folder.

``test_input.json`` names ``local-user/samples/sample.mp4``; this writes it (into
``REELGPU_STORAGE_DIR``, default ``./storage``) so that ``python -m handler`` runs out of the box
without R2 credentials or a committed binary.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from .storage import LocalStorage, storage_from_env


def write_sample(storage: LocalStorage, key: str, *, width: int = 320, height: int = 180,
                 fps: int = 30, seconds: float = 2.0) -> str:
    """Generate the sample with reelgpu's own generator and publish it under ``key``."""
    from reelgpu.media.samples import make_sample_video

    with tempfile.TemporaryDirectory() as tmp:
        path = make_sample_video(Path(tmp) / "sample.mp4", width=width, height=height, fps=fps,
                                 seconds=seconds, audio=True)
        storage.upload(path, key, content_type="video/mp4")
    return key


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m handler.sample", description=__doc__)
    parser.add_argument("--storage", help="storage folder (default: REELGPU_STORAGE_DIR or ./storage)")
    parser.add_argument("--key", default="local-user/samples/sample.mp4", help="full key to write")
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=180)
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args(argv)
    storage = LocalStorage(args.storage) if args.storage else storage_from_env()
    if not isinstance(storage, LocalStorage):
        parser.error("R2 variables are set: this tool only writes to a local storage folder")
    write_sample(storage, args.key, width=args.width, height=args.height, seconds=args.seconds)
    print(f"wrote {storage.root / args.key}")


if __name__ == "__main__":
    main()
