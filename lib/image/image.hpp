// Loading images for a network: read a file, decode it (TurboJPEG for JPEG,
// libspng for PNG, libvips for every other format and for ICC-managed colour),
// apply its EXIF orientation, convert it to 8-bit sRGB, grayscale or RGBA,
// and resize it to a fixed size. The format is found from the file's first
// bytes, never from its name.
//
// An ImageLoader owns per-thread state (decoder handles, reusable buffers):
// make one per decoding thread; loaders on different threads run in parallel.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace imgpipe {

// How the image's aspect ratio meets the target's (Keras: keep_aspect_ratio,
// crop_to_aspect_ratio, pad_to_aspect_ratio).
enum class Fit { Stretch, Crop, Pad };
// Resampling filters. Every one but Nearest is antialiased when shrinking
// (the filter widens with the scale, as in PIL and torchvision); Area is PIL's
// BOX filter, the mean over each output pixel's footprint.
enum class Interpolation { Nearest, Bilinear, Bicubic, Lanczos, Area };
enum class ColorMode { Rgb, Grayscale, Rgba };

struct Rgb {
    uint8_t r = 0, g = 0, b = 0;
};

// PIL's limit (Image.MAX_IMAGE_PIXELS * 2, where PIL raises DecompressionBombError).
constexpr uint64_t kDefaultMaxPixels = 178956970;

struct PrepOptions {
    int width = 256, height = 256;  // Keras' default target_size
    Fit fit = Fit::Stretch;
    Interpolation interpolation = Interpolation::Bilinear;
    ColorMode color = ColorMode::Rgb;
    Rgb background;  // alpha is flattened on it; --fit pad fills with it
    uint64_t max_pixels = kDefaultMaxPixels;  // refuse images declaring more (0: no limit)
    bool fast_paths = true;  // false: libvips decodes every format (tests, benchmarks)
    // A PNG whose ancillary chunks before the image data (colour profile,
    // text, EXIF...) are damaged (bad CRC, invalid type) is refused, as Pillow
    // refuses it; true: decoded without them, with a warning naming each.
    bool skip_damaged_chunks = false;
    // Decoders may shrink an image while loading it (JPEG DCT scaling, a box
    // shrink in libvips) down to twice the output size, before the filter:
    // much faster, within a few levels of a full decode. false: every image
    // is decoded whole, so the output is the bytes of PIL's Image.resize of
    // the full image (Keras' load_img). Nearest never shrinks on load (it
    // samples single pixels of the full image, as PIL's NEAREST does).
    bool shrink_on_load = true;
    // What a decoder says of an image it still decodes (a damaged chunk it
    // skipped, corrupt JPEG data): (where, message). Called on the decoding
    // thread; unset: such warnings are dropped.
    std::function<void(const std::string& where, const std::string& message)> warn;

    int channels() const { return color == ColorMode::Grayscale ? 1 : color == ColorMode::Rgba ? 4 : 3; }
    size_t sample_bytes() const { return size_t(width) * size_t(height) * size_t(channels()); }
};

// Option text, as the command line spells it; UsageError on bad text.
void parse_size(const std::string& text, int& width, int& height);  // "64x64", or "64" for 64x64
Fit parse_fit(const std::string& text);                             // stretch | crop | pad
double parse_rescale(const std::string& text);                      // "1/255", "0.5"
Interpolation parse_interpolation(const std::string& text);         // nearest | bilinear | ...
ColorMode parse_color_mode(const std::string& text);                // rgb | grayscale | rgba
Rgb parse_color(const std::string& text);                           // "#rrggbb", "r,g,b", "black", "white", "gray"
const char* interpolation_name(Interpolation i);

// Formats known from their magic bytes; Other is anything libvips says it loads.
enum class ImageFormat { Unknown, Jpeg, Png, Gif, Tiff, Webp, Bmp, Pnm, Other };
ImageFormat sniff_format(const uint8_t* data, size_t size);
const char* format_name(ImageFormat format);  // "JPEG", "PNG", ...

// 8-bit interleaved pixels, rows top to bottom; the buffer keeps its capacity
// across images so that a loader does not fault in fresh pages for each one.
struct Pixels {
    int width = 0, height = 0, channels = 0;
    std::vector<uint8_t> data;

    void reset(int w, int h, int c) {
        width = w, height = h, channels = c;
        data.resize(size_t(w) * size_t(h) * size_t(c));
    }
    uint8_t* row(int y) { return data.data() + size_t(y) * size_t(width) * size_t(channels); }
    const uint8_t* row(int y) const { return data.data() + size_t(y) * size_t(width) * size_t(channels); }
};

// Which decoder handled the last image.
enum class Decoder { None, TurboJpeg, Spng, Vips };
const char* decoder_name(Decoder d);

class ImageLoader {
public:
    explicit ImageLoader(const PrepOptions& options);
    ~ImageLoader();
    ImageLoader(const ImageLoader&) = delete;
    ImageLoader& operator=(const ImageLoader&) = delete;

    // Reads the file and writes options.sample_bytes() bytes ([h][w][c]) to out.
    // Throws NoInputError when the file cannot be opened or read, DataError
    // when it is not an image, is corrupt or declares more than max_pixels;
    // both name the path.
    void load_file(const std::string& path, uint8_t* out);
    // An image and its mask of class indices (lib/image/label_map.hpp): the
    // image as load_file, the mask decoded by `masks`, checked to be the
    // image's size, resized and placed by nearest neighbour with the image's
    // plan into mask_out (width x height bytes). DataError names the file.
    void load_pair(const std::string& path, const std::string& mask, class MaskDecoder& masks, uint8_t* out,
                   uint8_t* mask_out);
    // The same for bytes already in memory; `where` names them in errors.
    void load_buffer(const uint8_t* data, size_t size, const std::string& where, uint8_t* out);
    // Decodes only: full size, oriented, 8-bit sRGB with 1 to 4 channels
    // (gray, gray+alpha, RGB, RGBA), as the file holds them.
    void decode(const uint8_t* data, size_t size, const std::string& where, Pixels& out);

    Decoder last_decoder() const;

private:
    struct State;
    std::unique_ptr<State> state_;
};

// Reads a whole file into buf (reused); NoInputError naming the path.
void read_image_file(const std::string& path, std::vector<uint8_t>& buf);

}  // namespace imgpipe
