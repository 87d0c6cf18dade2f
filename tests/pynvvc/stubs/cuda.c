/* libcuda.so.1 stand-in: the CUDA driver API calls PyNvVideoCodec 2.2.4 links against (the
 * list is `nm -D --undefined-only PyNvVideoCodec_130*.so | grep ' cu'`), enough to load the
 * real extension and run its decode/encode paths with no GPU.
 *
 * Everything succeeds (CUDA_SUCCESS = 0). There is one device, one context, and "device
 * memory" is carved out of a host buffer, so a pointer handed out is never 0 and never
 * overlaps another; no copy ever moves bytes (the pixels are not what these tests are about).
 * Logged: the streams PyNvVideoCodec checks and copies on, and every 2-D copy (how it reads
 * the caller's NV12 planes).
 */
#include <stddef.h>
#include <stdint.h>

#include "stub_log.h"

typedef int CUresult;
typedef uint64_t CUdeviceptr;
typedef void *CUcontext, *CUstream, *CUevent;

static char the_context[64];  /* CUcontext: only compared, never looked into */
static char the_event[64];
static char the_stream[64];

/* "Device memory": a bump allocator over 64 MiB of (untouched, so unbacked) host memory,
 * wrapping round when full; frees are no-ops. 256-byte aligned like cudaMalloc. */
static char heap[64 << 20];
static size_t heap_used = 4096;

static CUdeviceptr carve(size_t n) {
    size_t size = (n + 255) & ~(size_t)255;
    size_t at = __atomic_fetch_add(&heap_used, size, __ATOMIC_RELAXED);
    if (at + size > sizeof heap) { /* wrap: stale pointers alias, which no test reads */
        __atomic_store_n(&heap_used, 4096 + size, __ATOMIC_RELAXED);
        at = 4096;
    }
    return (CUdeviceptr)(uintptr_t)(heap + at);
}

/* ---- device and context: one device (ordinal 0), one context for everything */
CUresult cuInit(unsigned flags) { (void)flags; return 0; }
CUresult cuDeviceGetCount(int *count) { *count = 1; return 0; }
CUresult cuDeviceGet(int *dev, int ordinal) { *dev = ordinal; return 0; }
CUresult cuCtxCreate_v2(CUcontext *ctx, unsigned flags, int dev) {
    (void)flags; (void)dev;
    *ctx = the_context;
    return 0;
}
CUresult cuCtxDestroy_v2(CUcontext ctx) { (void)ctx; return 0; }
CUresult cuCtxGetDevice(int *dev) { *dev = 0; return 0; }
CUresult cuCtxPopCurrent_v2(CUcontext *ctx) { if (ctx) *ctx = the_context; return 0; }
CUresult cuCtxPushCurrent_v2(CUcontext ctx) { (void)ctx; return 0; }
/* cudacontext=0 makes PyNvVideoCodec retain the primary context: hand out the same one. */
CUresult cuDevicePrimaryCtxRetain(CUcontext *ctx, int dev) { (void)dev; *ctx = the_context; return 0; }
CUresult cuDevicePrimaryCtxRelease_v2(int dev) { (void)dev; return 0; }

/* A non-zero cudastream is checked to belong to that context: say it does, and log which. */
CUresult cuStreamGetCtx(CUstream s, CUcontext *ctx) {
    stub_log("cuStreamGetCtx stream=%#lx", (unsigned long)(uintptr_t)s);
    *ctx = the_context;
    return 0;
}
CUresult cuStreamCreate(CUstream *s, unsigned flags) { (void)flags; *s = the_stream; return 0; }
CUresult cuStreamDestroy_v2(CUstream s) { (void)s; return 0; }
CUresult cuStreamSynchronize(CUstream s) { stub_log("cuStreamSynchronize stream=%#lx", (unsigned long)(uintptr_t)s); return 0; }
CUresult cuStreamWaitEvent(CUstream s, CUevent e, unsigned flags) { (void)s; (void)e; (void)flags; return 0; }

/* ---- events */
CUresult cuEventCreate(CUevent *e, unsigned flags) { (void)flags; *e = the_event; return 0; }
CUresult cuEventDestroy_v2(CUevent e) { (void)e; return 0; }
CUresult cuEventRecord(CUevent e, CUstream s) { (void)e; (void)s; return 0; }
CUresult cuEventSynchronize(CUevent e) { (void)e; return 0; }

/* ---- errors: only reached when some other stub fails on purpose */
CUresult cuGetErrorName(CUresult e, const char **s) { (void)e; *s = "CUDA_ERROR_STUB"; return 0; }
CUresult cuGetErrorString(CUresult e, const char **s) { (void)e; *s = "stub driver error"; return 0; }

/* ---- memory */
CUresult cuMemAlloc_v2(CUdeviceptr *p, size_t n) { *p = carve(n); return 0; }
CUresult cuMemAllocAsync(CUdeviceptr *p, size_t n, CUstream s) { (void)s; *p = carve(n); return 0; }
/* Pitch rounded up to 512 bytes, as real allocations are: a copy that ignores the pitch shows. */
CUresult cuMemAllocPitch_v2(CUdeviceptr *p, size_t *pitch, size_t width, size_t height, unsigned elem) {
    (void)elem;
    *pitch = (width + 511) & ~(size_t)511;
    *p = carve(*pitch * height);
    return 0;
}
CUresult cuMemFree_v2(CUdeviceptr p) { (void)p; return 0; }
CUresult cuMemFreeAsync(CUdeviceptr p, CUstream s) { (void)p; (void)s; return 0; }

/* CU_POINTER_ATTRIBUTE_CONTEXT = 1, _MEMORY_TYPE = 2 (answer CU_MEMORYTYPE_DEVICE = 2),
 * _DEVICE_POINTER = 3 (the pointer itself), _DEVICE_ORDINAL = 9: every pointer is device memory. */
CUresult cuPointerGetAttribute(void *out, int attribute, CUdeviceptr ptr) {
    switch (attribute) {
    case 1: *(CUcontext *)out = the_context; break;
    case 2: *(unsigned *)out = 2; break;
    case 3: *(CUdeviceptr *)out = ptr; break;
    default: *(int *)out = 0; break;
    }
    return 0;
}

/* CUDA_MEMCPY2D (cuda.h, 128 bytes on LP64); only the fields that are logged are used. */
typedef struct {
    size_t srcXInBytes, srcY;
    int srcMemoryType;
    const void *srcHost;
    CUdeviceptr srcDevice;
    void *srcArray;
    size_t srcPitch;
    size_t dstXInBytes, dstY;
    int dstMemoryType;
    void *dstHost;
    CUdeviceptr dstDevice;
    void *dstArray;
    size_t dstPitch;
    size_t WidthInBytes, Height;
} CUDA_MEMCPY2D;

static void log_copy(const char *name, const CUDA_MEMCPY2D *m, CUstream s) {
    stub_log("%s src=%#lx srcPitch=%zu dst=%#lx dstPitch=%zu width=%zu height=%zu stream=%#lx", name,
             (unsigned long)m->srcDevice, m->srcPitch, (unsigned long)m->dstDevice, m->dstPitch,
             m->WidthInBytes, m->Height, (unsigned long)(uintptr_t)s);
}
CUresult cuMemcpy2DAsync_v2(const CUDA_MEMCPY2D *m, CUstream s) { log_copy("cuMemcpy2DAsync", m, s); return 0; }
CUresult cuMemcpy2D_v2(const CUDA_MEMCPY2D *m) { log_copy("cuMemcpy2D", m, NULL); return 0; }
CUresult cuMemcpyDtoH_v2(void *dst, CUdeviceptr src, size_t n) { (void)dst; (void)src; (void)n; return 0; }
CUresult cuMemcpyDtoHAsync_v2(void *dst, CUdeviceptr src, size_t n, CUstream s) {
    (void)dst; (void)src; (void)n; (void)s;
    return 0;
}
CUresult cuMemcpyHtoD_v2(CUdeviceptr dst, const void *src, size_t n) { (void)dst; (void)src; (void)n; return 0; }
