// The PNG fast path: libspng straight into 8-bit gray, RGB or RGBA (16-bit
// samples keep their high byte, palettes and tRNS expand, as PIL does).
// Images with a non-sRGB ICC profile, and very large ones (libvips streams
// them through a shrink instead of holding them whole), go to libvips.
#include <spng.h>

#include <memory>

#include "cli/error.hpp"
#include "image/codec.hpp"

namespace imgpipe {
namespace codec {

namespace {
// Above this, libvips' streaming shrink keeps memory flat.
constexpr uint64_t kLargePng = 16ull << 20;

struct CtxFree {
    void operator()(spng_ctx* c) const { spng_ctx_free(c); }
};

[[noreturn]] void fail(const std::string& where, int err) {
    std::string m = spng_strerror(err);
    if (err == SPNG_EOF || err == SPNG_IO_EOF) throw DataError(where, "truncated PNG file");
    throw DataError(where, "corrupt PNG file (" + m + ")");
}
}  // namespace

bool decode_png(const uint8_t* data, size_t size, const std::string& where, const Request& req, Decoded& out) {
    std::unique_ptr<spng_ctx, CtxFree> ctx(spng_ctx_new(0));
    if (!ctx) throw std::bad_alloc();
    spng_ctx* c = ctx.get();
    // PIL checks CRCs of critical chunks and ignores those of ancillary ones.
    spng_set_crc_action(c, SPNG_CRC_ERROR, SPNG_CRC_DISCARD);
    spng_set_png_buffer(c, data, size);
    spng_ihdr ihdr{};
    if (int err = spng_get_ihdr(c, &ihdr)) fail(where, err);
    check_pixel_limit(ihdr.width, ihdr.height, req.options->max_pixels, where, "PNG");
    if (uint64_t(ihdr.width) * ihdr.height > kLargePng && !req.full_size) return false;
    spng_iccp iccp{};
    if (spng_get_iccp(c, &iccp) == 0 && !icc_is_srgb(reinterpret_cast<const uint8_t*>(iccp.profile), iccp.profile_len))
        return false;
    out.orientation = 1;
    spng_exif exif{};
    if (spng_get_exif(c, &exif) == 0) out.orientation = exif_orientation(reinterpret_cast<const uint8_t*>(exif.data), exif.length);

    spng_trns trns{};
    const bool has_trns = spng_get_trns(c, &trns) == 0;
    int fmt, channels;
    switch (ihdr.color_type) {
        case SPNG_COLOR_TYPE_GRAYSCALE:
            if (ihdr.bit_depth <= 8 && !has_trns) fmt = SPNG_FMT_G8, channels = 1;
            else if (has_trns) fmt = SPNG_FMT_RGBA8, channels = 4;
            else fmt = SPNG_FMT_RGB8, channels = 3;
            break;
        case SPNG_COLOR_TYPE_TRUECOLOR:
        case SPNG_COLOR_TYPE_INDEXED:
            if (has_trns) fmt = SPNG_FMT_RGBA8, channels = 4;
            else fmt = SPNG_FMT_RGB8, channels = 3;
            break;
        default:  // gray + alpha, RGBA
            fmt = SPNG_FMT_RGBA8, channels = 4;
            break;
    }
    size_t need = 0;
    if (int err = spng_decoded_image_size(c, fmt, &need)) fail(where, err);
    Pixels& px = *out.pixels;
    px.reset(int(ihdr.width), int(ihdr.height), channels);
    if (need != px.data.size()) throw DataError(where, "corrupt PNG file (unexpected decoded size)");
    if (int err = spng_decode_image(c, px.data.data(), need, fmt, has_trns ? SPNG_DECODE_TRNS : 0)) fail(where, err);
    if (ihdr.color_type == SPNG_COLOR_TYPE_GRAYSCALE || ihdr.color_type == SPNG_COLOR_TYPE_GRAYSCALE_ALPHA) {
        // Gray came out as RGB or RGBA (libspng's 8-bit gray formats do not
        // cover 16-bit or alpha): keep gray, and alpha if any.
        const size_t n = size_t(px.width) * size_t(px.height);
        if (channels == 3) {
            for (size_t i = 0; i < n; ++i) px.data[i] = px.data[i * 3];
            px.reset(px.width, px.height, 1);
        } else if (channels == 4) {
            for (size_t i = 0; i < n; ++i) px.data[2 * i] = px.data[4 * i], px.data[2 * i + 1] = px.data[4 * i + 3];
            px.reset(px.width, px.height, 2);
        }
    }
    out.file_w = int(ihdr.width);
    out.file_h = int(ihdr.height);
    return true;
}

}  // namespace codec
}  // namespace imgpipe
