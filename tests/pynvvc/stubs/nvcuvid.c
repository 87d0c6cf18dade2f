/* libnvcuvid.so.1 stand-in: NVDEC's capability query, a fake bitstream parser and a decoder
 * that decodes nothing. Enough for PyNvVideoCodec 2.2.4's CreateDecoder/Decode, SimpleDecoder
 * and ThreadedDecoder to run their real code paths: what they hand the parser is logged, and
 * failures can be injected.
 *
 * Struct offsets are those of the NVIDIA Video Codec SDK headers (nvcuvid.h, cuviddec.h) on
 * LP64 (x86-64 / aarch64 Linux): int/enum 4 bytes, long and pointers 8.
 *
 * Switches (environment):
 *   PYNVVC_STUB_NVDEC_UNSUPPORTED=1  cuvidGetDecoderCaps answers bIsSupported = 0, like a GPU
 *                                    without that codec / depth
 *   PYNVVC_STUB_FAIL_DECODE_AT=N     the N-th cuvidDecodePicture of the process (1-based)
 *                                    returns CUDA_ERROR_INVALID_VALUE, like a corrupt slice
 *   PYNVVC_STUB_DISPLAY_DELAY=D      pictures the parser holds back before displaying the one
 *                                    with the smallest timestamp (default 2; see ParseVideoData)
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "stub_log.h"

typedef int CUresult;
#define CUDA_ERROR_INVALID_VALUE 1
#define CUVID_PKT_ENDOFSTREAM 0x01 /* CUvideopacketflags */

typedef int (*PFNVIDSEQUENCECALLBACK)(void *user, void *format);   /* CUVIDEOFORMAT *     */
typedef int (*PFNVIDDECODECALLBACK)(void *user, void *pic_params); /* CUVIDPICPARAMS *    */
typedef int (*PFNVIDDISPLAYCALLBACK)(void *user, void *disp_info); /* CUVIDPARSERDISPINFO * */

#define AT(type, base, offset) (*(type *)((unsigned char *)(base) + (offset)))

/* ------------------------------------------------------------------ capabilities
 * CUVIDDECODECAPS: IN eCodecType +0, eChromaFormat +4, nBitDepthMinus8 +8; OUT bIsSupported
 * +24 (u8), nNumNVDECs +25 (u8), nOutputFormatMask +26 (u16), nMaxWidth +28, nMaxHeight +32,
 * nMaxMBCount +36, nMinWidth +40 (u16), nMinHeight +42 (u16).
 *
 * The answer folds the question in, so a test can tell which query produced which row:
 * nMaxWidth = 4096 + eCodecType, nMaxHeight = 2304 + nBitDepthMinus8; the rest is an
 * Ada-like 8K-class NVDEC (36864 macroblocks = 4096x2304, minimum 48x16). Output formats:
 * NV12 | P016 (bits 0, 1 of cudaVideoSurfaceFormat). */
CUresult cuvidGetDecoderCaps(void *caps) {
    int codec = AT(int, caps, 0), chroma = AT(int, caps, 4);
    unsigned depth_minus8 = AT(unsigned, caps, 8);
    int supported = !stub_env("PYNVVC_STUB_NVDEC_UNSUPPORTED", 0);
    stub_log("cuvidGetDecoderCaps codec=%d chroma=%d bitDepthMinus8=%u supported=%d", codec, chroma, depth_minus8,
             supported);
    AT(uint8_t, caps, 24) = (uint8_t)supported;
    AT(uint8_t, caps, 25) = 3;
    AT(uint16_t, caps, 26) = supported ? 0x3 : 0;
    AT(unsigned, caps, 28) = supported ? 4096u + (unsigned)codec : 0;
    AT(unsigned, caps, 32) = supported ? 2304u + depth_minus8 : 0;
    AT(unsigned, caps, 36) = supported ? 36864u : 0;
    AT(uint16_t, caps, 40) = supported ? 48 : 0;
    AT(uint16_t, caps, 42) = supported ? 16 : 0;
    return 0;
}

/* ------------------------------------------------------------------ parser
 * A real parser splits the bitstream into pictures and calls back: the sequence callback once
 * (before the first picture, and on format changes), the decode callback per picture in
 * decode order, the display callback per picture in display order. This one parses nothing:
 * every packet with data is one picture, and pictures are displayed by ascending timestamp
 * once more than D are held (like B-frame reordering), all remaining ones at end of stream. So
 * the display order and the end-of-stream flush matter to the caller the way they do on a GPU. */
enum { MAX_HELD = 16 };

typedef struct {
    int codec;
    void *user;
    PFNVIDSEQUENCECALLBACK on_sequence;
    PFNVIDDECODECALLBACK on_decode;
    PFNVIDDISPLAYCALLBACK on_display;
    int surfaces; /* decode surfaces in use (the sequence callback's answer) */
    int pictures; /* pictures decoded so far */
    int held;
    struct { int index; int64_t ts; } queue[MAX_HELD];
} Parser;

/* CUVIDPARSERPARAMS: CodecType +0, ulMaxNumDecodeSurfaces +4, ulClockRate +8,
 * ulErrorThreshold +12, ulMaxDisplayDelay +16, pUserData +40, pfnSequenceCallback +48,
 * pfnDecodePicture +56, pfnDisplayPicture +64 (then pfnGetOperatingPoint +72, pfnGetSEIMsg +80,
 * not called: AV1 operating points and SEI are not what is tested). */
CUresult cuvidCreateVideoParser(void **handle, void *params) {
    Parser *p = calloc(1, sizeof *p);
    if (!p) return 2; /* CUDA_ERROR_OUT_OF_MEMORY */
    p->codec = AT(int, params, 0);
    p->surfaces = AT(unsigned, params, 4) ? (int)AT(unsigned, params, 4) : 1;
    p->user = AT(void *, params, 40);
    p->on_sequence = AT(PFNVIDSEQUENCECALLBACK, params, 48);
    p->on_decode = AT(PFNVIDDECODECALLBACK, params, 56);
    p->on_display = AT(PFNVIDDISPLAYCALLBACK, params, 64);
    stub_log("cuvidCreateVideoParser codec=%d maxDecodeSurfaces=%u clockRate=%u maxDisplayDelay=%u", p->codec,
             AT(unsigned, params, 4), AT(unsigned, params, 8), AT(unsigned, params, 16));
    *handle = p;
    return 0;
}

CUresult cuvidDestroyVideoParser(void *handle) { free(handle); return 0; }

/* CUVIDEOFORMAT (64 bytes): codec +0, frame_rate {numerator +4, denominator +8},
 * progressive_sequence +12, bit_depth_luma_minus8 +13, bit_depth_chroma_minus8 +14,
 * min_num_decode_surfaces +15, coded_width +16, coded_height +20, display_area {left +24,
 * top +28, right +32, bottom +36}, chroma_format +40, bitrate +44, display_aspect_ratio
 * {x +48, y +52}, video_signal_description +56 (video_format:3, full_range:1 | primaries +57,
 * transfer +58, matrix +59), seqhdr_data_length +60.
 * Always 320x240 progressive 8-bit 4:2:0 at 30 fps: the tests' videos are that size, and the
 * caller sizes its output surfaces from here, not from the file. */
static int announce_sequence(Parser *p) {
    unsigned char format[64];
    memset(format, 0, sizeof format);
    AT(int, format, 0) = p->codec;
    AT(unsigned, format, 4) = 30;
    AT(unsigned, format, 8) = 1;
    format[12] = 1;
    format[15] = 8;
    AT(unsigned, format, 16) = 320;
    AT(unsigned, format, 20) = 240;
    AT(int, format, 32) = 320;
    AT(int, format, 36) = 240;
    AT(int, format, 40) = 1; /* cudaVideoChromaFormat_420 */
    AT(int, format, 48) = 4;
    AT(int, format, 52) = 3;
    format[56] = 5;          /* video_format 5 = unspecified */
    format[57] = format[58] = format[59] = 2;
    int surfaces = p->on_sequence(p->user, format); /* 0: the caller refuses the stream */
    stub_log("pfnSequenceCallback result=%d", surfaces);
    if (surfaces > 1) p->surfaces = surfaces;
    return surfaces;
}

/* CUVIDPARSERDISPINFO: picture_index +0, progressive_frame +4, top_field_first +8,
 * repeat_first_field +12, timestamp +16 (the packet's, handed back untouched). */
static void display_next(Parser *p) {
    int best = 0;
    for (int i = 1; i < p->held; i++)
        if (p->queue[i].ts < p->queue[best].ts) best = i;
    unsigned char info[24];
    memset(info, 0, sizeof info);
    AT(int, info, 0) = p->queue[best].index;
    AT(int, info, 4) = 1;
    AT(int64_t, info, 16) = p->queue[best].ts;
    p->queue[best] = p->queue[--p->held];
    p->on_display(p->user, info);
}

/* FNV-1a, 64-bit: a checksum of the payload for the log. */
static uint64_t fnv1a(const unsigned char *data, unsigned long n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (unsigned long i = 0; i < n; i++) h = (h ^ data[i]) * 0x100000001b3ull;
    return h;
}

/* CUVIDSOURCEDATAPACKET: flags +0 (CUVID_PKT_*), payload_size +8, payload +16, timestamp +24.
 * Each call is logged with a checksum of its payload: two ways of feeding the decoder that
 * log the same lines made the same parser calls. */
CUresult cuvidParseVideoData(void *handle, void *packet) {
    Parser *p = handle;
    unsigned long flags = AT(unsigned long, packet, 0), size = AT(unsigned long, packet, 8);
    const unsigned char *payload = AT(const unsigned char *, packet, 16);
    int64_t ts = AT(int64_t, packet, 24);
    stub_log("cuvidParseVideoData flags=%#lx size=%lu timestamp=%lld fnv=%016llx", flags, size, (long long)ts,
             (unsigned long long)(size && payload ? fnv1a(payload, size) : 0));
    long delay = stub_env("PYNVVC_STUB_DISPLAY_DELAY", 2);
    if (delay < 0 || delay >= MAX_HELD) delay = MAX_HELD - 1;
    if (size && payload) {
        if (p->pictures == 0 && announce_sequence(p) == 0) return 0; /* refused: drop it */
        /* CUVIDPICPARAMS: PicWidthInMbs +0, FrameHeightInMbs +4, CurrPicIdx +8; the rest of
         * the (several KB) struct describes slices, which nothing here decodes: zeros. */
        static __thread unsigned char pic[8192];
        memset(pic, 0, sizeof pic);
        int index = p->pictures % p->surfaces;
        AT(int, pic, 0) = 320 / 16;
        AT(int, pic, 4) = 240 / 16;
        AT(int, pic, 8) = index;
        p->on_decode(p->user, pic);
        p->pictures++;
        p->queue[p->held].index = index;
        p->queue[p->held].ts = ts;
        p->held++;
        while (p->held > delay) display_next(p);
    }
    if (flags & CUVID_PKT_ENDOFSTREAM)
        while (p->held) display_next(p);
    return 0;
}

/* ------------------------------------------------------------------ decoder
 * CUVIDDECODECREATEINFO: ulWidth +0, ulHeight +8, ulNumDecodeSurfaces +16, CodecType +24,
 * ChromaFormat +28, bitDepthMinus8 +40, OutputFormat +88 (cudaVideoSurfaceFormat). */
static char the_decoder[64];
static char the_lock[64];

CUresult cuvidCreateDecoder(void **decoder, void *info) {
    stub_log("cuvidCreateDecoder width=%lu height=%lu surfaces=%lu codec=%d chroma=%d bitDepthMinus8=%lu "
             "outputFormat=%d", AT(unsigned long, info, 0), AT(unsigned long, info, 8), AT(unsigned long, info, 16),
             AT(int, info, 24), AT(int, info, 28), AT(unsigned long, info, 40), AT(int, info, 88));
    *decoder = the_decoder;
    return 0;
}
CUresult cuvidDestroyDecoder(void *decoder) { (void)decoder; return 0; }
CUresult cuvidReconfigureDecoder(void *decoder, void *params) { (void)decoder; (void)params; return 0; }

static int decoded_pictures; /* process-wide, for PYNVVC_STUB_FAIL_DECODE_AT */

CUresult cuvidDecodePicture(void *decoder, void *pic) {
    (void)decoder; (void)pic;
    int n = __atomic_add_fetch(&decoded_pictures, 1, __ATOMIC_RELAXED);
    if (n == stub_env("PYNVVC_STUB_FAIL_DECODE_AT", 0)) {
        stub_log("cuvidDecodePicture picture=%d result=CUDA_ERROR_INVALID_VALUE injected=1", n);
        return CUDA_ERROR_INVALID_VALUE;
    }
    return 0;
}

/* CUVIDGETDECODESTATUS.decodeStatus +0: cuvidDecodeStatus_Success = 2. */
CUresult cuvidGetDecodeStatus(void *decoder, int index, void *status) {
    (void)decoder; (void)index;
    AT(int, status, 0) = 2;
    return 0;
}

/* A mapped surface: a fixed fake device address, pitch 1024 (wider than any test frame). */
CUresult cuvidMapVideoFrame64(void *decoder, int index, unsigned long long *ptr, unsigned *pitch, void *proc) {
    (void)decoder; (void)proc;
    *ptr = 0x7e0000000000ull + (unsigned long long)index * 0x1000000ull;
    *pitch = 1024;
    return 0;
}
CUresult cuvidUnmapVideoFrame64(void *decoder, unsigned long long ptr) { (void)decoder; stub_log("cuvidUnmapVideoFrame ptr=%#llx", ptr); return 0; }

CUresult cuvidCtxLockCreate(void **lock, void *ctx) { (void)ctx; *lock = the_lock; return 0; }
CUresult cuvidCtxLockDestroy(void *lock) { (void)lock; return 0; }
CUresult cuvidCtxLock(void *lock, unsigned flags) { (void)lock; (void)flags; return 0; }
CUresult cuvidCtxUnlock(void *lock, unsigned flags) { (void)lock; (void)flags; return 0; }

/* The CUvideosource API (NVIDIA's own demuxer) is looked up at load time but never used:
 * PyNvVideoCodec demuxes with its bundled libavformat. */
CUresult cuvidCreateVideoSource(void) { return 1; }
CUresult cuvidCreateVideoSourceW(void) { return 1; }
CUresult cuvidDestroyVideoSource(void) { return 0; }
CUresult cuvidSetVideoSourceState(void) { return 0; }
CUresult cuvidGetVideoSourceState(void) { return 0; }
CUresult cuvidGetSourceVideoFormat(void) { return 1; }
CUresult cuvidGetSourceAudioFormat(void) { return 1; }
