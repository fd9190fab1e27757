#include "augment/options.hpp"

#include "cli/error.hpp"
#include "cli/io.hpp"

namespace imgpipe {

void AugmentOptions::add_to(CLI::App& cli) {
    const char* group = "Augmentation (Keras ImageDataGenerator)";
    cli.add_option("--rotation-range", a_.rotation_range, "Random rotation, degrees in [-R, R]")->group(group);
    cli.add_option("--width-shift-range", a_.width_shift_range, "Random horizontal shift: fraction of the width if < 1, else pixels")->group(group);
    cli.add_option("--height-shift-range", a_.height_shift_range, "Random vertical shift: fraction of the height if < 1, else pixels")->group(group);
    cli.add_option("--shear-range", a_.shear_range, "Random shear, degrees in [-S, S]")->group(group);
    cli.add_option("--zoom-range", zoom_, "Random zoom: Z for [1-Z, 1+Z], or LO,HI")->group(group);
    cli.add_flag("--horizontal-flip", a_.horizontal_flip, "Flip left-right with probability 1/2")->group(group);
    cli.add_flag("--vertical-flip", a_.vertical_flip, "Flip upside down with probability 1/2")->group(group);
    cli.add_option("--brightness-range", brightness_, "Random brightness factor in LO,HI (1 keeps it)")->group(group);
    cli.add_option("--channel-shift-range", a_.channel_shift_range, "Random shift of every channel, pixel units")->group(group);
    cli.add_option("--fill-mode", fill_mode_, "Points outside the image: nearest (default) | constant | reflect | wrap")->group(group);
    cli.add_option("--cval", a_.cval, "Value outside the image for --fill-mode constant (default 0)")->group(group);
    const char* norm = "Normalization (Keras ImageDataGenerator; makes F32)";
    cli.add_flag("--samplewise-center", samplewise_center_, "Subtract each image's mean")->group(norm);
    cli.add_flag("--samplewise-std-normalization", samplewise_std_, "Divide each image by its standard deviation")->group(norm);
    cli.add_flag("--featurewise-center", featurewise_center_, "Subtract the data set's per-channel mean (--stats)")->group(norm);
    cli.add_flag("--featurewise-std-normalization", featurewise_std_, "Divide by the data set's per-channel std (--stats)")->group(norm);
    cli.add_option("--stats", stats_, "Per-channel statistics from imgstats (JSON)")->group(norm);
}

Augmentation AugmentOptions::augmentation() const {
    Augmentation a = a_;
    if (!zoom_.empty()) parse_zoom_range(zoom_, a.zoom_lo, a.zoom_hi);
    if (!brightness_.empty()) parse_range_pair(brightness_, "--brightness-range", a.brightness_lo, a.brightness_hi);
    if (!brightness_.empty() && a.brightness_hi <= 0)
        throw UsageError("--brightness-range must be 0 < lo <= hi (1 keeps the brightness; 0 would make every image black)");
    a.fill_mode = parse_fill_mode(fill_mode_);
    a.validate();
    return a;
}

Standardization AugmentOptions::standardization(int channels, double scale) const {
    Standardization s;
    // Keras: *_std_normalization turns *_center on (with a warning); so do we.
    s.samplewise_std = samplewise_std_;
    s.samplewise_center = samplewise_center_ || samplewise_std_;
    s.featurewise_std = featurewise_std_;
    s.featurewise_center = featurewise_center_ || featurewise_std_;
    if (s.featurewise_center && stats_.empty())
        throw UsageError("--featurewise-center and --featurewise-std-normalization need --stats FILE (make it with imgstats)");
    if (!stats_.empty()) {
        if (!s.featurewise_center) throw UsageError("--stats is used by --featurewise-center or --featurewise-std-normalization");
        std::vector<uint8_t> bytes = read_file(stats_);
        s.stats = ChannelStats::from_json(std::string(bytes.begin(), bytes.end()), stats_);
        if (int(s.stats.mean.size()) != channels)
            throw DataError(stats_, "statistics for " + std::to_string(s.stats.mean.size()) + " channels, images have " +
                                        std::to_string(channels));
        if (s.stats.dtype == "U8")  // measured in pixel units: follow --rescale
            for (size_t c = 0; c < s.stats.mean.size(); ++c) s.stats.mean[c] *= scale, s.stats.std[c] *= scale;
    }
    return s;
}

}  // namespace imgpipe
