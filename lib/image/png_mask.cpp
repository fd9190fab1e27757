#include "image/png_mask.hpp"

#include <libdeflate.h>

#include <cstring>
#include <new>

#include "cli/error.hpp"
#include "image/codec.hpp"

namespace imgpipe {

namespace {

uint32_t be32(const uint8_t* p) { return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]; }

bool is_letter(uint8_t c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }

// The Paeth predictor, in stb_image's branch-free form (the same value as the
// PNG specification's for every a, b, c: checked over all 2^24).
uint8_t paeth(int a, int b, int c) {
    const int thresh = c * 3 - (a + b), lo = a < b ? a : b, hi = a < b ? b : a;
    return uint8_t(thresh <= lo ? hi : hi <= thresh ? lo : c);
}

// One row of n bytes filtered with Sub, Up, Average or Paeth (types 1-4; None
// needs no work), one byte per pixel step (gray and palette samples of 1-8
// bits: the filters' "bpp" is 1). prior is the row above, unfiltered (zeros
// for the first row); the three never overlap (restrict lets GCC vectorize Up).
void unfilter(int type, const uint8_t* __restrict src, const uint8_t* __restrict prior, uint8_t* __restrict dst, size_t n) {
    switch (type) {
        case 1:
            dst[0] = src[0];
            for (size_t i = 1; i < n; ++i) dst[i] = uint8_t(src[i] + dst[i - 1]);
            break;
        case 2: {  // most mask rows: in blocks of 64 that GCC's -O2 vectorizes (see check_values)
            size_t i = 0;
            for (; i + 64 <= n; i += 64)
                for (size_t k = 0; k < 64; ++k) dst[i + k] = uint8_t(src[i + k] + prior[i + k]);
            for (; i < n; ++i) dst[i] = uint8_t(src[i] + prior[i]);
            break;
        }
        case 3:
            dst[0] = uint8_t(src[0] + (prior[0] >> 1));
            for (size_t i = 1; i < n; ++i) dst[i] = uint8_t(src[i] + ((dst[i - 1] + prior[i]) >> 1));
            break;
        case 4:
            dst[0] = uint8_t(src[0] + prior[0]);  // Paeth with a = c = 0 picks b
            for (size_t i = 1; i < n; ++i) dst[i] = uint8_t(src[i] + paeth(dst[i - 1], prior[i], prior[i - 1]));
            break;
    }
}

}  // namespace

PngMaskReader::PngMaskReader() : inflater_(libdeflate_alloc_decompressor()) {
    if (!inflater_) throw std::bad_alloc();
}

PngMaskReader::~PngMaskReader() { libdeflate_free_decompressor(inflater_); }

bool PngMaskReader::start(const uint8_t* data, size_t size, const std::string& where, uint64_t max_pixels) {
    auto corrupt = [&](const std::string& what) { return DataError(where, "corrupt PNG file (" + what + ")"); };
    auto truncated = [&] { return DataError(where, "truncated PNG file"); };
    static const uint8_t signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (size < 8 || std::memcmp(data, signature, 8) != 0) throw corrupt("no PNG signature");

    // The chunks up to the end of the image data: IHDR first, PLTE, the IDATs
    // in one run; ancillary chunks skipped, each chunk's CRC checked.
    uint32_t w = 0, h = 0;
    int depth = 0, color = 0;
    bool palette = false;
    const uint8_t* first_idat = nullptr;
    size_t idat_chunks = 0, idat_bytes = 0;
    bool header = false;
    idat_.clear();
    for (size_t pos = 8;;) {
        if (idat_chunks && pos == size) break;  // image data complete, no IEND: as libspng
        if (size - pos < 12) throw truncated();
        const uint32_t length = be32(data + pos);
        const uint8_t* type = data + pos + 4;
        const std::string name(reinterpret_cast<const char*>(type), 4);
        if (!is_letter(type[0]) || !is_letter(type[1]) || !is_letter(type[2]) || !is_letter(type[3]))
            throw corrupt("a chunk type that is not four letters");
        if (length > 0x7fffffffu) throw corrupt("chunk " + name + ": length " + std::to_string(length) + " over 2^31-1");
        if (size - pos - 12 < length) throw truncated();
        const uint8_t* body = type + 4;
        if (libdeflate_crc32(0, type, size_t(length) + 4) != be32(body + length)) throw corrupt("chunk " + name + ": CRC mismatch");
        pos += size_t(length) + 12;
        const bool is_idat = name == "IDAT";
        if (idat_chunks && !is_idat) break;  // the image data ends: nothing after it is needed
        if (!header) {
            if (name != "IHDR" || length != 13) throw corrupt("no IHDR chunk first");
            header = true;
            w = be32(body), h = be32(body + 4), depth = body[8], color = body[9];
            if (w == 0 || h == 0 || w > 0x7fffffffu || h > 0x7fffffffu)
                throw corrupt("image size " + std::to_string(w) + "x" + std::to_string(h));
            const bool depth_ok = color == 0   ? (depth == 1 || depth == 2 || depth == 4 || depth == 8 || depth == 16)
                                  : color == 3 ? (depth == 1 || depth == 2 || depth == 4 || depth == 8)
                                  : color == 2 || color == 4 || color == 6 ? (depth == 8 || depth == 16)
                                                                           : false;
            if (!depth_ok) throw corrupt("colour type " + std::to_string(color) + " with bit depth " + std::to_string(depth));
            if (body[10] != 0 || body[11] != 0 || body[12] > 1) throw corrupt("unknown compression, filter or interlace method");
            // Colour, alpha, 16-bit and interlaced files go to libspng.
            if ((color != 0 && color != 3) || depth == 16 || body[12] != 0) return false;
            codec::check_pixel_limit(w, h, max_pixels, where, "PNG");
            continue;
        }
        if (name == "IHDR") throw corrupt("a second IHDR chunk");
        if (name == "IEND") throw corrupt("no image data");
        if (name == "PLTE") {
            if (length == 0 || length % 3 || length > 768) throw corrupt("a palette of " + std::to_string(length) + " bytes");
            palette = true;
        } else if (is_idat) {
            if (color == 3 && !palette) throw corrupt("a palette image without its PLTE chunk");
            if (!idat_chunks) first_idat = body;
            else {  // image data over several chunks: joined for a one-shot inflate
                if (idat_chunks == 1) idat_.assign(first_idat, first_idat + idat_bytes);
                idat_.insert(idat_.end(), body, body + length);
            }
            ++idat_chunks, idat_bytes += length;
        } else if (!(type[0] & 0x20)) {
            throw corrupt("unknown critical chunk " + name);
        }
    }

    // Inflate the rows, each a filter byte and its samples, into a buffer of
    // exactly their size (the Adler-32 is checked by libdeflate).
    const size_t row_bytes = (size_t(w) * size_t(depth) + 7) / 8;
    const size_t want = size_t(h) * (row_bytes + 1);
    raw_.resize(want);
    const uint8_t* in = idat_chunks == 1 ? first_idat : idat_.data();
    size_t used = 0, got = 0;
    switch (libdeflate_zlib_decompress_ex(inflater_, in, idat_bytes, raw_.data(), want, &used, &got)) {
        case LIBDEFLATE_SUCCESS: break;
        case LIBDEFLATE_INSUFFICIENT_SPACE: throw corrupt("more image data than " + std::to_string(w) + "x" + std::to_string(h));
        default: throw corrupt("bad zlib stream in IDAT");
    }
    if (got != want) throw corrupt("image data too short: " + std::to_string(got) + " of " + std::to_string(want) + " bytes");
    if (used != idat_bytes) throw corrupt("bytes after the zlib stream in IDAT");

    where_ = where;
    width_ = w, height_ = h, depth_ = depth, row_bytes_ = row_bytes, next_ = 0;
    rows_.resize(2 * row_bytes);
    zeros_.assign(row_bytes, 0);
    prior_ = zeros_.data();
    if (depth < 8) wide_.resize(w);
    return true;
}

const uint8_t* PngMaskReader::next_row() {
    const uint32_t y = next_++;
    const uint8_t* row = raw_.data() + size_t(y) * (row_bytes_ + 1);
    if (row[0] > 4)
        throw DataError(where_, "corrupt PNG file (row " + std::to_string(y) + ": filter type " + std::to_string(row[0]) + ")");
    // Unfiltered rows go to whichever of rows_'s two halves does not hold the
    // row above; a None row is its inflated bytes as they are (no copy).
    const uint8_t* cur = row + 1;
    if (row[0] != 0) {
        uint8_t* to = prior_ == rows_.data() ? rows_.data() + row_bytes_ : rows_.data();
        unfilter(row[0], row + 1, prior_, to, row_bytes_);
        cur = to;
    }
    prior_ = cur;
    if (depth_ == 8) return cur;
    const int per_byte = 8 / depth_, bits = (1 << depth_) - 1;
    for (size_t x = 0; x < width_; ++x)
        wide_[x] = uint8_t((cur[x / size_t(per_byte)] >> (8 - depth_ * (int(x % size_t(per_byte)) + 1))) & bits);
    return wide_.data();
}

bool PngMaskReader::read(const uint8_t* data, size_t size, const std::string& where, uint64_t max_pixels, Pixels& out) {
    if (!start(data, size, where, max_pixels)) return false;
    out.reset(width(), height(), 1);
    for (int y = 0; y < height(); ++y) std::memcpy(out.row(y), next_row(), size_t(width()));
    return true;
}

}  // namespace imgpipe
