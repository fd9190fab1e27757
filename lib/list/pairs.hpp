// Segmentation pairs (doc/design.md, "Segmentation pairs"): each image of a
// folder with the mask of the same relative path and stem in a folder that
// mirrors it ("a/b.jpg" <- "a/b.png").
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "list/list.hpp"

namespace imgpipe {

struct MaskPairing {
    std::vector<ListEntry> pairs;  // "PATH<TAB>mask=MASK", in the images' order
    // (path, what is wrong): an image without a mask, a mask without an image,
    // two masks for one image, two images for one mask.
    std::vector<std::pair<std::string, std::string>> problems;
};

// images and masks are paths under image_root and mask_root (walk_tree's).
MaskPairing pair_masks(const std::vector<std::string>& images, const std::string& image_root,
                       const std::vector<std::string>& masks, const std::string& mask_root);

}  // namespace imgpipe
