"""Build of reelgpu's one compiled module; everything else is declared in pyproject.toml.

``reelgpu.ops._resample`` applies the CPU resampler's tap tables with Pillow's fixed-point
arithmetic, vectorised (see reelgpu/ops/_resample.c). It is optional: without a C compiler the
install still succeeds and crop_scale falls back to the numpy implementation of the same
function (several times slower; ``reelgpu doctor`` says which one is in use).
"""

import sys

from setuptools import Extension, setup

# -O3 turns on the loop vectoriser at full strength (Python's default flags say -O2);
# MSVC spells it differently and vectorises at /O2 already.
compile_args = [] if sys.platform == "win32" else ["-O3"]

setup(
    ext_modules=[
        Extension(
            "reelgpu.ops._resample",
            ["reelgpu/ops/_resample.c"],
            extra_compile_args=compile_args,
            optional=True,
        )
    ]
)
