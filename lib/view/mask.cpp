#include "view/mask.hpp"

#include <spng.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/error.hpp"
#include "cli/io.hpp"
#include "list/list.hpp"

namespace imgpipe {

Color voc_color(int index) {
    // VOCdevkit's labelcolormap: the bits of the index, three at a time,
    // spread from the high bit of r, g and b down.
    int r = 0, g = 0, b = 0, c = index;
    for (int j = 0; j < 8; ++j) {
        r |= ((c >> 0) & 1) << (7 - j);
        g |= ((c >> 1) & 1) << (7 - j);
        b |= ((c >> 2) & 1) << (7 - j);
        c >>= 3;
    }
    return {uint8_t(r), uint8_t(g), uint8_t(b)};
}

Palette::Palette() {
    for (int i = 0; i < 256; ++i) colors[size_t(i)] = voc_color(i);
}

Palette Palette::of(const Frame& f) {
    Palette p;
    auto colors = f.metadata.find("colors");
    if (colors != f.metadata.end()) {
        nlohmann::json list = nlohmann::json::parse(colors->second, nullptr, false);
        if (!list.is_array() || list.size() > 256)
            throw DataError("", "metadata \"colors\" is not a JSON list of at most 256 [r, g, b]: " + colors->second.substr(0, 80));
        for (size_t i = 0; i < list.size(); ++i) {
            const nlohmann::json& c = list[i];
            bool ok = c.is_array() && c.size() == 3;
            for (size_t k = 0; ok && k < 3; ++k) ok = c[k].is_number_integer() && c[k].get<int64_t>() >= 0 && c[k].get<int64_t>() <= 255;
            if (!ok) throw DataError("", "metadata \"colors\": entry " + std::to_string(i) + " is not [r, g, b] of 0..255: " + c.dump());
            p.colors[i] = {uint8_t(c[0].get<int>()), uint8_t(c[1].get<int>()), uint8_t(c[2].get<int>())};
        }
    }
    auto ignore = f.metadata.find("ignore_index");
    if (ignore != f.metadata.end()) {
        double v = -1;
        if (!parse_number(ignore->second, v) || v < 0 || v > 255 || v != std::floor(v))
            throw DataError("", "metadata \"ignore_index\" is not an index 0..255: \"" + ignore->second + "\"");
        p.ignore = int(v);
        p.colors[size_t(p.ignore)] = {255, 255, 255};
    }
    return p;
}

bool is_mask_frame(const Frame& f) {
    auto mode = f.metadata.find("class_mode");
    const Tensor* y = f.find("y");
    return mode != f.metadata.end() && mode->second == "mask" && y && y->dtype == DType::U8 && y->shape.size() == 4 &&
           y->shape[3] == 1;
}

namespace {
void check_mask(const Tensor& mask) {
    if (mask.dtype != DType::U8 || mask.shape.size() != 4 || mask.shape[3] != 1)
        throw DataError("", "tensor \"" + mask.name + "\" " + dtype_name(mask.dtype) + " " + shape_text(mask.shape) +
                                " is not a mask U8 [n,h,w,1]");
}

vips::VImage wrap_rgb(std::vector<uint8_t>& pixels, int w, int h) {
    VipsImage* raw = vips_image_new_from_memory_copy(pixels.data(), pixels.size(), w, h, 3, VIPS_FORMAT_UCHAR);
    if (!raw) throw Error(kSoftware, "", "libvips: cannot wrap pixels");
    vips::VImage image(raw, vips::STEAL);
    return image.copy(vips::VImage::option()->set("interpretation", VIPS_INTERPRETATION_sRGB));
}
}  // namespace

vips::VImage mask_picture(const Tensor& mask, int64_t row, const Palette& palette) {
    check_mask(mask);
    const int h = int(mask.shape[1]), w = int(mask.shape[2]);
    const uint8_t* m = mask.values<uint8_t>() + size_t(row) * size_t(h) * size_t(w);
    std::vector<uint8_t> rgb(size_t(h) * size_t(w) * 3);
    for (size_t i = 0; i < size_t(h) * size_t(w); ++i) std::copy_n(palette.colors[m[i]].begin(), 3, rgb.begin() + ptrdiff_t(3 * i));
    return wrap_rgb(rgb, w, h);
}

vips::VImage overlay_picture(const vips::VImage& image, const Tensor& mask, int64_t row, const Palette& palette, double alpha) {
    check_mask(mask);
    vips::VImage base = image;
    if (base.bands() == 2 || base.bands() == 4) base = base.flatten(vips::VImage::option()->set("background", std::vector<double>{255}));
    if (base.bands() == 1) base = base.bandjoin(base).bandjoin(base);
    base = base.cast(VIPS_FORMAT_UCHAR);
    const int w = base.width(), h = base.height();
    size_t size = 0;
    void* memory = base.write_to_memory(&size);
    std::vector<uint8_t> rgb(static_cast<uint8_t*>(memory), static_cast<uint8_t*>(memory) + size);
    g_free(memory);
    const int mh = int(mask.shape[1]), mw = int(mask.shape[2]);
    const uint8_t* m = mask.values<uint8_t>() + size_t(row) * size_t(mh) * size_t(mw);
    for (int y = 0; y < h; ++y) {
        const int sy = int(std::min<int64_t>(mh - 1, (2 * int64_t(y) + 1) * mh / (2 * int64_t(h))));  // nearest, pixel centres
        for (int x = 0; x < w; ++x) {
            const int sx = int(std::min<int64_t>(mw - 1, (2 * int64_t(x) + 1) * mw / (2 * int64_t(w))));
            const uint8_t c = m[size_t(sy) * size_t(mw) + size_t(sx)];
            if (c == 0 || c == palette.ignore) continue;
            uint8_t* p = &rgb[(size_t(y) * size_t(w) + size_t(x)) * 3];
            for (int k = 0; k < 3; ++k)
                p[k] = uint8_t(std::lround((1 - alpha) * p[k] + alpha * palette.colors[c][size_t(k)]));
        }
    }
    return wrap_rgb(rgb, w, h);
}

void save_mask_png(const uint8_t* indices, int64_t h, int64_t w, const Palette& palette, const std::string& path) {
    struct Free {
        void operator()(spng_ctx* c) const { spng_ctx_free(c); }
    };
    std::unique_ptr<spng_ctx, Free> ctx(spng_ctx_new(SPNG_CTX_ENCODER));
    if (!ctx) throw Error(kSoftware, path, "libspng: cannot start an encoder");
    spng_set_option(ctx.get(), SPNG_ENCODE_TO_BUFFER, 1);
    spng_ihdr ihdr{};
    ihdr.width = uint32_t(w);
    ihdr.height = uint32_t(h);
    ihdr.bit_depth = 8;
    ihdr.color_type = SPNG_COLOR_TYPE_INDEXED;
    spng_plte plte{};
    plte.n_entries = 256;
    for (size_t i = 0; i < 256; ++i) {
        plte.entries[i].red = palette.colors[i][0];
        plte.entries[i].green = palette.colors[i][1];
        plte.entries[i].blue = palette.colors[i][2];
    }
    int err = spng_set_ihdr(ctx.get(), &ihdr);
    if (!err) err = spng_set_plte(ctx.get(), &plte);
    if (!err) err = spng_encode_image(ctx.get(), indices, size_t(h * w), SPNG_FMT_PNG, SPNG_ENCODE_FINALIZE);
    if (err) throw Error(kSoftware, path, std::string("cannot encode the mask: ") + spng_strerror(err));
    size_t size = 0;
    void* png = spng_get_png_buffer(ctx.get(), &size, &err);
    if (!png) throw Error(kSoftware, path, std::string("cannot encode the mask: ") + spng_strerror(err));
    try {
        write_file_atomic(path, png, size);
    } catch (...) {
        free(png);
        throw;
    }
    free(png);
}

std::string mask_list_line(const std::string& path, const std::string& mask, bool weighted, double weight) {
    for (const std::string* p : {&path, &mask})
        if (p->find_first_of("\t\n") != std::string::npos) throw DataError(*p, "a path with a tab or a newline has no list line");
    ListEntry e = ListEntry::unlabelled(path);
    e.kind = TargetKind::mask, e.mask = mask, e.weighted = weighted, e.weight = weight;
    return format_list_line(e, false);
}

Tensor predicted_mask(const Tensor& outputs) {
    if (outputs.dtype != DType::F32 || outputs.shape.size() != 4 || outputs.shape[3] < 1 || outputs.shape[3] > 256)
        throw DataError("", "the model's outputs " + std::string(dtype_name(outputs.dtype)) + " " + shape_text(outputs.shape) +
                                " are not a mask's [n,h,w,C] (C classes, 1 for one sigmoid)");
    const int64_t n = outputs.shape[0], h = outputs.shape[1], w = outputs.shape[2], c = outputs.shape[3];
    Tensor mask("y", DType::U8, {n, h, w, 1});
    const float* p = outputs.values<float>();
    uint8_t* m = mask.values<uint8_t>();
    for (int64_t i = 0; i < n * h * w; ++i, p += c) {
        if (c == 1) {
            m[i] = p[0] > 0.5f;
        } else {
            int64_t best = 0;
            for (int64_t k = 1; k < c; ++k)
                if (p[k] > p[best]) best = k;
            m[i] = uint8_t(best);
        }
    }
    return mask;
}

std::string MaskWriter::mask_path(const std::string& source) const {
    std::string rel = source;
    for (;;) {  // stay inside the folder
        if (rel.rfind("/", 0) == 0) rel.erase(0, 1);
        else if (rel.rfind("./", 0) == 0) rel.erase(0, 2);
        else if (rel.rfind("../", 0) == 0) rel.erase(0, 3);
        else break;
    }
    rel = without_extension(rel);
    if (rel.empty() || rel.find("/../") != std::string::npos) throw DataError(source, "no mask file can be named after this path");
    return dir_ + "/" + rel + ".png";
}

namespace {
// The upright size of the image file at `path` (its header only).
std::pair<int64_t, int64_t> file_size(const std::string& path) {
    try {
        vips::VImage image = vips::VImage::new_from_file(path.c_str(), vips::VImage::option()->set("access", VIPS_ACCESS_SEQUENTIAL));
        int64_t w = image.width(), h = image.height();
        if (vips_image_get_typeof(image.get_image(), VIPS_META_ORIENTATION) && image.get_int(VIPS_META_ORIENTATION) >= 5) std::swap(w, h);
        return {h, w};
    } catch (const vips::VError& e) {
        std::string message = e.what();
        if (!message.empty() && message.back() == '\n') message.pop_back();
        throw DataError(path, "--mask-size original: cannot read the size of " + path + ": " + message.substr(0, message.find('\n')));
    }
}
}  // namespace

std::string MaskWriter::write(const Tensor& mask, int64_t row, const std::string& source, const Palette& palette, bool weighted,
                              double weight) {
    check_mask(mask);
    if (source.empty()) throw DataError("", "the stream names no source path (metadata \"paths\") to name the mask after");
    const std::string path = mask_path(source);
    auto [it, fresh] = written_.emplace(path, source);
    if (!fresh && it->second != source)
        throw DataError(path, "the masks of " + it->second + " and " + source + " would both be " + path);
    const int64_t h = mask.shape[1], w = mask.shape[2];
    const uint8_t* m = mask.values<uint8_t>() + size_t(row * h * w);
    std::vector<uint8_t> resized;
    int64_t oh = h, ow = w;
    if (original_size_) {
        std::tie(oh, ow) = file_size(source);
        resized.resize(size_t(oh * ow));
        for (int64_t y = 0; y < oh; ++y) {  // nearest neighbour, pixel centres
            const int64_t sy = std::min(h - 1, (2 * y + 1) * h / (2 * oh));
            for (int64_t x = 0; x < ow; ++x) resized[size_t(y * ow + x)] = m[sy * w + std::min(w - 1, (2 * x + 1) * w / (2 * ow))];
        }
        m = resized.data();
    }
    make_directories(path.substr(0, path.rfind('/')));  // path is DIR/...: it has a slash
    save_mask_png(m, oh, ow, palette, path);
    return mask_list_line(source, path, weighted, weight);
}

std::string MaskWriter::write_batch(const Frame& batch, const Tensor& mask) {
    const std::vector<std::string> paths = batch.paths();
    const Tensor* w = batch.find("w");
    const bool weighted = w && w->dtype == DType::F32 && w->shape.size() == 1 && w->shape[0] == mask.shape[0];
    const Palette palette = Palette::of(batch);
    std::string lines;
    for (int64_t i = 0; i < mask.shape[0]; ++i)
        lines += write(mask, i, size_t(i) < paths.size() ? paths[size_t(i)] : "", palette, weighted,
                       weighted ? double(w->values<float>()[i]) : 1.0);
    return lines;
}

void set_predicted_mask(Frame& outputs, Tensor mask, const std::vector<std::string>& classes) {
    mask.name = "y";
    outputs.tensors.push_back(std::move(mask));
    outputs.metadata["class_mode"] = "mask";
    outputs.metadata["predicted"] = "mask";
    outputs.set_classes(classes);
}

}  // namespace imgpipe
