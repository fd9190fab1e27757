// imgprep's augmentation and normalization options, spelled as Keras'
// ImageDataGenerator arguments, parsed into Augmentation and Standardization.
#pragma once
#include <CLI/CLI.hpp>

#include <string>

#include "augment/augment.hpp"

namespace imgpipe {

class AugmentOptions {
public:
    void add_to(CLI::App& cli);
    // Validates and resolves the options (UsageError, or DataError for a bad --stats file).
    // scale is imgprep's --rescale factor: U8 statistics are scaled by it.
    Augmentation augmentation() const;
    Standardization standardization(int channels, double scale) const;

private:
    Augmentation a_;
    std::string zoom_, brightness_, fill_mode_ = "nearest", stats_;
    bool samplewise_center_ = false, samplewise_std_ = false, featurewise_center_ = false, featurewise_std_ = false;
};

}  // namespace imgpipe
