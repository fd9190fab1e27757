// Our own reader of the PNG masks data sets hold (8-bit or 1/2/4-bit gray,
// palette indices; not interlaced), on libdeflate: one-shot inflate into a
// buffer of the known size, rows unfiltered straight into the mask. libspng
// inflated masks at a third of a pair's time (doc/design.md, "Decoding:
// measured facts"); this does it in a fraction. Every chunk's CRC is checked
// (libdeflate's crc32 is a few GB/s), and every malformed file refused.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "image/image.hpp"

struct libdeflate_decompressor;

namespace imgpipe {

class PngMaskReader {
public:
    PngMaskReader();
    ~PngMaskReader();
    PngMaskReader(const PngMaskReader&) = delete;
    PngMaskReader& operator=(const PngMaskReader&) = delete;

    // A PNG file's bytes (signature included) to one channel of samples, w x h,
    // 1-8 bit values widened to bytes (a palette's indices, not its colours).
    // false, nothing written: a PNG this reader leaves to libspng (colour, gray
    // with alpha, 16-bit, interlaced). DataError naming `where` for a malformed
    // file (truncated, a bad chunk length or CRC, image data too short or too
    // long, a bad filter byte) or one of more than max_pixels.
    bool read(const uint8_t* data, size_t size, const std::string& where, uint64_t max_pixels, Pixels& out);

    // The same a row at a time, for callers that keep only some rows (a
    // mask's nearest resize): start() reads the chunks and inflates the image
    // data (false: left to libspng); then next_row() height() times gives
    // each row's width() values, valid until the next call. `data` must
    // outlive the rows.
    bool start(const uint8_t* data, size_t size, const std::string& where, uint64_t max_pixels);
    int width() const { return int(width_); }
    int height() const { return int(height_); }
    const uint8_t* next_row();

private:
    libdeflate_decompressor* inflater_;
    std::string where_;
    uint32_t width_ = 0, height_ = 0, next_ = 0;
    int depth_ = 8;
    size_t row_bytes_ = 0;
    // The inflated rows (filter byte first), two unfiltered rows (the current
    // and the one above), zeros above the first, sub-byte rows widened.
    std::vector<uint8_t> idat_, raw_, rows_, zeros_, wide_;
    const uint8_t* prior_ = nullptr;  // the row above, unfiltered
};

}  // namespace imgpipe
