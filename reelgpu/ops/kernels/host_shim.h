// Host shim: compile the reelgpu CUDA kernels with the system C++ compiler.
//
//     g++ -O2 -shared -fPIC -include host_shim.h -I reelgpu/ops/kernels -x c++ kernel.cu launchers.cpp
//
// Why: the machines that develop and test reelgpu have no GPU. Running the very same kernel
// source on the CPU, over numpy buffers, checks its arithmetic and indexing against the numpy
// reference (tests/unit/test_kernels_host.py); nvcc --ptx checks that it is valid CUDA. What
// the shim cannot check is anything GPU-specific: races, launch limits, memory spaces.
//
// It provides just the built-ins the kernels may use (see rg_common.h): dim3, thread-local
// blockIdx/blockDim/threadIdx/gridDim, empty __global__/__device__ qualifiers, the IEEE *_rn
// intrinsics as plain operators (x86-64 SSE arithmetic rounds every operation and g++ does not
// contract to FMA without -mfma), and rg_launch(), which runs a kernel over its grid and block
// sequentially. Kernels must therefore not depend on inter-thread communication (__syncthreads
// is deliberately not provided); shared memory is only allowed through RG_SHARED, which is a
// per-thread static here.
#ifndef RG_HOST_SHIM_H
#define RG_HOST_SHIM_H

#define RG_HOST 1

#include <math.h>
#include <stdint.h>

struct dim3 {
    unsigned int x, y, z;
    dim3(unsigned int x_ = 1, unsigned int y_ = 1, unsigned int z_ = 1) : x(x_), y(y_), z(z_) {}
};
typedef dim3 uint3;

static thread_local uint3 blockIdx;
static thread_local uint3 threadIdx;
static thread_local dim3 blockDim;
static thread_local dim3 gridDim;

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __restrict__ __restrict
#define RG_SHARED static thread_local

static inline float __fadd_rn(float a, float b) { return a + b; }
static inline float __fsub_rn(float a, float b) { return a - b; }
static inline float __fmul_rn(float a, float b) { return a * b; }
static inline float __fdiv_rn(float a, float b) { return a / b; }
static inline double __dadd_rn(double a, double b) { return a + b; }
static inline double __dsub_rn(double a, double b) { return a - b; }
static inline double __dmul_rn(double a, double b) { return a * b; }
static inline double __ddiv_rn(double a, double b) { return a / b; }

// Run ``kernel(args...)`` for every thread of ``grid`` x ``block``, one after the other.
template <typename Kernel, typename... Args>
static void rg_launch(dim3 grid, dim3 block, Kernel kernel, Args... args) {
    gridDim = grid;
    blockDim = block;
    for (unsigned int bz = 0; bz < grid.z; ++bz)
        for (unsigned int by = 0; by < grid.y; ++by)
            for (unsigned int bx = 0; bx < grid.x; ++bx) {
                blockIdx = uint3(bx, by, bz);
                for (unsigned int tz = 0; tz < block.z; ++tz)
                    for (unsigned int ty = 0; ty < block.y; ++ty)
                        for (unsigned int tx = 0; tx < block.x; ++tx) {
                            threadIdx = uint3(tx, ty, tz);
                            kernel(args...);
                        }
            }
}

#endif  // RG_HOST_SHIM_H
