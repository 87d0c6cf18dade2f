// Crop + optional rotation + separable bicubic (a = -0.5) resampling of one uint8 plane.
//
// Mirrors reelgpu/ops/crop_scale.py. The per-axis taps (absolute source index + float32 weight,
// K slots per output sample, unused slots weight 0 with an in-range index) are computed on the
// host by reelgpu.ops.resample.axis_taps and uploaded once per distinct (plane, box, size), so
// the resampling math is defined in exactly one place. Each pass is one weighted sum per output
// sample, rounded and clipped to 8 bits like Pillow/the reference (the intermediate is stored as
// uint8; the reference rounds it in float32 to the same integers).
//
// A pass reads src[(r + row_off) * pitch + (c - col_off)]: the unrotated path passes the plane
// itself with the window origin as offsets; the rotated path passes the rotated window buffer.
#include "rg_common.h"

// Horizontal pass: dst[r, i] = round(sum_k w[i, k] * src[r + row_off, index[i, k] - col_off])
// for r in [0, rows), i in [0, out_w).
extern "C" __global__ void rg_resample_h(const rg_u8* src, int src_pitch, int row_off, int col_off,
                                         rg_u8* dst, int dst_pitch, int rows, int out_w,
                                         const int* index, const float* weight, int taps) {
    int i = rg_col();
    int r = rg_row();
    if (i >= out_w || r >= rows) return;
    const rg_u8* line = src + (long long)(r + row_off) * src_pitch - col_off;
    const int* idx = index + (long long)i * taps;
    const float* wt = weight + (long long)i * taps;
    float acc = 0.0f;
    for (int k = 0; k < taps; ++k) {
        acc = __fadd_rn(acc, __fmul_rn(wt[k], (float)line[idx[k]]));
    }
    dst[(long long)r * dst_pitch + i] = rg_round_u8(acc);
}

// Vertical pass: dst[j, c] = round(sum_k w[j, k] * src[index[j, k] - row_off, c + col_off])
// for j in [0, out_h), c in [0, cols).
extern "C" __global__ void rg_resample_v(const rg_u8* src, int src_pitch, int row_off, int col_off,
                                         rg_u8* dst, int dst_pitch, int out_h, int cols,
                                         const int* index, const float* weight, int taps) {
    int c = rg_col();
    int j = rg_row();
    if (c >= cols || j >= out_h) return;
    const int* idx = index + (long long)j * taps;
    const float* wt = weight + (long long)j * taps;
    const rg_u8* column = src + c + col_off;
    float acc = 0.0f;
    for (int k = 0; k < taps; ++k) {
        acc = __fadd_rn(acc, __fmul_rn(wt[k], (float)column[(long long)(idx[k] - row_off) * src_pitch]));
    }
    dst[(long long)j * dst_pitch + c] = rg_round_u8(acc);
}

// Output samples whose centre lies outside the plane get the fill colour (valid_* are 0/1
// bytes per output column/row; the reference overwrites them after both passes).
extern "C" __global__ void rg_fill_invalid(rg_u8* dst, int dst_pitch, int out_w, int out_h,
                                           const rg_u8* valid_x, const rg_u8* valid_y, int fill) {
    int i = rg_col();
    int j = rg_row();
    if (i >= out_w || j >= out_h) return;
    if (!valid_x[i] || !valid_y[j]) dst[(long long)j * dst_pitch + i] = (rg_u8)fill;
}

// Constant fill of a rectangle (the whole output when the box misses the plane).
extern "C" __global__ void rg_fill(rg_u8* dst, int dst_pitch, int w, int h, int value) {
    int i = rg_col();
    int j = rg_row();
    if (i >= w || j >= h) return;
    dst[(long long)j * dst_pitch + i] = (rg_u8)value;
}

// Rows [r0, r0 + rows) x cols [c0, c0 + cols) of the plane rotated counter-clockwise about its
// centre, as crop_scale._rotate_window computes them: positions in float64, Catmull-Rom weights
// in float32 from the fractional position, 4x4 taps clamped to the plane, float32 accumulation
// in the reference's order, round half up; ``fill`` where the pixel centre maps outside.
extern "C" __global__ void rg_rotate_window(const rg_u8* src, int src_pitch, int width, int height,
                                            rg_u8* dst, int dst_pitch, int r0, int c0, int rows, int cols,
                                            double cos_a, double sin_a, int fill) {
    int c = rg_col();
    int r = rg_row();
    if (c >= cols || r >= rows) return;
    double half_w = (double)width / 2.0, half_h = (double)height / 2.0;
    double dx = __dsub_rn(__dadd_rn((double)(c0 + c), 0.5), half_w);
    double dy = __dsub_rn(__dadd_rn((double)(r0 + r), 0.5), half_h);
    double xs = __dsub_rn(__dadd_rn(half_w, __dmul_rn(cos_a, dx)), __dmul_rn(sin_a, dy));
    double ys = __dadd_rn(__dadd_rn(half_h, __dmul_rn(sin_a, dx)), __dmul_rn(cos_a, dy));
    rg_u8* out = dst + (long long)r * dst_pitch + c;
    if (!(xs >= 0.0 && xs < (double)width && ys >= 0.0 && ys < (double)height)) {
        *out = (rg_u8)fill;
        return;
    }
    double u = __dsub_rn(fmin(fmax(xs, 0.0), (double)width), 0.5);
    double v = __dsub_rn(fmin(fmax(ys, 0.0), (double)height), 0.5);
    double fx0 = floor(u), fy0 = floor(v);
    float tx = (float)__dsub_rn(u, fx0);
    float ty = (float)__dsub_rn(v, fy0);
    int x0 = (int)fx0, y0 = (int)fy0;

    float wx[4], wy[4];
    {
        float t2 = __fmul_rn(tx, tx), t3 = __fmul_rn(t2, tx);
        wx[0] = __fsub_rn(__fadd_rn(__fmul_rn(-0.5f, t3), t2), __fmul_rn(0.5f, tx));
        wx[1] = __fadd_rn(__fsub_rn(__fmul_rn(1.5f, t3), __fmul_rn(2.5f, t2)), 1.0f);
        wx[2] = __fadd_rn(__fadd_rn(__fmul_rn(-1.5f, t3), __fmul_rn(2.0f, t2)), __fmul_rn(0.5f, tx));
        wx[3] = __fsub_rn(__fmul_rn(0.5f, t3), __fmul_rn(0.5f, t2));
    }
    {
        float t2 = __fmul_rn(ty, ty), t3 = __fmul_rn(t2, ty);
        wy[0] = __fsub_rn(__fadd_rn(__fmul_rn(-0.5f, t3), t2), __fmul_rn(0.5f, ty));
        wy[1] = __fadd_rn(__fsub_rn(__fmul_rn(1.5f, t3), __fmul_rn(2.5f, t2)), 1.0f);
        wy[2] = __fadd_rn(__fadd_rn(__fmul_rn(-1.5f, t3), __fmul_rn(2.0f, t2)), __fmul_rn(0.5f, ty));
        wy[3] = __fsub_rn(__fmul_rn(0.5f, t3), __fmul_rn(0.5f, t2));
    }
    int cols4[4];
    for (int n = 0; n < 4; ++n) cols4[n] = rg_clampi(x0 - 1 + n, 0, width - 1);
    float acc = 0.0f;
    for (int m = 0; m < 4; ++m) {
        const rg_u8* line = src + (long long)rg_clampi(y0 - 1 + m, 0, height - 1) * src_pitch;
        float sum = __fmul_rn(wx[0], (float)line[cols4[0]]);
        for (int n = 1; n < 4; ++n) sum = __fadd_rn(sum, __fmul_rn(wx[n], (float)line[cols4[n]]));
        acc = __fadd_rn(acc, __fmul_rn(sum, wy[m]));
    }
    *out = rg_round_u8(acc);
}
