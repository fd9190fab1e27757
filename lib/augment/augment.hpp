// Keras ImageDataGenerator's augmentation and normalization, per sample:
// one affine transform (rotation, shift, shear, zoom) with bilinear
// interpolation and a fill mode, then channel shift, flips and brightness,
// all drawn from the counter-based generator keyed by (seed, epoch, index), so
// the bytes do not depend on thread count or order. Same meaning and defaults
// as Keras; differences are listed in imgprep(1).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace imgpipe {

enum class FillMode { Nearest, Constant, Reflect, Wrap };
FillMode parse_fill_mode(const std::string& text);  // nearest | constant | reflect | wrap

struct Augmentation {
    double rotation_range = 0;        // degrees, uniform in [-r, r]
    double width_shift_range = 0;     // fraction of the width if < 1, else pixels
    double height_shift_range = 0;    // fraction of the height if < 1, else pixels
    double shear_range = 0;           // degrees
    double zoom_lo = 1, zoom_hi = 1;  // zoom factors, drawn independently for x and y
    bool horizontal_flip = false, vertical_flip = false;
    double brightness_lo = 0, brightness_hi = 0;  // both 0: off
    double channel_shift_range = 0;               // in pixel units (0..255)
    FillMode fill_mode = FillMode::Nearest;
    double cval = 0;

    bool active() const;
    bool geometric() const;
    // Throws UsageError for ranges that make no sense (negative zoom, brightness 0, ...).
    void validate() const;
};

// Keras' zoom_range: "z" means [1-z, 1+z]; "lo,hi" is taken as is.
void parse_zoom_range(const std::string& text, double& lo, double& hi);
// "lo,hi"
void parse_range_pair(const std::string& text, const char* option, double& lo, double& hi);

// One sample's parameters, drawn in Keras' order.
struct Transform {
    double theta = 0, tx = 0, ty = 0, shear = 0, zx = 1, zy = 1;  // degrees; tx rows, ty columns (pixels)
    bool flip_horizontal = false, flip_vertical = false;
    double channel_shift = 0;
    double brightness = 0;  // 0: none
};
Transform draw_transform(const Augmentation& a, int height, int width, uint64_t seed, uint64_t epoch, uint64_t index);

// Applies t to an 8-bit image [h][w][c] in place (scratch is reused across calls).
void apply_transform(const Augmentation& a, const Transform& t, uint8_t* pixels, int height, int width, int channels,
                     std::vector<float>& scratch);

// Applies t's geometry (the affine transform, flips) to a mask of class
// indices [h][w] in place, as apply_transform moves the image's pixels but
// taking the nearest source pixel (Keras' apply_transform with order 0) and
// `fill` where constant filling leaves no source pixel. Photometric draws
// (brightness, channel shift) do not touch it.
void apply_mask_transform(const Augmentation& a, const Transform& t, uint8_t* mask, int height, int width, uint8_t fill,
                          std::vector<uint8_t>& scratch);

// The per-channel statistics featurewise normalization needs (Keras' fit()),
// read from and written as JSON: {"mean": [...], "std": [...], "samples": n}.
struct ChannelStats {
    std::vector<double> mean, std;
    int64_t samples = 0;
    std::string dtype = "F32";  // of the stream they came from: U8 stats are in 0..255 pixel units
    std::string to_json() const;
    static ChannelStats from_json(const std::string& text, const std::string& where);
};

// Keras' standardize() after the rescale: samplewise then featurewise centring
// and scaling (eps 1e-6), on floats [h][w][c].
struct Standardization {
    bool samplewise_center = false, samplewise_std = false;
    bool featurewise_center = false, featurewise_std = false;
    ChannelStats stats;
    bool active() const { return samplewise_center || samplewise_std || featurewise_center || featurewise_std; }
    void apply(float* x, size_t pixels, int channels) const;
};

// `samples` images of `pixels` x `channels` U8 values as floats, as Keras'
// ImageDataGenerator makes them: times `scale` (rescale), then standardized.
void to_floats(const uint8_t* in, float* out, int64_t samples, size_t pixels, int channels, float scale,
               const Standardization& standardization);

// Accumulates per-channel mean and standard deviation over many images
// (Welford's algorithm in double, so long streams lose no precision).
class StatsAccumulator {
public:
    explicit StatsAccumulator(int channels) : n_(size_t(channels), 0), mean_(size_t(channels), 0), m2_(size_t(channels), 0) {}
    void add_u8(const uint8_t* x, size_t pixels, int channels);
    void add_f32(const float* x, size_t pixels, int channels);
    ChannelStats result(int64_t samples) const;

private:
    void merge(int c, double count, double mean, double m2);
    std::vector<double> n_, mean_, m2_;
};

}  // namespace imgpipe
