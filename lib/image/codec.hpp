// Internals of lib/image shared by its .cpp files (not for the tools): the
// geometry plan, container parsing (EXIF orientation, ICC profiles), the
// decoders, the resampler and the pixel conversions.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "image/image.hpp"

namespace imgpipe {
namespace codec {

// Where the output comes from: a box of the (oriented) source, resampled to
// dest_w x dest_h and placed at (off_x, off_y) in the width x height output.
struct Plan {
    double x0 = 0, y0 = 0, x1 = 0, y1 = 0;
    int dest_w = 0, dest_h = 0;
    int off_x = 0, off_y = 0;
    // How far a decoder may shrink the source before resampling (>= 1): the
    // source box stays at least twice dest_w x dest_h (or its full size), so
    // the final resample still filters and --interpolation still means what
    // it says (as libvips' thumbnail does).
    double max_shrink() const;
};
Plan make_plan(int src_w, int src_h, const PrepOptions& options);

// What a decoder needs to know of the request.
struct Request {
    const PrepOptions* options = nullptr;
    bool full_size = false;  // decode(): no shrinking
    // Passes a decoder's warning on (options->warn), if anyone listens.
    void warn(const std::string& where, const std::string& message) const {
        if (options && options->warn) options->warn(where, message);
    }
    // Whether the decoder may shrink while loading (see PrepOptions::shrink_on_load).
    bool may_shrink() const {
        return !full_size && options && options->shrink_on_load && options->interpolation != Interpolation::Nearest;
    }
};

// A decoded image before orientation: pixels (maybe shrunk at decode time),
// the file's own dimensions and its EXIF orientation (1..8).
struct Decoded {
    Pixels* pixels = nullptr;
    int file_w = 0, file_h = 0;
    int orientation = 1;
    // Decoded pixels per file pixel: 1/8 when TurboJPEG decoded at 1/8 scale.
    // (Pixel i of the decoded image covers file pixels [i/scale, (i+1)/scale).)
    double scale = 1.0;
};


// The orientation tag (0x0112) of a TIFF-structured EXIF block; 1 when absent.
int exif_orientation(const uint8_t* tiff, size_t size);

// What the markers before a JPEG's first scan say.
struct JpegMarkers {
    int orientation = 1;
    std::vector<uint8_t> icc;  // the ICC profile, its APP2 chunks joined
};
void scan_jpeg_markers(const uint8_t* data, size_t size, JpegMarkers& out);

// True when an ICC profile describes sRGB (its description names sRGB or its
// primaries are sRGB's), so pixels can be used as they are.
bool icc_is_srgb(const uint8_t* profile, size_t size);

// Throws DataError when width x height exceeds the limit (0: none).
void check_pixel_limit(uint64_t width, uint64_t height, uint64_t max_pixels, const std::string& where,
                       const char* format);

// The decoders. Each returns false when it does not take this image (the
// caller then hands it to libvips), and throws DataError for a corrupt one.
class JpegDecoder {
public:
    JpegDecoder();
    ~JpegDecoder();
    JpegDecoder(const JpegDecoder&) = delete;
    JpegDecoder& operator=(const JpegDecoder&) = delete;
    bool decode(const uint8_t* data, size_t size, const std::string& where, const Request& request, Decoded& out);

private:
    void* handle_;
    JpegMarkers markers_;
};

bool decode_png(const uint8_t* data, size_t size, const std::string& where, const Request& request, Decoded& out);
// The chunks of a PNG before its image data: a damaged one (invalid type, or
// bad CRC when check_crc) throws DataError naming it, or, when it is
// ancillary and options->skip_damaged_chunks, is named in a warning; true
// then (the decoder must skip the chunks whose CRC is bad), and `without`,
// if given, holds the file without the damaged chunks.
bool check_png_chunks(const uint8_t* data, size_t size, const std::string& where, const Request& request, bool check_crc,
                      std::vector<uint8_t>* without = nullptr);

// libvips: any format it loads. Throws DataError when it loads none.
void decode_vips(const uint8_t* data, size_t size, const std::string& where, ImageFormat format,
                 const Request& request, Decoded& out);

// Applies an EXIF orientation (1..8): out is the upright image.
void orient(const Pixels& in, int orientation, Pixels& out);

// PIL's separable resampler (ImagingResample), ported exactly, so that PNG
// input gives the bytes Pillow's Image.resize gives.
// PIL's affine nearest along one axis: for each of out_n outputs over the
// source span a0..a1, the index (0..in_n-1) of the source pixel under its centre.
void nearest_indices(double a0, double a1, int out_n, int in_n, std::vector<int>& index);

class Resampler {
public:
    // Resamples the box (x0,y0)-(x1,y1) of in to out_w x out_h into out.
    void resample(const Pixels& in, double x0, double y0, double x1, double y1, int out_w, int out_h,
                  Interpolation filter, Pixels& out);

private:
    struct Kernel {
        std::vector<int> bounds;  // first source index and tap count per output
        std::vector<int32_t> coeffs;
        int ksize = 0;
        // What the kernel was made for (reused while it matches).
        int in_size = -1, out_size = -1;
        double in0 = 0, in1 = 0;
        Interpolation filter = Interpolation::Nearest;
    };
    void make_kernel(Kernel& k, int in_size, double in0, double in1, int out_size, Interpolation filter);
    Kernel horizontal_, vertical_;
    Pixels temp_, columns_, columns_out_;
    std::vector<const uint8_t*> taps_;
    std::vector<int> xs_, ys_;  // nearest's source columns and rows
};

// Pixel conversions (8-bit, interleaved).
// Composites an alpha channel onto a background (straight alpha, in sRGB
// values as PIL's Image.alpha_composite does): GA -> G, RGBA -> RGB.
void flatten_alpha(const Pixels& in, Rgb background, Pixels& out);
// ITU-R 601-2 luma with PIL's rounding (Image.convert("L")).
void to_gray(const Pixels& in, Pixels& out);
// Gray -> RGB, or G/GA/RGB -> RGBA (opaque when there was no alpha).
void expand_channels(const Pixels& in, int channels, Pixels& out);
void premultiply_alpha(Pixels& rgba);
void unpremultiply_alpha(Pixels& rgba);

}  // namespace codec
}  // namespace imgpipe
