// Helpers shared by every reelgpu kernel.
//
// The same text is compiled three ways: by NVRTC (cupy.RawModule, which inlines this header),
// by nvcc --ptx (tests/unit/test_kernels_nvcc.py) and by the system C++ compiler through
// host_shim.h (tests/unit/test_kernels_host.py). So kernels use only a small set of CUDA
// built-ins: blockIdx/blockDim/threadIdx, __global__/__device__/__forceinline__, the IEEE
// round-to-nearest intrinsics below, floor/fmin/fmax/sqrt. No textures, no warp intrinsics,
// no __syncthreads, and shared memory only through RG_SHARED.
//
// Why the *_rn intrinsics: the numpy references round every float32 product and sum on its own
// (numpy never fuses), while nvcc/NVRTC contract a*b+c into one FMA by default. __fmul_rn and
// __fadd_rn are never contracted, so the kernels produce the reference's float32 values bit for
// bit wherever the reference is an elementwise expression (highlight, sprite, mix, rotation).
#ifndef RG_COMMON_H
#define RG_COMMON_H

#ifndef RG_HOST
#define RG_SHARED __shared__
#endif

typedef unsigned char rg_u8;
typedef unsigned short rg_u16;

// Round half up and clip to 8 bits: clip(v + 0.5, 0, 255) truncated, which equals
// clip(floor(v + 0.5), 0, 255), the rounding of every numpy reference.
__device__ __forceinline__ rg_u8 rg_round_u8(float v) {
    v = __fadd_rn(v, 0.5f);
    v = fminf(fmaxf(v, 0.0f), 255.0f);
    return (rg_u8)v;
}

__device__ __forceinline__ int rg_clampi(int v, int lo, int hi) {
    return v < lo ? lo : (v > hi ? hi : v);
}

__device__ __forceinline__ float rg_clamp01(float v) {
    return fminf(fmaxf(v, 0.0f), 1.0f);
}

// float32 hypot as glibc computes it (numpy's np.hypot on float32 calls hypotf): exact squares
// and sum in double, one rounding of the square root to float.
__device__ __forceinline__ float rg_hypotf(float a, float b) {
    double da = (double)a, db = (double)b;
    return (float)sqrt(__dadd_rn(__dmul_rn(da, da), __dmul_rn(db, db)));
}

// Flat 2-D thread coordinates: x along columns, y along rows.
__device__ __forceinline__ int rg_col() { return (int)(blockIdx.x * blockDim.x + threadIdx.x); }
__device__ __forceinline__ int rg_row() { return (int)(blockIdx.y * blockDim.y + threadIdx.y); }

#endif  // RG_COMMON_H
