// Layout conversions at the hardware codec boundary.
//
// NVDEC hands out NV12 (8-bit) or P016 (10-bit in the high bits of 16-bit samples) surfaces with a
// row pitch; the ops work on planar I420. NVENC wants NV12 again, as one pitch == width buffer
// (Y rows immediately followed by the interleaved UV rows).
//
// The decode-side kernels also turn the picture upright: ``quarter`` counter-clockwise quarter
// turns exactly like numpy.rot90(plane, quarter) in decode_cpu.frame_to_planes. For an output
// sample (i, j) of a source plane of w x h samples:
//   0: (i, j)    1: (j, w-1-i)    2: (h-1-i, w-1-j)    3: (h-1-j, i)
// P016 -> 8 bit rounds: (v16 + 128) >> 8, clipped (libswscale dithers instead, so the CPU path
// can differ by 1 level on 10-bit sources).
#include "rg_common.h"

__device__ __forceinline__ void rg_rot_src(int i, int j, int w, int h, int quarter, int* si, int* sj) {
    if (quarter == 1) { *si = j; *sj = w - 1 - i; }
    else if (quarter == 2) { *si = h - 1 - i; *sj = w - 1 - j; }
    else if (quarter == 3) { *si = h - 1 - j; *sj = i; }
    else { *si = i; *sj = j; }
}

__device__ __forceinline__ rg_u8 rg_u16_to_u8(rg_u16 v) {
    int r = ((int)v + 128) >> 8;
    return (rg_u8)(r > 255 ? 255 : r);
}

// Luma: src is w x h samples (pitch in bytes); dst is the rotated plane (h x w for odd quarters).
extern "C" __global__ void rg_y_from_nv12(const rg_u8* src, int src_pitch, int w, int h,
                                          rg_u8* dst, int dst_pitch, int quarter) {
    int ow = (quarter & 1) ? h : w, oh = (quarter & 1) ? w : h;
    int j = rg_col();
    int i = rg_row();
    if (j >= ow || i >= oh) return;
    int si, sj;
    rg_rot_src(i, j, w, h, quarter, &si, &sj);
    dst[(long long)i * dst_pitch + j] = src[(long long)si * src_pitch + sj];
}

// Chroma: src holds cw x ch interleaved UV pairs; writes the rotated U and V planes.
extern "C" __global__ void rg_uv_from_nv12(const rg_u8* src, int src_pitch, int cw, int ch,
                                           rg_u8* u, rg_u8* v, int dst_pitch, int quarter) {
    int ow = (quarter & 1) ? ch : cw, oh = (quarter & 1) ? cw : ch;
    int j = rg_col();
    int i = rg_row();
    if (j >= ow || i >= oh) return;
    int si, sj;
    rg_rot_src(i, j, cw, ch, quarter, &si, &sj);
    const rg_u8* pair = src + (long long)si * src_pitch + 2 * sj;
    u[(long long)i * dst_pitch + j] = pair[0];
    v[(long long)i * dst_pitch + j] = pair[1];
}

// As rg_y_from_nv12 for P016 (pitch in bytes, samples 16-bit).
extern "C" __global__ void rg_y_from_p016(const rg_u16* src, int src_pitch, int w, int h,
                                          rg_u8* dst, int dst_pitch, int quarter) {
    int ow = (quarter & 1) ? h : w, oh = (quarter & 1) ? w : h;
    int j = rg_col();
    int i = rg_row();
    if (j >= ow || i >= oh) return;
    int si, sj;
    rg_rot_src(i, j, w, h, quarter, &si, &sj);
    const rg_u16* line = (const rg_u16*)((const rg_u8*)src + (long long)si * src_pitch);
    dst[(long long)i * dst_pitch + j] = rg_u16_to_u8(line[sj]);
}

// As rg_uv_from_nv12 for P016.
extern "C" __global__ void rg_uv_from_p016(const rg_u16* src, int src_pitch, int cw, int ch,
                                           rg_u8* u, rg_u8* v, int dst_pitch, int quarter) {
    int ow = (quarter & 1) ? ch : cw, oh = (quarter & 1) ? cw : ch;
    int j = rg_col();
    int i = rg_row();
    if (j >= ow || i >= oh) return;
    int si, sj;
    rg_rot_src(i, j, cw, ch, quarter, &si, &sj);
    const rg_u16* pair = (const rg_u16*)((const rg_u8*)src + (long long)si * src_pitch) + 2 * sj;
    u[(long long)i * dst_pitch + j] = rg_u16_to_u8(pair[0]);
    v[(long long)i * dst_pitch + j] = rg_u16_to_u8(pair[1]);
}

// I420 planes -> one NV12 buffer with pitch == width: rows [0, h) luma, rows [h, 3h/2) UV pairs.
// One thread per chroma sample writes its UV pair and its 2x2 luma block.
extern "C" __global__ void rg_i420_to_nv12(const rg_u8* y, int y_pitch, const rg_u8* u, int u_pitch,
                                           const rg_u8* v, int v_pitch, rg_u8* dst, int w, int h) {
    int j = rg_col();
    int i = rg_row();
    int cw = w / 2, ch = h / 2;
    if (j >= cw || i >= ch) return;
    for (int dy = 0; dy < 2; ++dy) {
        const rg_u8* ys = y + (long long)(2 * i + dy) * y_pitch + 2 * j;
        rg_u8* yd = dst + (long long)(2 * i + dy) * w + 2 * j;
        yd[0] = ys[0];
        yd[1] = ys[1];
    }
    rg_u8* uv = dst + (long long)h * w + (long long)i * w + 2 * j;
    uv[0] = u[(long long)i * u_pitch + j];
    uv[1] = v[(long long)i * v_pitch + j];
}
