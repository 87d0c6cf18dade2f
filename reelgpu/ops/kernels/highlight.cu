// The overlay export's highlight: dim outside an ellipse, fill, outline and stroke rings, with
// analytic anti-aliasing. One thread per sample of one plane, mirroring
// reelgpu/ops/highlight.py: shade() and ellipse_distance()/arc_coverage()/ring_coverage(), the
// same float32 operations in the same order (see rg_common.h for why *_rn).
//
// Sample (i, j) of a plane subsampled by ``sub`` sits at luma (j*sub + sub/2, i*sub + sub/2);
// for chroma (sub = 2) that is (2j + 1, 2i + 1), the centre of its 2x2 block. All distances are
// in luma pixels.
//
// Samples certainly farther than ``reach`` from the ellipse (outside or inside) have coverages of
// exactly 0 or 1 and no ring; the reference handles them with lookup tables, the kernel skips
// the distance iteration for them. Both give the dense formula's value bit for bit.
#include "rg_common.h"

#define RG_HL_DIM 1
#define RG_HL_FILL 2
#define RG_HL_OUTLINE 4
#define RG_HL_STROKE 8
#define RG_HL_GROUND 16

// Signed distance (negative inside) from (dx, dy) to the ellipse with semi-axes (a, b): three
// iterations of the evolute method, exactly as highlight.ellipse_distance.
__device__ __forceinline__ float rg_ellipse_distance(float dx, float dy, float a, float b, float c1, float c2) {
    float px = fmaxf(fabsf(dx), 1e-3f);
    float py = fmaxf(fabsf(dy), 1e-3f);
    float tx = 0.70710678f, ty = 0.70710678f;
    for (int it = 0; it < 3; ++it) {
        float ex = __fmul_rn(__fmul_rn(__fmul_rn(c1, tx), tx), tx);
        float ey = __fmul_rn(__fmul_rn(__fmul_rn(c2, ty), ty), ty);
        float r = rg_hypotf(__fsub_rn(__fmul_rn(a, tx), ex), __fsub_rn(__fmul_rn(b, ty), ey));
        float qx = __fsub_rn(px, ex), qy = __fsub_rn(py, ey);
        float q = fmaxf(rg_hypotf(qx, qy), 1e-6f);
        r = __fdiv_rn(r, q);
        tx = rg_clamp01(__fdiv_rn(__fadd_rn(__fmul_rn(qx, r), ex), a));
        ty = rg_clamp01(__fdiv_rn(__fadd_rn(__fmul_rn(qy, r), ey), b));
        float t = rg_hypotf(tx, ty);
        tx = __fdiv_rn(tx, t);
        ty = __fdiv_rn(ty, t);
    }
    float dist = rg_hypotf(__fsub_rn(px, __fmul_rn(a, tx)), __fsub_rn(py, __fmul_rn(b, ty)));
    float kx = __fdiv_rn(px, a), ky = __fdiv_rn(py, b);
    bool inside = __fadd_rn(__fmul_rn(kx, kx), __fmul_rn(ky, ky)) < 1.0f;
    return inside ? -dist : dist;
}

// v + (colour - v) * a, as highlight._over.
__device__ __forceinline__ float rg_over(float v, float colour, float a) {
    return __fadd_rn(v, __fmul_rn(__fsub_rn(colour, v), a));
}

// Composite the highlight onto samples [bx0, bx0 + bw) x [by0, by0 + bh) of one plane, in place.
//   sub: 1 for Y, 2 for U/V; cx, cy: ellipse centre (luma px, float64 like the reference);
//   rx, ry: radii already clamped to >= 0.5; c1, c2: float32((rx^2 - ry^2)/rx), ((ry^2 - rx^2)/ry);
//   neutral: 16 (Y) or 128 (U/V); *_c: the plane's component of each colour;
//   *_k: float32(width / 2 + 0.5) of each ring; arc_a, arc_b: the ground arc's unit normal;
//   k_out / k_in: |(dx/rx, dy/ry)| beyond / below which the coverages are exactly 0 / 1.
extern "C" __global__ void rg_highlight(rg_u8* plane, int pitch, int bx0, int by0, int bw, int bh,
                                        int sub, double cx, double cy, float rx, float ry, float c1, float c2,
                                        int flags, float neutral, float dim,
                                        float fill_c, float fill_op,
                                        float outline_c, float outline_k, float outline_op,
                                        float stroke_c, float stroke_k, float stroke_op,
                                        float arc_a, float arc_b, double k_out, double k_in) {
    int jj = rg_col();
    int ii = rg_row();
    if (jj >= bw || ii >= bh) return;
    int j = bx0 + jj, i = by0 + ii;
    double half = (double)sub / 2.0;
    float dx = (float)__dsub_rn(__dadd_rn(__dmul_rn((double)j, (double)sub), half), cx);
    float dy = (float)__dsub_rn(__dadd_rn(__dmul_rn((double)i, (double)sub), half), cy);

    // Exact-coverage test (highlight._row_spans): the true distance is at least
    // |k0 - 1| * min(rx, ry), and k_out/k_in keep a pixel of slack for the iteration's error.
    double kx = (double)dx / (double)rx, ky = (double)dy / (double)ry;
    double k0 = sqrt(__dadd_rn(__dmul_rn(kx, kx), __dmul_rn(ky, ky)));  // no FMA: numpy rounds twice
    bool rings = (flags & (RG_HL_OUTLINE | RG_HL_STROKE)) != 0;
    float cin, dist = 0.0f;
    bool exact = true;
    if (k0 >= k_out) {
        cin = 0.0f;
    } else if (k0 <= k_in) {
        cin = 1.0f;
    } else {
        exact = false;
        dist = rg_ellipse_distance(dx, dy, rx, ry, c1, c2);
        cin = rg_clamp01(__fsub_rn(0.5f, dist));
    }

    rg_u8* p = plane + (long long)i * pitch + j;
    float v = (float)(*p);
    if (flags & RG_HL_DIM) {
        float m = __fsub_rn(1.0f, cin);
        m = __fmul_rn(m, dim);
        m = __fsub_rn(1.0f, m);
        v = __fadd_rn(__fmul_rn(__fsub_rn(v, neutral), m), neutral);
    }
    if (flags & RG_HL_FILL) {
        v = rg_over(v, fill_c, __fmul_rn(cin, fill_op));
    }
    if (rings && !exact) {
        float abs_d = fabsf(dist);
        float arc = 1.0f;
        bool ground = (flags & RG_HL_GROUND) != 0;
        if (ground) {
            arc = rg_clamp01(__fadd_rn(__fadd_rn(0.5f, __fmul_rn(arc_a, dy)), __fmul_rn(arc_b, fabsf(dx))));
        }
        if (flags & RG_HL_OUTLINE) {
            float a = rg_clamp01(__fsub_rn(outline_k, abs_d));
            if (ground) a = __fmul_rn(a, arc);
            v = rg_over(v, outline_c, __fmul_rn(a, outline_op));
        }
        if (flags & RG_HL_STROKE) {
            float a = rg_clamp01(__fsub_rn(stroke_k, abs_d));
            if (ground) a = __fmul_rn(a, arc);
            v = rg_over(v, stroke_c, __fmul_rn(a, stroke_op));
        }
    }
    *p = rg_round_u8(v);
}
