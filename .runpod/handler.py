"""RunPod Hub entry point: the Hub looks for a handler.py here; the worker lives in `handler`.

This file's own folder is dropped from sys.path first, or ``import handler`` would import this
file instead of the package.
"""

import os
import sys

_here = os.path.dirname(os.path.abspath(__file__))
sys.path = [p for p in sys.path if os.path.abspath(p or ".") != _here]
sys.path.insert(0, os.path.dirname(_here))

from handler.__main__ import main  # noqa: E402

if __name__ == "__main__":
    main()
