// libvips for every format the fast paths do not take (TIFF, WebP, GIF, BMP,
// PNM, HEIF, CMYK JPEG, ICC-managed colour, 12-bit JPEG, very large PNG...).
// The fixed cost is kept down as DESIGN.md measured: bytes come from our own
// buffer (no re-opening for sniffing), the operation cache is off, libvips
// runs one worker per pipeline, and pixels are fetched with a region in the
// calling thread.
#include <vips/vips.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <mutex>

#include "cli/error.hpp"
#include "image/codec.hpp"

namespace imgpipe {
namespace codec {

namespace {
void ignore_log(const gchar*, GLogLevelFlags, const gchar*, gpointer) {}

void start_vips() {
    static std::once_flag once;
    std::call_once(once, [] {
        if (VIPS_INIT("imgpipe") != 0) throw Error(kSoftware, "", "cannot start libvips");
        vips_concurrency_set(1);
        vips_cache_set_max(0);
        vips_cache_set_max_mem(0);
        vips_cache_set_max_files(0);
        // Loader warnings ("premature end of file") become our own one-line errors.
        g_log_set_handler("VIPS", GLogLevelFlags(G_LOG_LEVEL_WARNING | G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO), ignore_log, nullptr);
    });
}

// Unrefs every image made along the way.
struct Images {
    std::vector<VipsImage*> held;
    ~Images() {
        for (VipsImage* im : held) g_object_unref(im);
    }
    VipsImage* keep(VipsImage* im) {
        held.push_back(im);
        return im;
    }
};

// libvips' error buffer, first line, without the "VipsForeignLoad...: " prefix.
std::string vips_message() {
    char* text = vips_error_buffer_copy();
    std::string m = text ? text : "";
    g_free(text);
    size_t nl = m.find('\n');
    if (nl != std::string::npos) m.resize(nl);
    size_t colon = m.find(": ");
    if (colon != std::string::npos && colon < 40 && m.find(' ') > colon) m = m.substr(colon + 2);
    return m.empty() ? "libvips failed" : m;
}

[[noreturn]] void fail(const std::string& where, ImageFormat format, const std::string& detail) {
    std::string what = format == ImageFormat::Unknown || format == ImageFormat::Other ? "image" : format_name(format);
    bool truncated = detail.find("runcat") != std::string::npos || detail.find("remature end") != std::string::npos ||
                     detail.find("nexpected end") != std::string::npos || detail.find("out of data") != std::string::npos;
    throw DataError(where, (truncated ? "truncated " : "corrupt ") + what + " file (" + detail + ")");
}
}  // namespace

void decode_vips(const uint8_t* data, size_t size, const std::string& where, ImageFormat format, const Request& req,
                 Decoded& out) {
    start_vips();
    vips_error_clear();
    const char* loader = vips_foreign_find_load_buffer(data, size);
    if (!loader) {
        vips_error_clear();
        if (format == ImageFormat::Unknown) throw DataError(where, "not an image (starts with '" + printable_start(data, size) + "')");
        throw DataError(where, std::string("corrupt ") + format_name(format) + " file (no decoder recognises it)");
    }
    Images images;
    VipsImage* im = vips_image_new_from_buffer(data, size, "", "access", VIPS_ACCESS_SEQUENTIAL, "fail_on",
                                               VIPS_FAIL_ON_ERROR, nullptr);
    if (!im) fail(where, format, vips_message());
    images.keep(im);
    const int w = im->Xsize, h = im->Ysize;
    check_pixel_limit(uint64_t(w), uint64_t(h), req.options->max_pixels, where,
                      format == ImageFormat::Unknown ? "image" : format_name(format));
    const int orientation = vips_image_get_orientation(im);

    // Shrink while loading (JPEG) or with a box shrink, keeping the source box
    // at least twice the output so the final resample still antialiases.
    double scale = 1.0;
    if (!req.full_size) {
        const bool swap = orientation >= 5;
        double limit = make_plan(swap ? h : w, swap ? w : h, *req.options).max_shrink();
        if (format == ImageFormat::Jpeg && limit >= 2) {
            int shrink = limit >= 8 ? 8 : limit >= 4 ? 4 : 2;
            scale = 1.0 / shrink;
            VipsImage* small = nullptr;
            if (vips_jpegload_buffer(const_cast<uint8_t*>(data), size, &small, "shrink", shrink, "access",
                                     VIPS_ACCESS_SEQUENTIAL, "fail_on", VIPS_FAIL_ON_ERROR, nullptr))
                fail(where, format, vips_message());
            im = images.keep(small);
        } else if (limit >= 2) {
            int k = int(limit);
            scale = 1.0 / k;
            VipsImage* small = nullptr;
            if (vips_shrink(im, &small, double(k), double(k), nullptr)) fail(where, format, vips_message());
            im = images.keep(small);
        }
    }

    // Colour: ICC profiles (and CMYK, through libvips' built-in CMYK profile
    // when the file has none) to sRGB; everything else to 8-bit sRGB or gray.
    const void* icc = nullptr;
    size_t icc_size = 0;
    bool has_icc = vips_image_get_typeof(im, VIPS_META_ICC_NAME) &&
                   vips_image_get_blob(im, VIPS_META_ICC_NAME, &icc, &icc_size) == 0;
    bool cmyk = vips_image_guess_interpretation(im) == VIPS_INTERPRETATION_CMYK;
    if (cmyk || (has_icc && !icc_is_srgb(static_cast<const uint8_t*>(icc), icc_size))) {
        VipsImage* t = nullptr;
        if (vips_icc_transform(im, &t, "srgb", "embedded", TRUE, "intent", VIPS_INTENT_RELATIVE, nullptr) == 0)
            im = images.keep(t);
        else
            vips_error_clear();  // a broken profile: fall back to the plain conversion below
    }
    const bool alpha = vips_image_hasalpha(im);
    const int colour_bands = im->Bands - (alpha ? 1 : 0);
    const VipsInterpretation target = colour_bands >= 3 ? VIPS_INTERPRETATION_sRGB : VIPS_INTERPRETATION_B_W;
    if (vips_image_guess_interpretation(im) != target || im->BandFmt != VIPS_FORMAT_UCHAR) {
        VipsImage* t = nullptr;
        if (vips_colourspace(im, &t, target, nullptr) == 0) im = images.keep(t);
        else vips_error_clear();
    }
    if (im->BandFmt != VIPS_FORMAT_UCHAR) {
        VipsImage* t = nullptr;
        if (vips_cast_uchar(im, &t, nullptr)) fail(where, format, vips_message());
        im = images.keep(t);
    }
    int bands = im->Bands;
    if (bands > 4 || bands == 0) {
        VipsImage* t = nullptr;
        int keep = vips_image_hasalpha(im) ? 4 : 3;
        if (bands < 3) keep = 1;
        if (vips_extract_band(im, &t, 0, "n", keep, nullptr)) fail(where, format, vips_message());
        im = images.keep(t);
        bands = keep;
    }

    // Fetch the pixels in strips, in this thread.
    Pixels& px = *out.pixels;
    px.reset(im->Xsize, im->Ysize, bands);
    VipsRegion* region = vips_region_new(im);
    if (!region) fail(where, format, vips_message());
    const size_t row_bytes = size_t(px.width) * size_t(bands);
    for (int y = 0; y < px.height; y += 64) {
        VipsRect r{0, y, px.width, std::min(64, px.height - y)};
        if (vips_region_prepare(region, &r)) {
            g_object_unref(region);
            fail(where, format, vips_message());
        }
        for (int k = 0; k < r.height; ++k)
            std::memcpy(px.row(y + k), VIPS_REGION_ADDR(region, 0, y + k), row_bytes);
    }
    g_object_unref(region);
    out.file_w = w;
    out.file_h = h;
    out.orientation = orientation >= 1 && orientation <= 8 ? orientation : 1;
    out.scale = scale;
}

}  // namespace codec
}  // namespace imgpipe
