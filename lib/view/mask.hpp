// Segmentation masks as pictures and files: the class palette (PASCAL VOC's by
// default, a stream's "colors" when given, the ignore index white), masks drawn
// in colour or blended over their image, palette PNGs (colour type 3, the
// indices as they are, so that imgprep reads them back), and the mask a
// segmentation model predicts (argmax, or > 0.5 for one sigmoid).
#pragma once
#include <vips/vips8>

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "image/label_map.hpp"  // Color
#include "stream/frame.hpp"

namespace imgpipe {

// Entry `index` of the PASCAL VOC colour map (VOCdevkit's bitget palette):
// 0 black, 1 (128,0,0), 2 (0,128,0), 3 (128,128,0), ...
Color voc_color(int index);

// What every class index (0..255) is drawn as.
struct Palette {
    std::array<Color, 256> colors{};
    int ignore = -1;  // the ignore index (drawn white), or -1

    Palette();  // VOC's, no ignore index
    // A mask stream's palette: VOC's, the frame's "colors" (a JSON list of
    // [r, g, b], one per class) over it, its "ignore_index" white. DataError
    // on a malformed value.
    static Palette of(const Frame& f);
};

// class_mode "mask", and y U8 [n, h, w, 1].
bool is_mask_frame(const Frame& f);

// Sample `row` of a mask tensor U8 [n, h, w, 1] in the palette's colours (RGB).
vips::VImage mask_picture(const Tensor& mask, int64_t row, const Palette& palette);
// `image` with the mask's colours blended over it at `alpha` (0: the image, 1:
// the colours), except where the mask holds class 0 (background) or the ignore
// index: there the image shows as it is. A mask of another size is resized
// (nearest) to the image's.
vips::VImage overlay_picture(const vips::VImage& image, const Tensor& mask, int64_t row, const Palette& palette, double alpha);

// h*w class indices as a palette PNG (colour type 3, 8-bit indices, the
// palette's 256 colours), written atomically.
void save_mask_png(const uint8_t* indices, int64_t h, int64_t w, const Palette& palette, const std::string& path);

// "PATH<TAB>mask=MASK[<TAB>w=W]\n", a segmentation pair's list line. DataError
// on a path that a line cannot hold (a tab or a newline).
std::string mask_list_line(const std::string& path, const std::string& mask, bool weighted, double weight);

// A segmentation model's outputs F32 [n, h, w, C] as the mask it predicts,
// U8 [n, h, w, 1] named "y": the argmax over C (ties to the lower index, as
// numpy), or for C = 1 (a sigmoid) class 1 where the output is above 0.5.
// DataError when the outputs are not [n, h, w, C] with 1 <= C <= 256.
Tensor predicted_mask(const Tensor& outputs);

// nnpredict's stream of a segmentation model: `outputs` (x) gets y = `mask`,
// class_mode mask, the classes and "predicted" = "mask" (imgsheet draws only
// the mask of such a stream, beside another stream's image).
void set_predicted_mask(Frame& outputs, Tensor mask, const std::vector<std::string>& classes);

// Writes predicted masks into a folder: each sample's mask is DIR/PATH with
// the source path's extension replaced by .png (leading "/", "./" and "../"
// dropped, so it stays inside DIR, which mirrors the images' folders), at the
// model's size or, with `original_size`, resized (nearest) to the size of the
// file at PATH (after its EXIF orientation).
class MaskWriter {
public:
    MaskWriter(std::string dir, bool original_size) : dir_(std::move(dir)), original_size_(original_size) {}
    // Writes sample `row` of `mask` (U8 [n,h,w,1]) for `source`; returns its
    // list line. DataError (naming both) when two sources map to one file.
    std::string write(const Tensor& mask, int64_t row, const std::string& source, const Palette& palette, bool weighted,
                      double weight);
    // Every sample of `batch` (its paths, weights and palette) with its row of
    // `mask`: their list lines.
    std::string write_batch(const Frame& batch, const Tensor& mask);
    // The file a source's mask goes to.
    std::string mask_path(const std::string& source) const;

private:
    std::string dir_;
    bool original_size_;
    std::map<std::string, std::string> written_;  // mask file -> its source
};

}  // namespace imgpipe
