// libvips for every format the fast paths do not take (TIFF, WebP, GIF, BMP,
// PNM, HEIF, CMYK JPEG, ICC-managed colour, 12-bit JPEG, very large PNG...).
// The fixed cost is kept down as doc/design.md's "Decoding: measured facts"
// found: bytes come from our own buffer (no re-opening for sniffing), the
// operation cache is off, libvips runs one worker per pipeline, and pixels
// are fetched with a region in the calling thread. libvips is loaded with dlopen() on first use: a tool that
// only meets JPEG and PNG never pays its start-up (about 16 ms of CPU and a
// hundred shared libraries), which shows on short runs and small images.
#include <dlfcn.h>
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
// Loader warnings ("CRC error", "corrupt JPEG data...") of the image this
// thread is decoding: passed on as the image's warnings if it decodes, left
// out if it is refused (the error says enough).
thread_local std::vector<std::string>* warnings = nullptr;

void collect_log(const gchar*, GLogLevelFlags level, const gchar* message, gpointer) {
    if (warnings && (level & G_LOG_LEVEL_WARNING) && message && *message) warnings->push_back(message);
}

// The libvips (and GLib) functions used here, looked up once.
#define IMGPIPE_VIPS_FUNCTIONS(X) X(vips_init) X(vips_version) X(vips_concurrency_set) X(vips_cache_set_max) X(vips_cache_set_max_mem) X(vips_cache_set_max_files) X(g_log_set_handler) X(g_object_unref) X(g_free) X(vips_error_buffer_copy) X(vips_error_clear) X(vips_foreign_find_load_buffer) X(vips_image_new_from_buffer) X(vips_image_get_orientation) X(vips_jpegload_buffer) X(vips_shrink) X(vips_image_get_typeof) X(vips_image_get_blob) X(vips_image_guess_interpretation) X(vips_icc_transform) X(vips_image_hasalpha) X(vips_colourspace) X(vips_cast_uchar) X(vips_extract_band) X(vips_region_new) X(vips_region_prepare)
struct VipsApi {
#define IMGPIPE_DECLARE(name) decltype(&::name) name = nullptr;
    IMGPIPE_VIPS_FUNCTIONS(IMGPIPE_DECLARE)
#undef IMGPIPE_DECLARE
};
VipsApi vips;

void start_vips() {
    static std::once_flag once;
    std::call_once(once, [] {
        // The soname VIPS_INIT checks against: libvips.so.42 for every 8.x.
        const std::string soname = "libvips.so." + std::to_string(VIPS_LIBRARY_CURRENT - VIPS_LIBRARY_AGE);
        void* lib = dlopen(soname.c_str(), RTLD_NOW | RTLD_LOCAL);
        if (!lib) throw Error(kSoftware, "", "cannot load libvips: " + std::string(dlerror()));
#define IMGPIPE_LOAD(name)                                                        \
    vips.name = reinterpret_cast<decltype(vips.name)>(dlsym(lib, #name));        \
    if (!vips.name) throw Error(kSoftware, "", soname + " lacks " #name);
        IMGPIPE_VIPS_FUNCTIONS(IMGPIPE_LOAD)
#undef IMGPIPE_LOAD
        if (vips.vips_version(3) - vips.vips_version(5) != VIPS_LIBRARY_CURRENT - VIPS_LIBRARY_AGE ||
            vips.vips_init("imgpipe") != 0)
            throw Error(kSoftware, "", "cannot start libvips (" + soname + ")");
        vips.vips_concurrency_set(1);
        vips.vips_cache_set_max(0);
        vips.vips_cache_set_max_mem(0);
        vips.vips_cache_set_max_files(0);
        // Loader warnings ("premature end of file") become our own one-line
        // errors, or the image's warnings when it decodes.
        vips.g_log_set_handler("VIPS", GLogLevelFlags(G_LOG_LEVEL_WARNING | G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO), collect_log, nullptr);
    });
}

// Unrefs every image made along the way.
struct Images {
    std::vector<VipsImage*> held;
    ~Images() {
        for (VipsImage* im : held) vips.g_object_unref(im);
    }
    VipsImage* keep(VipsImage* im) {
        held.push_back(im);
        return im;
    }
};

// libvips' error buffer, first line, without the "VipsForeignLoad...: " prefix.
std::string vips_message() {
    char* text = vips.vips_error_buffer_copy();
    std::string m = text ? text : "";
    vips.g_free(text);
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
    vips.vips_error_clear();
    std::vector<std::string> said;
    struct Listen {
        explicit Listen(std::vector<std::string>* to) { warnings = to; }
        ~Listen() { warnings = nullptr; }
    } listen(&said);
    const char* loader = vips.vips_foreign_find_load_buffer(data, size);
    if (!loader) {
        vips.vips_error_clear();
        if (format == ImageFormat::Unknown) throw DataError(where, "not an image (starts with '" + printable_start(data, size) + "')");
        throw DataError(where, std::string("corrupt ") + format_name(format) + " file (no decoder recognises it)");
    }
    Images images;
    VipsImage* im = vips.vips_image_new_from_buffer(data, size, "", "access", VIPS_ACCESS_SEQUENTIAL, "fail_on",
                                               VIPS_FAIL_ON_ERROR, nullptr);
    if (!im) fail(where, format, vips_message());
    images.keep(im);
    const int w = im->Xsize, h = im->Ysize;
    check_pixel_limit(uint64_t(w), uint64_t(h), req.options->max_pixels, where,
                      format == ImageFormat::Unknown ? "image" : format_name(format));
    const int orientation = vips.vips_image_get_orientation(im);

    // Shrink while loading (JPEG) or with a box shrink, keeping the source box
    // at least twice the output so the final resample still antialiases.
    double scale = 1.0;
    if (req.may_shrink()) {
        const bool swap = orientation >= 5;
        double limit = make_plan(swap ? h : w, swap ? w : h, *req.options).max_shrink();
        if (format == ImageFormat::Jpeg && limit >= 2) {
            int shrink = limit >= 8 ? 8 : limit >= 4 ? 4 : 2;
            scale = 1.0 / shrink;
            VipsImage* small = nullptr;
            if (vips.vips_jpegload_buffer(const_cast<uint8_t*>(data), size, &small, "shrink", shrink, "access",
                                     VIPS_ACCESS_SEQUENTIAL, "fail_on", VIPS_FAIL_ON_ERROR, nullptr))
                fail(where, format, vips_message());
            im = images.keep(small);
        } else if (limit >= 2) {
            int k = int(limit);
            scale = 1.0 / k;
            VipsImage* small = nullptr;
            if (vips.vips_shrink(im, &small, double(k), double(k), nullptr)) fail(where, format, vips_message());
            im = images.keep(small);
        }
    }

    // Colour: ICC profiles (and CMYK, through libvips' built-in CMYK profile
    // when the file has none) to sRGB; everything else to 8-bit sRGB or gray.
    const void* icc = nullptr;
    size_t icc_size = 0;
    bool has_icc = vips.vips_image_get_typeof(im, VIPS_META_ICC_NAME) &&
                   vips.vips_image_get_blob(im, VIPS_META_ICC_NAME, &icc, &icc_size) == 0;
    bool cmyk = vips.vips_image_guess_interpretation(im) == VIPS_INTERPRETATION_CMYK;
    if (cmyk || (has_icc && !icc_is_srgb(static_cast<const uint8_t*>(icc), icc_size))) {
        VipsImage* t = nullptr;
        if (vips.vips_icc_transform(im, &t, "srgb", "embedded", TRUE, "intent", VIPS_INTENT_RELATIVE, nullptr) == 0)
            im = images.keep(t);
        else
            vips.vips_error_clear();  // a broken profile: fall back to the plain conversion below
    }
    const bool alpha = vips.vips_image_hasalpha(im);
    const int colour_bands = im->Bands - (alpha ? 1 : 0);
    const VipsInterpretation target = colour_bands >= 3 ? VIPS_INTERPRETATION_sRGB : VIPS_INTERPRETATION_B_W;
    if (vips.vips_image_guess_interpretation(im) != target || im->BandFmt != VIPS_FORMAT_UCHAR) {
        VipsImage* t = nullptr;
        if (vips.vips_colourspace(im, &t, target, nullptr) == 0) im = images.keep(t);
        else vips.vips_error_clear();
    }
    if (im->BandFmt != VIPS_FORMAT_UCHAR) {
        VipsImage* t = nullptr;
        if (vips.vips_cast_uchar(im, &t, nullptr)) fail(where, format, vips_message());
        im = images.keep(t);
    }
    int bands = im->Bands;
    if (bands > 4 || bands == 0) {
        VipsImage* t = nullptr;
        int keep = vips.vips_image_hasalpha(im) ? 4 : 3;
        if (bands < 3) keep = 1;
        if (vips.vips_extract_band(im, &t, 0, "n", keep, nullptr)) fail(where, format, vips_message());
        im = images.keep(t);
        bands = keep;
    }

    // Fetch the pixels in strips, in this thread.
    Pixels& px = *out.pixels;
    px.reset(im->Xsize, im->Ysize, bands);
    VipsRegion* region = vips.vips_region_new(im);
    if (!region) fail(where, format, vips_message());
    const size_t row_bytes = size_t(px.width) * size_t(bands);
    for (int y = 0; y < px.height; y += 64) {
        VipsRect r{0, y, px.width, std::min(64, px.height - y)};
        if (vips.vips_region_prepare(region, &r)) {
            vips.g_object_unref(region);
            fail(where, format, vips_message());
        }
        for (int k = 0; k < r.height; ++k)
            std::memcpy(px.row(y + k), region->data + size_t(y + k - region->valid.top) * size_t(region->bpl), row_bytes);
    }
    vips.g_object_unref(region);
    out.file_w = w;
    out.file_h = h;
    out.orientation = orientation >= 1 && orientation <= 8 ? orientation : 1;
    out.scale = scale;
    for (const std::string& m : said) req.warn(where, m);
}

}  // namespace codec
}  // namespace imgpipe
