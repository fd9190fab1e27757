// The JPEG fast path: TurboJPEG decodes at the smallest DCT scale that keeps
// the source box at least twice the output (1024x1024 -> 64x64 decodes
// 128x128: 1/64 of the pixels; the DCT scaling itself averages, so no
// aliasing), then the chosen filter makes the last 2x or less. Nearest, and
// shrink_on_load false, decode at full scale: the pixels PIL decodes (the same
// libjpeg-turbo, ISLOW IDCT, fancy upsampling). CMYK/YCCK and non-sRGB ICC
// profiles go to libvips instead.
#include <turbojpeg.h>

#include <cstring>

#include "cli/error.hpp"
#include "image/codec.hpp"

namespace imgpipe {
namespace codec {

JpegDecoder::JpegDecoder() : handle_(tjInitDecompress()) {
    if (!handle_) throw Error(kSoftware, "", std::string("cannot start TurboJPEG: ") + tjGetErrorStr2(nullptr));
}

JpegDecoder::~JpegDecoder() { tjDestroy(handle_); }

bool JpegDecoder::decode(const uint8_t* data, size_t size, const std::string& where, const Request& req,
                         Decoded& out) {
    int w = 0, h = 0, subsamp = 0, colorspace = 0;
    if (tjDecompressHeader3(handle_, data, (unsigned long)size, &w, &h, &subsamp, &colorspace) != 0)
        return false;  // 12-bit, lossless, arithmetic...: libvips tries, and names the problem
    if (colorspace == TJCS_CMYK || colorspace == TJCS_YCCK) return false;
    scan_jpeg_markers(data, size, markers_);
    if (!markers_.icc.empty() && !icc_is_srgb(markers_.icc.data(), markers_.icc.size())) return false;
    check_pixel_limit(uint64_t(w), uint64_t(h), req.options->max_pixels, where, "JPEG");

    // The smallest scale that keeps the source box >= twice the output box.
    int num = 1, denom = 1;
    if (req.may_shrink()) {
        const bool swap = markers_.orientation >= 5;
        Plan plan = make_plan(swap ? h : w, swap ? w : h, *req.options);
        double limit = 1.0 / plan.max_shrink();
        int count = 0;
        tjscalingfactor* factors = tjGetScalingFactors(&count);
        double best = 1.0;
        for (int i = 0; i < count; ++i) {
            double f = double(factors[i].num) / factors[i].denom;
            if (f <= best && f >= limit - 1e-9) {
                best = f;
                num = factors[i].num;
                denom = factors[i].denom;
            }
        }
    }
    tjscalingfactor sf{num, denom};
    const int sw = TJSCALED(w, sf), sh = TJSCALED(h, sf);
    // A colour JPEG is decoded to RGB even for gray output, and made gray by
    // to_gray() as PIL's convert("L") does: libjpeg's own gray output is the Y
    // plane, which differs from the luma of the upsampled, rounded RGB by up to
    // 20 levels on photos (issue 23).
    const bool gray = colorspace == TJCS_GRAY;
    Pixels& px = *out.pixels;
    px.reset(sw, sh, gray ? 1 : 3);
    if (tjDecompress2(handle_, data, (unsigned long)size, px.data.data(), sw, 0, sh, gray ? TJPF_GRAY : TJPF_RGB, 0) != 0) {
        std::string message = tjGetErrorStr2(handle_);
        // Warnings leave a whole image; only a truncated file is refused (as
        // PIL does); the others are passed on ("Corrupt JPEG data: ...").
        if (tjGetErrorCode(handle_) != TJERR_WARNING || message.find("Premature end") != std::string::npos)
            throw DataError(where, (message.find("Premature end") != std::string::npos ? "truncated JPEG file (" : "corrupt JPEG file (") +
                                       message + ")");
        req.warn(where, message);
    }
    out.file_w = w;
    out.file_h = h;
    out.orientation = markers_.orientation;
    out.scale = double(num) / denom;
    return true;
}

}  // namespace codec
}  // namespace imgpipe
