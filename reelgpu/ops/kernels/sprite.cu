// Alpha-blend of a premultiplied YUVA sprite onto one uint8 plane, in place: one thread per
// sample of the (already clipped) sprite rectangle. Mirrors reelgpu/ops/sprite._blend_plane:
//
//     t = premult - dst * alpha;  t *= opacity (only when opacity != 1);  t += dst
//     dst = clip(t + 0.5, 0, 255) truncated
//
// in float32, in that order. ``dst`` points at the rectangle's top-left sample and ``premult``/
// ``alpha`` at the matching sprite sample; pitches are in elements.
#include "rg_common.h"

extern "C" __global__ void rg_blend(rg_u8* dst, int dst_pitch, const float* premult, const float* alpha,
                                    int sprite_pitch, int w, int h, float opacity, int scale) {
    int c = rg_col();
    int r = rg_row();
    if (c >= w || r >= h) return;
    rg_u8* p = dst + (long long)r * dst_pitch + c;
    long long s = (long long)r * sprite_pitch + c;
    float d = (float)(*p);
    float t = __fsub_rn(premult[s], __fmul_rn(d, alpha[s]));
    if (scale) t = __fmul_rn(t, opacity);
    t = __fadd_rn(t, d);
    *p = rg_round_u8(t);
}
