#include "mask/mask.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "cli/error.hpp"
#include "cli/io.hpp"
#include "cli/random.hpp"
#include "image/image.hpp"

namespace imgpipe {

MaskImage::MaskImage(const std::string& path, int threshold, bool invert) : path_(path) {
    std::vector<uint8_t> bytes;
    read_image_file(path, bytes);
    ImageLoader loader{PrepOptions{}};
    Pixels image;
    try {
        loader.decode(bytes.data(), bytes.size(), path, image);
    } catch (const DataError& e) {
        throw DataError(path, std::string("cannot decode mask image: ") + e.what());
    }
    width_ = image.width;
    height_ = image.height;
    keep_.resize(size_t(width_ * height_));
    const int c = image.channels;
    for (size_t i = 0; i < keep_.size(); ++i) {
        const uint8_t* p = image.data.data() + i * size_t(c);
        // Luma as PIL's "L" computes it; transparent pixels count as black.
        double v = c >= 3 ? 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2] : p[0];
        if (c == 2 || c == 4) v = v * p[c - 1] / 255.0;
        keep_[i] = uint8_t((std::lround(v) > threshold) != invert);
    }
}

const std::vector<uint8_t>& MaskImage::at_size(int64_t h, int64_t w) {
    auto key = std::make_pair(h, w);
    auto it = sized_.find(key);
    if (it != sized_.end()) return it->second;
    std::vector<uint8_t> out(size_t(h * w));
    for (int64_t y = 0; y < h; ++y) {
        int64_t sy = std::min(height_ - 1, (2 * y + 1) * height_ / (2 * h));
        for (int64_t x = 0; x < w; ++x) {
            int64_t sx = std::min(width_ - 1, (2 * x + 1) * width_ / (2 * w));
            out[size_t(y * w + x)] = keep_[size_t(sy * width_ + sx)];
        }
    }
    return sized_.emplace(key, std::move(out)).first->second;
}

BoxOptions parse_box_size(const std::string& text) {
    BoxOptions o;
    long a = 0, b = 0, c = 0, d = 0;
    char tail = 0;
    int n = std::sscanf(text.c_str(), "%ldx%ld-%ldx%ld%c", &a, &b, &c, &d, &tail);
    if (n == 2) { c = a; d = b; }
    else if (n != 4) throw UsageError("--random-box wants HxW or HxW-HxW (pixels), not \"" + text + "\"");
    if (a < 1 || b < 1 || c < a || d < b) throw UsageError("--random-box sizes must be positive and ordered: \"" + text + "\"");
    o.min_h = a; o.min_w = b; o.max_h = c; o.max_w = d;
    return o;
}

std::vector<uint8_t> draw_boxes(const BoxOptions& o, int64_t h, int64_t w, uint64_t seed, uint64_t epoch, uint64_t index) {
    std::vector<uint8_t> keep(size_t(h * w), 1);
    Random rng(seed, epoch, index, Purpose::Mask);
    for (int k = 0; k < o.count; ++k) {
        int64_t bh = std::min(h, o.min_h + int64_t(rng.below(uint64_t(o.max_h - o.min_h + 1))));
        int64_t bw = std::min(w, o.min_w + int64_t(rng.below(uint64_t(o.max_w - o.min_w + 1))));
        int64_t top = o.centred ? (h - bh) / 2 : int64_t(rng.below(uint64_t(h - bh + 1)));
        int64_t left = o.centred ? (w - bw) / 2 : int64_t(rng.below(uint64_t(w - bw + 1)));
        for (int64_t y = top; y < top + bh; ++y) std::memset(&keep[size_t(y * w + left)], 0, size_t(bw));
    }
    return keep;
}

void apply_mask(Tensor& x, int64_t sample, const std::vector<uint8_t>& keep, double fill) {
    int64_t c = x.shape[3];
    size_t pixels = keep.size();
    if (x.dtype == DType::U8) {
        uint8_t v = uint8_t(std::clamp(std::lround(fill), 0L, 255L));
        uint8_t* p = x.values<uint8_t>() + size_t(sample) * pixels * size_t(c);
        for (size_t i = 0; i < pixels; ++i)
            if (!keep[i]) std::memset(p + i * size_t(c), v, size_t(c));
    } else if (x.dtype == DType::F32) {
        float v = float(fill);
        float* p = x.values<float>() + size_t(sample) * pixels * size_t(c);
        for (size_t i = 0; i < pixels; ++i)
            if (!keep[i]) std::fill(p + i * size_t(c), p + (i + 1) * size_t(c), v);
    } else {
        throw DataError("", std::string("cannot mask a tensor of dtype ") + dtype_name(x.dtype));
    }
}

}  // namespace imgpipe
