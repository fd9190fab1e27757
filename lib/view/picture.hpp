// Pictures of what flows through the pipes: a sample of a stream tensor as an
// image, saving it, and contact sheets (grids of tiles with captions).
#pragma once
#include <vips/vips8>

#include <string>
#include <vector>

#include "stream/frame.hpp"

namespace imgpipe {

void start_vips(const char* tool);

// Sample i of an image tensor [n,h,w,c] (c = 1, 2, 3 or 4) as an 8-bit image.
// U8 as it is; F32 in [0,1] times 255, other F32 ranges stretched min..max to
// 0..255 per image (Keras' array_to_img(scale=True)).
vips::VImage tensor_picture(const Tensor& t, int64_t i);
bool is_image_tensor(const Tensor& t);

// Encodes as png or jpg and writes the file atomically ("-": stdout, never a terminal).
void save_picture(const vips::VImage& image, const std::string& path, const std::string& format);

// A grid: each cell holds one or more tiles side by side and an optional caption under them.
class ContactSheet {
public:
    ContactSheet(int columns, int scale) : columns_(columns), scale_(scale) {}
    void add(const std::vector<vips::VImage>& tiles, const std::string& caption);
    size_t size() const { return cells_.size(); }
    vips::VImage render() const;

private:
    struct Cell { std::vector<vips::VImage> tiles; std::string caption; };
    int columns_, scale_;
    std::vector<Cell> cells_;
};

}  // namespace imgpipe
