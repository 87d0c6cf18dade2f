// Transitions, mirroring reelgpu/ops/mix.py in float32: cross-dissolve of two planes and fade
// towards black (16 for Y, 128 for U/V, so a fade never tints). One thread per sample.
#include "rg_common.h"

// out = round(a * wa + b * wb) with wa = float32(1 - alpha), wb = float32(alpha).
extern "C" __global__ void rg_dissolve(const rg_u8* a, int a_pitch, const rg_u8* b, int b_pitch,
                                       rg_u8* out, int out_pitch, int w, int h, float wa, float wb) {
    int c = rg_col();
    int r = rg_row();
    if (c >= w || r >= h) return;
    float fa = (float)a[(long long)r * a_pitch + c];
    float fb = (float)b[(long long)r * b_pitch + c];
    out[(long long)r * out_pitch + c] = rg_round_u8(__fadd_rn(__fmul_rn(fa, wa), __fmul_rn(fb, wb)));
}

// out = round((src - base) * k + base).
extern "C" __global__ void rg_fade(const rg_u8* src, int src_pitch, rg_u8* out, int out_pitch, int w, int h,
                                   float base, float k) {
    int c = rg_col();
    int r = rg_row();
    if (c >= w || r >= h) return;
    float v = (float)src[(long long)r * src_pitch + c];
    out[(long long)r * out_pitch + c] = rg_round_u8(__fadd_rn(__fmul_rn(__fsub_rn(v, base), k), base));
}
