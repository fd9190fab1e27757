#include "view/picture.hpp"

#include <algorithm>
#include <cmath>

#include "cli/error.hpp"
#include "cli/io.hpp"

namespace imgpipe {

void start_vips(const char* tool) {
    if (VIPS_INIT(tool)) throw Error(kSoftware, "", "cannot start libvips");
    vips_cache_set_max(0);
}

bool is_image_tensor(const Tensor& t) {
    return t.shape.size() == 4 && t.shape[3] >= 1 && t.shape[3] <= 4 && (t.dtype == DType::U8 || t.dtype == DType::F32);
}

vips::VImage tensor_picture(const Tensor& t, int64_t i) {
    if (!is_image_tensor(t))
        throw DataError("", "tensor \"" + t.name + "\" " + dtype_name(t.dtype) + " " + shape_text(t.shape) +
                                " is not an image [n,h,w,c] with 1 to 4 channels");
    int h = int(t.shape[1]), w = int(t.shape[2]), c = int(t.shape[3]);
    size_t n = size_t(h) * size_t(w) * size_t(c);
    std::vector<uint8_t> pixels(n);
    if (t.dtype == DType::U8) {
        std::copy_n(t.values<uint8_t>() + size_t(i) * n, n, pixels.begin());
    } else {
        const float* p = t.values<float>() + size_t(i) * n;
        auto [lo, hi] = std::minmax_element(p, p + n);
        bool unit = *lo >= 0.f && *hi <= 1.f;
        float offset = unit ? 0.f : *lo, span = unit ? 1.f : std::max(*hi - *lo, 1e-12f);
        for (size_t k = 0; k < n; ++k) {
            float v = std::isfinite(p[k]) ? (p[k] - offset) / span : 0.f;
            pixels[k] = uint8_t(std::lround(std::clamp(v, 0.f, 1.f) * 255.f));
        }
    }
    VipsImage* raw = vips_image_new_from_memory_copy(pixels.data(), n, w, h, c, VIPS_FORMAT_UCHAR);
    if (!raw) throw Error(kSoftware, "", "libvips: cannot wrap pixels");
    vips::VImage image(raw, vips::STEAL);
    return image.copy(vips::VImage::option()->set("interpretation", c < 3 ? VIPS_INTERPRETATION_B_W : VIPS_INTERPRETATION_sRGB));
}

void save_picture(const vips::VImage& image, const std::string& path, const std::string& format) {
    void* buffer = nullptr;
    size_t size = 0;
    try {
        vips::VImage out = image;
        if (format == "jpg" || format == "jpeg") {
            if (out.bands() == 2 || out.bands() == 4) out = out.flatten();
            out.write_to_buffer(".jpg", &buffer, &size, vips::VImage::option()->set("Q", 92));
        } else {
            out.write_to_buffer(".png", &buffer, &size);
        }
    } catch (const vips::VError& e) {
        throw Error(kSoftware, path, std::string("cannot encode: ") + e.what());
    }
    try {
        Output out(path, true);
        out.write(buffer, size);
        out.commit();
    } catch (...) {
        g_free(buffer);
        throw;
    }
    g_free(buffer);
}

void ContactSheet::add(const std::vector<vips::VImage>& tiles, const std::string& caption) {
    cells_.push_back({tiles, caption});
}

vips::VImage ContactSheet::render() const {
    if (cells_.empty()) throw DataError("", "nothing to draw: the stream holds no samples");
    const int gap = 4;
    // Every tile is drawn in RGB at the size of the largest, scaled by `scale` (nearest: pixels stay crisp).
    int tile_w = 0, tile_h = 0, per_cell = 0;
    for (const Cell& c : cells_) {
        per_cell = std::max(per_cell, int(c.tiles.size()));
        for (const vips::VImage& t : c.tiles) {
            tile_w = std::max(tile_w, t.width() * scale_);
            tile_h = std::max(tile_h, t.height() * scale_);
        }
    }
    bool captions = std::any_of(cells_.begin(), cells_.end(), [](const Cell& c) { return !c.caption.empty(); });
    int cell_w = per_cell * tile_w + (per_cell - 1) * 2;
    int caption_h = captions ? 14 : 0;
    int cell_h = tile_h + caption_h;
    int columns = std::max(1, std::min(columns_, int(cells_.size())));
    int rows = int((cells_.size() + size_t(columns) - 1) / size_t(columns));
    int width = gap + columns * (cell_w + gap), height = gap + rows * (cell_h + gap);
    vips::VImage sheet = vips::VImage::black(width, height, vips::VImage::option()->set("bands", 3)).new_from_image({255, 255, 255})
                             .cast(VIPS_FORMAT_UCHAR).copy(vips::VImage::option()->set("interpretation", VIPS_INTERPRETATION_sRGB));
    for (size_t k = 0; k < cells_.size(); ++k) {
        int left = gap + int(k % size_t(columns)) * (cell_w + gap), top = gap + int(k / size_t(columns)) * (cell_h + gap);
        for (size_t j = 0; j < cells_[k].tiles.size(); ++j) {
            vips::VImage t = cells_[k].tiles[j];
            if (t.bands() == 2 || t.bands() == 4) t = t.flatten(vips::VImage::option()->set("background", std::vector<double>{255}));
            if (t.bands() == 1) t = t.bandjoin(t).bandjoin(t);
            if (scale_ > 1) t = t.zoom(scale_, scale_);
            sheet = sheet.insert(t.cast(VIPS_FORMAT_UCHAR), left + int(j) * (tile_w + 2), top);
        }
        if (!cells_[k].caption.empty()) {
            // Pango markup is not wanted: captions are file names.
            gchar* escaped = g_markup_escape_text(cells_[k].caption.c_str(), -1);
            vips::VImage text = vips::VImage::text(escaped, vips::VImage::option()->set("font", "sans 8")->set("width", cell_w)->set("dpi", 72));
            g_free(escaped);
            text = text.crop(0, 0, std::min(text.width(), cell_w), std::min(text.height(), caption_h));
            vips::VImage dark = 255 - text;
            vips::VImage ink = dark.bandjoin(dark).bandjoin(dark).cast(VIPS_FORMAT_UCHAR);
            vips::VImage area = sheet.crop(left, top + tile_h, ink.width(), ink.height());
            sheet = sheet.insert((text > 0).ifthenelse(ink, area), left, top + tile_h);
        }
    }
    return sheet;
}

}  // namespace imgpipe
