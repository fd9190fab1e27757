// The PNG fast path: libspng straight into 8-bit gray, RGB or RGBA (16-bit
// samples keep their high byte, palettes and tRNS expand, as PIL does).
// Images with a non-sRGB ICC profile, and very large ones (libvips streams
// them through a shrink instead of holding them whole), go to libvips.
//
// Damaged chunks: libspng checks every CRC of the chunks before the image
// data (as Pillow does; neither reads the CRCs of the chunks after it). A bad
// critical chunk makes the file corrupt; a bad ancillary one (a colour
// profile whose type and CRC were overwritten, say) is refused by default,
// since Pillow refuses it and decoding without it could silently change the
// colours, or decoded without it with a warning (skip_damaged_chunks).
#include <spng.h>

#include <memory>
#include <vector>

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

uint32_t be32(const uint8_t* p) { return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]; }

uint32_t crc32_of(const uint8_t* p, size_t n) {
    static const struct Table {
        uint32_t t[256];
        Table() {
            for (uint32_t i = 0; i < 256; ++i) {
                uint32_t c = i;
                for (int k = 0; k < 8; ++k) c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
                t[i] = c;
            }
        }
    } table;
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; ++i) c = table.t[(c ^ p[i]) & 0xff] ^ (c >> 8);
    return c ^ 0xffffffffu;
}

bool is_letter(uint8_t b) { return (b >= 'A' && b <= 'Z') || (b >= 'a' && b <= 'z'); }

// A chunk type as text: letters as they are, other bytes as \xNN.
std::string chunk_name(const uint8_t* type) {
    std::string s;
    for (int i = 0; i < 4; ++i) {
        if (type[i] >= 0x21 && type[i] < 0x7f && type[i] != '"' && type[i] != '\\') {
            s += char(type[i]);
        } else {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", type[i]);
            s += buf;
        }
    }
    return s;
}
}  // namespace

namespace {
// Calls found(type, why) for each damaged chunk from IHDR to the first IDAT
// (a truncated file stops the walk: the decoder names that); true if any.
// found(type, why, pos): pos is where the chunk starts (its length field).
template <class Found>
bool walk_chunks(const uint8_t* data, size_t size, bool check_crc, Found found) {
    bool any = false;
    for (size_t pos = 8; pos + 12 <= size;) {
        const uint32_t length = be32(data + pos);
        const uint8_t* type = data + pos + 4;
        if (type[0] == 'I' && type[1] == 'D' && type[2] == 'A' && type[3] == 'T') break;
        if (length > size - pos - 12) break;
        const char* why = nullptr;
        if (!(is_letter(type[0]) && is_letter(type[1]) && is_letter(type[2]) && is_letter(type[3])))
            why = "invalid chunk type";
        else if (check_crc && crc32_of(type, size_t(length) + 4) != be32(type + 4 + length))
            why = "bad CRC";
        if (why) {
            any = true;
            found(type, why, pos);
        }
        pos += size_t(length) + 12;
    }
    return any;
}
}  // namespace

bool check_png_chunks(const uint8_t* data, size_t size, const std::string& where, const Request& req, bool check_crc,
                      std::vector<uint8_t>* without) {
    // Without CRCs (the fast path's first look), chunk types only; if one is
    // damaged, every CRC too, so that each damaged chunk is named.
    if (!check_crc && !walk_chunks(data, size, false, [](const uint8_t*, const char*, size_t) {})) return false;
    size_t copied = 0;
    if (without) without->clear();
    const bool damaged = walk_chunks(data, size, true, [&](const uint8_t* type, const char* why, size_t pos) {
        // Bit 5 of the first byte clear: a critical chunk, which no decoder may skip.
        const bool critical = !(type[0] & 0x20);
        const std::string name = "\"" + chunk_name(type) + "\"";
        if (critical) throw DataError(where, "corrupt PNG file (critical chunk " + name + ": " + why + ")");
        const std::string what = "damaged PNG chunk " + name + " (" + why + ")";
        if (!req.options->skip_damaged_chunks)
            throw DataError(where, what + "; --skip-damaged-chunks decodes the image without it");
        req.warn(where, what + ": decoded without it");
        if (without) {
            without->insert(without->end(), data + copied, data + pos);
            copied = pos + 12 + be32(data + pos);
        }
    });
    if (damaged && without) without->insert(without->end(), data + copied, data + size);
    return damaged;
}

bool decode_png(const uint8_t* data, size_t size, const std::string& where, const Request& req, Decoded& out) {
    // Chunk types are checked here (libspng does not); CRCs by libspng, and
    // here again only to name the chunk when it finds a bad one.
    int ancillary_crc = check_png_chunks(data, size, where, req, false) ? SPNG_CRC_DISCARD : SPNG_CRC_ERROR;
    std::unique_ptr<spng_ctx, CtxFree> ctx;
    spng_ctx* c = nullptr;
    spng_ihdr ihdr{};
    spng_iccp iccp{};
    int iccp_err = 0;
    for (;;) {
        ctx.reset(spng_ctx_new(0));
        if (!ctx) throw std::bad_alloc();
        c = ctx.get();
        spng_set_crc_action(c, SPNG_CRC_ERROR, ancillary_crc);
        spng_set_png_buffer(c, data, size);
        if (int err = spng_get_ihdr(c, &ihdr)) fail(where, err);
        check_pixel_limit(ihdr.width, ihdr.height, req.options->max_pixels, where, "PNG");
        if (uint64_t(ihdr.width) * ihdr.height > kLargePng && req.may_shrink()) return false;
        // Reads every chunk up to the image data.
        iccp_err = spng_get_iccp(c, &iccp);
        if (iccp_err == SPNG_ECHUNK_CRC && ancillary_crc == SPNG_CRC_ERROR && check_png_chunks(data, size, where, req, true)) {
            ancillary_crc = SPNG_CRC_DISCARD;  // named and warned of: again, without them
            continue;
        }
        break;
    }
    if (iccp_err != 0 && iccp_err != SPNG_ECHUNKAVAIL) fail(where, iccp_err);
    if (iccp_err == 0 && !icc_is_srgb(reinterpret_cast<const uint8_t*>(iccp.profile), iccp.profile_len)) return false;
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
