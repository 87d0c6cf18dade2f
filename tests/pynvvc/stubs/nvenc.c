/* libnvidia-encode.so.1 stand-in: the NVENC API (nvEncodeAPI.h, SDK 13.0) as PyNvVideoCodec
 * 2.2.4 uses it. A session opens, every capability is generous, and "encoding" a picture
 * produces a tiny placeholder access unit carrying the input timestamp back, so the real
 * binary's CreateEncoder/Encode/EndEncode paths run end to end with no GPU.
 *
 * What PyNvVideoCodec configures is logged at nvEncInitializeEncoder (NV_ENC_INITIALIZE_PARAMS
 * and the NV_ENC_CONFIG it points to): the encoder options a caller passes become these
 * fields, and a misspelled or misformatted option only shows here.
 *
 * Offsets are those of nvEncodeAPI.h 13.0 on LP64 (GUID 16 bytes, pointers 8).
 *
 * Switches (environment):
 *   PYNVVC_STUB_NVENC_ABSENT=1      nvEncOpenEncodeSessionEx fails with NV_ENC_ERR_NO_ENCODE_DEVICE,
 *                                   like an A100/H100/H200 (no NVENC engine)
 *   PYNVVC_STUB_NVENC_ENGINES=N     NV_ENC_CAPS_NUM_ENCODER_ENGINES (default 2)
 */
#include <stdint.h>
#include <string.h>

#include "stub_log.h"

typedef int NVENCSTATUS;
#define NV_ENC_SUCCESS 0
#define NV_ENC_ERR_NO_ENCODE_DEVICE 1
#define NV_ENC_PIC_FLAG_EOS 0x8

#define AT(type, base, offset) (*(type *)((unsigned char *)(base) + (offset)))

typedef struct { uint32_t Data1; uint16_t Data2, Data3; uint8_t Data4[8]; } GUID;

/* NV_ENC_CODEC_H264_GUID, NV_ENC_CODEC_HEVC_GUID, NV_ENC_CODEC_AV1_GUID */
static const GUID codecs[3] = {
    {0x6bc82762, 0x4e63, 0x4ca4, {0xaa, 0x85, 0x1e, 0x50, 0xf3, 0x21, 0xf6, 0xbf}},
    {0x790cdc88, 0x4522, 0x4d7b, {0x94, 0x25, 0xbd, 0xa9, 0x97, 0x5f, 0x76, 0x03}},
    {0x0a352289, 0x0aa7, 0x4759, {0x86, 0x2d, 0x5d, 0x15, 0xcd, 0x16, 0xd2, 0x54}},
};

static const char *codec_name(uint32_t data1) {
    static const char *const names[3] = {"h264", "hevc", "av1"};
    for (int i = 0; i < 3; i++)
        if (data1 == codecs[i].Data1) return names[i];
    return "?";
}

static char the_encoder[64];
static char the_registered[64];

/* An output bitstream buffer remembers the picture encoded into it. */
typedef struct { uint64_t timestamp; uint32_t frame; } Bitstream;
enum { MAX_BITSTREAMS = 64 };
static Bitstream bitstreams[MAX_BITSTREAMS];
static int n_bitstreams;
static uint32_t n_pictures;

static NVENCSTATUS success(void) { return NV_ENC_SUCCESS; } /* every call not below */

static NVENCSTATUS open_session(void *params, void **encoder) {
    (void)params;
    if (stub_env("PYNVVC_STUB_NVENC_ABSENT", 0)) {
        stub_log("nvEncOpenEncodeSessionEx result=NV_ENC_ERR_NO_ENCODE_DEVICE injected=1");
        return NV_ENC_ERR_NO_ENCODE_DEVICE;
    }
    *encoder = the_encoder;
    return NV_ENC_SUCCESS;
}

static NVENCSTATUS guid_count(void *encoder, uint32_t *count) { (void)encoder; *count = 3; return NV_ENC_SUCCESS; }
static NVENCSTATUS guids(void *encoder, GUID *out, uint32_t size, uint32_t *count) {
    (void)encoder;
    *count = size < 3 ? size : 3;
    memcpy(out, codecs, *count * sizeof *out);
    return NV_ENC_SUCCESS;
}

/* NV_ENC_CAPS_PARAM.capsToQuery +4 (NV_ENC_CAPS): an Ada-class NVENC. 0 NUM_MAX_BFRAMES,
 * 1 SUPPORTED_RATECONTROL_MODES, 16/17 WIDTH_MAX/HEIGHT_MAX, 30 ASYNC_ENCODE_SUPPORT (no, as on
 * Linux), 31 MB_NUM_MAX, 32 MB_PER_SEC_MAX, 45/46 WIDTH_MIN/HEIGHT_MIN, 49 NUM_ENCODER_ENGINES;
 * every other capability (a feature flag) is 1. */
static NVENCSTATUS caps(void *encoder, GUID codec, void *param, int *value) {
    (void)encoder; (void)codec;
    switch (AT(int, param, 4)) {
    case 0: *value = 4; break;
    case 1: *value = 0x3f; break;
    case 16: case 17: *value = 4096; break;
    case 30: *value = 0; break;
    case 31: *value = 65536; break;
    case 32: *value = 983040; break;
    case 45: case 46: *value = 32; break;
    case 49: *value = (int)stub_env("PYNVVC_STUB_NVENC_ENGINES", 2); break;
    default: *value = 1; break;
    }
    return NV_ENC_SUCCESS;
}

/* NV_ENC_CREATE_BITSTREAM_BUFFER.bitstreamBuffer +16 (out). */
static NVENCSTATUS create_bitstream(void *encoder, void *params) {
    (void)encoder;
    AT(void *, params, 16) = &bitstreams[n_bitstreams++ % MAX_BITSTREAMS];
    return NV_ENC_SUCCESS;
}

/* NV_ENC_REGISTER_RESOURCE: resourceType +4, width +8, height +12, pitch +16,
 * resourceToRegister +24, registeredResource +32 (out), bufferFormat +40. */
static NVENCSTATUS register_resource(void *encoder, void *params) {
    (void)encoder;
    stub_log("nvEncRegisterResource type=%u width=%u height=%u pitch=%u bufferFormat=%#x", AT(uint32_t, params, 4),
             AT(uint32_t, params, 8), AT(uint32_t, params, 12), AT(uint32_t, params, 16), AT(uint32_t, params, 40));
    AT(void *, params, 32) = the_registered;
    return NV_ENC_SUCCESS;
}

/* NV_ENC_MAP_INPUT_RESOURCE.mappedResource +24 (out). */
static NVENCSTATUS map_resource(void *encoder, void *params) {
    (void)encoder;
    AT(void *, params, 24) = the_registered;
    return NV_ENC_SUCCESS;
}

/* NV_ENC_PIC_PARAMS: inputWidth +4, inputHeight +8, inputPitch +12, encodePicFlags +16,
 * inputTimeStamp +24, outputBitstream +48. */
static NVENCSTATUS encode_picture(void *encoder, void *pic) {
    (void)encoder;
    uint32_t flags = AT(uint32_t, pic, 16);
    uint64_t ts = AT(uint64_t, pic, 24);
    Bitstream *out = AT(Bitstream *, pic, 48);
    stub_log("nvEncEncodePicture width=%u height=%u pitch=%u flags=%#x timestamp=%llu", AT(uint32_t, pic, 4),
             AT(uint32_t, pic, 8), AT(uint32_t, pic, 12), flags, (unsigned long long)ts);
    if (!(flags & NV_ENC_PIC_FLAG_EOS) && out) {
        out->timestamp = ts;
        out->frame = n_pictures++;
    }
    return NV_ENC_SUCCESS;
}

/* NV_ENC_LOCK_BITSTREAM: outputBitstream +8 (in), bitstreamSizeInBytes +36, outputTimeStamp
 * +40, bitstreamBufferPtr +56, pictureType +64 (out). The access unit is shaped like H.264:
 * a start code, an IDR (first picture) or non-IDR slice NAL header, and the picture number
 * (big-endian), so a test can tell which packet is which. */
static unsigned char access_unit[MAX_BITSTREAMS][9];
static NVENCSTATUS lock_bitstream(void *encoder, void *params) {
    (void)encoder;
    Bitstream *in = AT(Bitstream *, params, 8);
    unsigned char *au = access_unit[in - bitstreams];
    const unsigned char head[4] = {0, 0, 0, 1};
    memcpy(au, head, 4);
    au[4] = in->frame == 0 ? 0x65 : 0x41;
    for (int i = 0; i < 4; i++) au[5 + i] = (unsigned char)(in->frame >> (24 - 8 * i));
    AT(uint32_t, params, 36) = sizeof access_unit[0];
    AT(uint64_t, params, 40) = in->timestamp;
    AT(void *, params, 56) = au;
    AT(uint32_t, params, 64) = in->frame == 0 ? 3 : 0; /* NV_ENC_PIC_TYPE_IDR : NV_ENC_PIC_TYPE_P */
    return NV_ENC_SUCCESS;
}

static const char *last_error(void *encoder) { (void)encoder; return "stub NVENC error"; }

/* NV_ENC_INITIALIZE_PARAMS: encodeGUID +4, presetGUID +20, encodeWidth +36, encodeHeight +40,
 * frameRateNum +52, frameRateDen +56, enablePTD +64, encodeConfig +88, tuningInfo +136,
 * bufferFormat +140.
 * NV_ENC_CONFIG: gopLength +20, frameIntervalP +24 (1 = no B-frames), rcParams +40:
 * rateControlMode +44, averageBitRate +60, maxBitRate +64, vbvBufferSize +68,
 * targetQuality +128 (u8); encodeCodecConfig +168:
 *   H.264 (NV_ENC_CONFIG_H264): flags +168 (repeatSPSPPS = bit 12), idrPeriod +176,
 *     h264VUIParameters +240: videoSignalTypePresentFlag +248, videoFormat +252,
 *     videoFullRangeFlag +256, colourDescriptionPresentFlag +260, colourPrimaries +264,
 *     transferCharacteristics +268, colourMatrix +272.
 *   HEVC (NV_ENC_CONFIG_HEVC): flags +184 (repeatSPSPPS = bit 7), idrPeriod +188,
 *     hevcVUIParameters +232: the same VUI fields, 8 bytes earlier than H.264's. */
static NVENCSTATUS initialize(void *encoder, void *init) {
    (void)encoder;
    const unsigned char *c = AT(const unsigned char *, init, 88);
    const char *name = codec_name(AT(uint32_t, init, 4));
    stub_log("nvEncInitializeEncoder codec=%s preset=%#x width=%u height=%u frameRateNum=%u frameRateDen=%u "
             "enablePTD=%u tuningInfo=%u bufferFormat=%#x",
             name, AT(uint32_t, init, 20), AT(uint32_t, init, 36), AT(uint32_t, init, 40), AT(uint32_t, init, 52),
             AT(uint32_t, init, 56), AT(uint32_t, init, 64), AT(uint32_t, init, 136), AT(uint32_t, init, 140));
    if (!c) return NV_ENC_SUCCESS;
    stub_log("NV_ENC_CONFIG gopLength=%u frameIntervalP=%d rateControlMode=%u averageBitRate=%u maxBitRate=%u "
             "vbvBufferSize=%u targetQuality=%u",
             AT(uint32_t, c, 20), AT(int32_t, c, 24), AT(uint32_t, c, 44), AT(uint32_t, c, 60), AT(uint32_t, c, 64),
             AT(uint32_t, c, 68), c[128]);
    int flags = 0, idr = 0, vui = 0, repeat_bit = 0;
    if (!strcmp(name, "h264")) flags = 168, idr = 176, vui = 240, repeat_bit = 12;
    if (!strcmp(name, "hevc")) flags = 184, idr = 188, vui = 232, repeat_bit = 7;
    if (vui)
        stub_log("NV_ENC_CONFIG_%s idrPeriod=%u repeatSPSPPS=%u videoSignalTypePresentFlag=%u videoFormat=%u "
                 "videoFullRangeFlag=%u colourDescriptionPresentFlag=%u colourPrimaries=%u "
                 "transferCharacteristics=%u colourMatrix=%u",
                 !strcmp(name, "h264") ? "H264" : "HEVC", AT(uint32_t, c, idr),
                 (AT(uint32_t, c, flags) >> repeat_bit) & 1, AT(uint32_t, c, vui + 8), AT(uint32_t, c, vui + 12),
                 AT(uint32_t, c, vui + 16), AT(uint32_t, c, vui + 20), AT(uint32_t, c, vui + 24),
                 AT(uint32_t, c, vui + 28), AT(uint32_t, c, vui + 32));
    return NV_ENC_SUCCESS;
}

/* nvEncSetIOCudaStreams(encoder, NV_ENC_CUSTREAM_PTR input, NV_ENC_CUSTREAM_PTR output): each is
 * a pointer to a CUstream. Logged because the project's NvencWriter relies on it: with the
 * reelgpu stream here, NVENC reads its input in that stream's order, and no host wait is needed. */
static NVENCSTATUS set_io_cuda_streams(void *encoder, void **input, void **output) {
    (void)encoder;
    stub_log("nvEncSetIOCudaStreams input=%p output=%p", input ? *input : NULL, output ? *output : NULL);
    return NV_ENC_SUCCESS;
}

/* (13 << 4) | 0: API 13.0, which makes PyNvVideoCodec load its _130 module. */
NVENCSTATUS NvEncodeAPIGetMaxSupportedVersion(uint32_t *version) { *version = 13u << 4; return NV_ENC_SUCCESS; }

/* NV_ENCODE_API_FUNCTION_LIST: version +0, reserved +4, then the entry points from +8, in
 * header order (index: name): 1 nvEncGetEncodeGUIDCount, 4 nvEncGetEncodeGUIDs,
 * 7 nvEncGetEncodeCaps, 11 nvEncInitializeEncoder, 14 nvEncCreateBitstreamBuffer,
 * 16 nvEncEncodePicture, 17 nvEncLockBitstream, 25 nvEncMapInputResource,
 * 29 nvEncOpenEncodeSessionEx, 30 nvEncRegisterResource, 37 nvEncGetLastErrorString,
 * 38 nvEncSetIOCudaStreams; the other 31 of 0..42 (destroy, unlock, unmap, presets...) succeed
 * and leave their outputs alone. */
NVENCSTATUS NvEncodeAPICreateInstance(void *list) {
    void **fn = (void **)((unsigned char *)list + 8);
    for (int i = 0; i <= 42; i++) fn[i] = (void *)success;
    fn[1] = (void *)guid_count;
    fn[4] = (void *)guids;
    fn[7] = (void *)caps;
    fn[11] = (void *)initialize;
    fn[14] = (void *)create_bitstream;
    fn[16] = (void *)encode_picture;
    fn[17] = (void *)lock_bitstream;
    fn[25] = (void *)map_resource;
    fn[29] = (void *)open_session;
    fn[30] = (void *)register_resource;
    fn[37] = (void *)last_error;
    fn[38] = (void *)set_io_cuda_streams;
    return NV_ENC_SUCCESS;
}
