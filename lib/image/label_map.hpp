// Masks of class indices for segmentation (doc/design.md, "Segmentation
// pairs"): read as indices, never as colour (an 8-bit gray image's values, a
// palette PNG's indices, an RGB image through a colour map), every value
// checked, and resized by nearest neighbour with its image's plan.
#pragma once
#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "image/image.hpp"
#include "image/png_mask.hpp"

namespace imgpipe {

using Color = std::array<uint8_t, 3>;

// A colour map, as VOC and Cityscapes users keep them, in JSON:
// {"classes": [{"name": "road", "color": [128, 64, 128]}, ...], "ignore": [[255, 255, 255]]}
// The index of a class is its place in "classes".
struct ColorMap {
    std::vector<std::string> names;
    std::vector<Color> colors;
    std::vector<Color> ignore;  // colours read as the ignore index
    // DataError naming `where` for anything malformed or ambiguous (a colour twice).
    static ColorMap parse(const std::string& text, const std::string& where);
    static ColorMap read(const std::string& path);
};

struct MaskOptions {
    int classes = 0;        // values 0..classes-1 are classes
    int ignore_index = -1;  // a value read as "no label"; -1: none
    uint8_t fill = 0;       // where the plan pads or a transform leaves no source pixel
    std::shared_ptr<const ColorMap> colors;  // for RGB masks; null: RGB masks refused
    void validate() const;  // UsageError
};

class MaskDecoder {
public:
    MaskDecoder(const MaskOptions& options, uint64_t max_pixels) : options_(options), max_pixels_(max_pixels) {}
    // A mask file's bytes to one channel of class indices at full size;
    // DataError naming `where` for a JPEG, a 16-bit mask, an RGB one without
    // a colour map, a colour or value that is no class (with its pixel count).
    // `loader` decodes formats other than PNG (as images, 8-bit).
    void decode(const uint8_t* data, size_t size, const std::string& where, ImageLoader& loader, Pixels& out);
    // The same, keeping only what the image's nearest resize picks: row k of
    // out (stride bytes apart) gets mask[rows[k]][cols[j]] for every j. rows
    // ascend (nearest_indices gives them so). size_ok(w, h) sees the mask's
    // size before any value is read and throws when it is not its image's.
    // Gray and palette PNGs are read a row at a time, each row checked and
    // picked from while in cache, never the whole mask kept (doc/design.md,
    // "Segmentation pairs": the pair's cost); other files whole, then picked.
    void decode_picked(const uint8_t* data, size_t size, const std::string& where, ImageLoader& loader,
                       const std::function<void(int, int)>& size_ok, const std::vector<int>& rows,
                       const std::vector<int>& cols, uint8_t* out, size_t stride);
    const MaskOptions& options() const { return options_; }

private:
    void from_colors(const Pixels& rgb, const std::string& where, Pixels& out) const;
    void check_values(const Pixels& indices, const std::string& where) const;
    bool all_valid(const uint8_t* values, size_t n) const;  // every value a class or the ignore index
    MaskOptions options_;
    uint64_t max_pixels_;
    Pixels decoded_, whole_;
    PngMaskReader png_;  // gray and palette PNGs; libspng for the rest
};

}  // namespace imgpipe
