// Masking samples of a stream (imgmask): the lecture's face generator sets the
// pixels under a mask image to 0 in the input and keeps the original as the
// target; generated boxes do the same for inpainting and random erasing.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "stream/frame.hpp"

namespace imgpipe {

// A grayscale mask image, decoded once, resampled (nearest) to each image size.
class MaskImage {
public:
    // threshold: mask pixels <= threshold are masked (0: exactly the lecture's mask == 0).
    MaskImage(const std::string& path, int threshold, bool invert);
    // 1 = keep, 0 = masked; h*w bytes, cached per size.
    const std::vector<uint8_t>& at_size(int64_t h, int64_t w);
    int64_t width() const { return width_; }
    int64_t height() const { return height_; }

private:
    std::string path_;
    int64_t width_ = 0, height_ = 0;
    std::vector<uint8_t> keep_;  // full resolution, 1 = keep
    std::map<std::pair<int64_t, int64_t>, std::vector<uint8_t>> sized_;
};

struct BoxOptions {
    int64_t min_h = 0, min_w = 0, max_h = 0, max_w = 0;  // box size range, pixels
    int count = 1;                                        // boxes per sample
    bool centred = false;                                 // centred instead of uniform position
};
// "16x16" or "8x8-24x24" (HxW, as --random-box takes it).
BoxOptions parse_box_size(const std::string& text);

// The keep-mask (1 = keep) of boxes drawn for one sample from (seed, epoch, index).
std::vector<uint8_t> draw_boxes(const BoxOptions& options, int64_t h, int64_t w, uint64_t seed, uint64_t epoch,
                                uint64_t index);

// Sets masked pixels of every channel of x's sample `sample` to fill.
void apply_mask(Tensor& x, int64_t sample, const std::vector<uint8_t>& keep, double fill);

}  // namespace imgpipe
