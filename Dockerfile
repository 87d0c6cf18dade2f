# syntax=docker/dockerfile:1.7
# reelgpu RunPod serverless worker: NVDEC -> CuPy -> NVENC exports, CPU fallback included.
#
#   docker build --platform linux/amd64 -t <registry>/reelgpu-worker:<version> .
#   docker run --rm --gpus all <registry>/reelgpu-worker:<version>      # renders the baked-in sample
#
# The runtime flavour carries cudart/NVRTC; reelgpu[gpu] adds cuda-toolkit's cudart + nvrtc wheels,
# the CUDA headers CuPy 14 needs to compile kernels. PyNvVideoCodec loads NVDEC/NVENC from the host driver,
# which Docker mounts only with the "video" driver capability (the nvidia/cuda default is
# compute,utility). CUDA 12.4 keeps older RunPod hosts eligible: allow 12.4 and newer on the endpoint.
ARG CUDA_IMAGE=nvidia/cuda:12.4.1-runtime-ubuntu22.04
FROM ${CUDA_IMAGE}

ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_PREFER_BINARY=1 \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility,video \
    RUNPOD_LOG_LEVEL=INFO \
    REELGPU_LOG_LEVEL=INFO

# Python 3.10 from Ubuntu 22.04 (PyNvVideoCodec and CuPy ship cp310 wheels); PyAV bundles FFmpeg,
# so no ffmpeg package is needed. A CJK font (+ fontconfig to find it) lets banners draw any name.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates fontconfig fonts-wqy-zenhei \
 && rm -rf /var/lib/apt/lists/* \
 && python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /app

# 1) Dependencies only, cached until pyproject.toml changes: empty package stubs let pip resolve
#    ".[gpu,runpod]" without the source tree, then the stub install is removed again.
COPY pyproject.toml README.md LICENSE ./
RUN --mount=type=cache,target=/root/.cache/pip \
    mkdir -p reelgpu handler \
 && touch reelgpu/__init__.py handler/__init__.py \
 && pip install --upgrade pip \
 && pip install ".[gpu,runpod]" \
 && pip uninstall -y reelgpu \
 && rm -rf reelgpu handler build ./*.egg-info

# 2) The code (changes often; this layer is small). gcc and the Python headers build the CPU
#    resampler's compiled passes (reelgpu/ops/_resample.c) and are removed in the same layer;
#    `reelgpu doctor` in the image says "CPU resampler  compiled" when it worked. The library is
#    installed into site-packages and its source copy removed: `python -m handler` runs from
#    /app, and a reelgpu/ folder there would be imported instead of the installed package, which
#    alone holds the compiled passes. The worker (handler/, not part of the wheel) stays in /app.
COPY setup.py ./
COPY reelgpu/ reelgpu/
COPY handler/ handler/
COPY test_input.json ./
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev python3-dev \
 && pip install --no-deps . \
 && rm -rf reelgpu build ./*.egg-info \
 && python -c "import reelgpu.ops.resample_native as r, handler; assert r.AVAILABLE, 'compiled resampler missing'" \
 && apt-get purge -y --auto-remove gcc libc6-dev python3-dev \
 && rm -rf /var/lib/apt/lists/*

# 3) Non-root runtime with its own scratch space. Per-job temp dirs go to /scratch (size the
#    endpoint's container disk for input + output); without R2 variables the worker uses the
#    local storage folder /scratch/storage, where a tiny generated sample makes test_input.json
#    (and the Hub test) run out of the box.
RUN useradd --uid 10001 --create-home --shell /usr/sbin/nologin worker \
 && mkdir -p /scratch/storage \
 && python -m handler.sample --storage /scratch/storage \
 && chown -R worker:worker /scratch
ENV TMPDIR=/scratch \
    REELGPU_SCRATCH_DIR=/scratch \
    REELGPU_STORAGE_DIR=/scratch/storage
USER worker

# Exec form: Python is PID 1 and receives SIGTERM/SIGINT (the SDK drains in-flight jobs on them).
CMD ["python", "-u", "-m", "handler"]
