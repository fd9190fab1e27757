#include "image/label_map.hpp"

#include <spng.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>

#include "cli/error.hpp"
#include "cli/io.hpp"
#include "image/codec.hpp"

namespace imgpipe {

namespace {
std::string color_text(const Color& c) {
    return "(" + std::to_string(c[0]) + ", " + std::to_string(c[1]) + ", " + std::to_string(c[2]) + ")";
}
uint32_t packed(const uint8_t* p) { return uint32_t(p[0]) << 16 | uint32_t(p[1]) << 8 | p[2]; }

// dst[j] = row[cols[j]]: the columns' data and count in locals (a store through
// a byte pointer may alias a vector's own, so the compiler would reload them
// for every pixel), four at a time.
void pick(const uint8_t* row, const std::vector<int>& cols, uint8_t* dst) {
    const int* c = cols.data();
    const size_t n = cols.size();
    size_t j = 0;
    for (; j + 4 <= n; j += 4) {
        const uint8_t a = row[c[j]], b = row[c[j + 1]], d = row[c[j + 2]], e = row[c[j + 3]];
        dst[j] = a, dst[j + 1] = b, dst[j + 2] = d, dst[j + 3] = e;
    }
    for (; j < n; ++j) dst[j] = row[c[j]];
}

struct CtxFree {
    void operator()(spng_ctx* c) const { spng_ctx_free(c); }
};
}  // namespace

ColorMap ColorMap::parse(const std::string& text, const std::string& where) {
    const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
    auto bad = [&](const std::string& what) {
        return DataError(where, what + " (a colour map is {\"classes\": [{\"name\": N, \"color\": [r, g, b]}, ...], \"ignore\": [[r, g, b]]})");
    };
    if (j.is_discarded() || !j.is_object()) throw bad("not a JSON object");
    auto color = [&](const nlohmann::json& v, const std::string& what) {
        if (!v.is_array() || v.size() != 3) throw bad(what + ": a colour is [r, g, b]");
        Color c{};
        for (size_t k = 0; k < 3; ++k) {
            if (!v[k].is_number_integer() || v[k].get<int64_t>() < 0 || v[k].get<int64_t>() > 255)
                throw bad(what + ": colour values are integers 0-255");
            c[k] = uint8_t(v[k].get<int64_t>());
        }
        return c;
    };
    for (const auto& [key, value] : j.items())
        if (key != "classes" && key != "ignore") throw bad("unknown key \"" + key + "\"");
    if (!j.contains("classes") || !j["classes"].is_array() || j["classes"].empty()) throw bad("no \"classes\" list");
    if (j["classes"].size() > 256) throw bad("more than 256 classes (a mask holds 8-bit indices)");
    ColorMap m;
    std::map<uint32_t, std::string> seen;
    auto add = [&](const Color& c, const std::string& what) {
        auto [it, fresh] = seen.emplace(packed(c.data()), what);
        if (!fresh) throw bad("colour " + color_text(c) + " is both " + it->second + " and " + what);
    };
    for (const auto& entry : j["classes"]) {
        const std::string what = "class " + std::to_string(m.names.size());
        if (!entry.is_object() || !entry.contains("name") || !entry["name"].is_string() || !entry.contains("color"))
            throw bad(what + ": wants a \"name\" and a \"color\"");
        const std::string name = entry["name"].get<std::string>();
        if (name.empty() || name.find_first_of("\t\n\r") != std::string::npos) throw bad(what + ": a name is one line of text");
        if (std::find(m.names.begin(), m.names.end(), name) != m.names.end()) throw bad("class \"" + name + "\" twice");
        m.names.push_back(name);
        m.colors.push_back(color(entry["color"], what));
        add(m.colors.back(), "class \"" + name + "\"");
    }
    if (j.contains("ignore")) {
        if (!j["ignore"].is_array()) throw bad("\"ignore\" is a list of colours");
        for (const auto& v : j["ignore"]) {
            m.ignore.push_back(color(v, "ignore"));
            add(m.ignore.back(), "ignored");
        }
    }
    return m;
}

ColorMap ColorMap::read(const std::string& path) {
    const std::vector<uint8_t> bytes = read_file(path);
    return parse(std::string(bytes.begin(), bytes.end()), path);
}

void MaskOptions::validate() const {
    if (classes < 1 || classes > 256) throw UsageError("a mask holds 1 to 256 classes, not " + std::to_string(classes));
    if (ignore_index >= 0 && ignore_index < classes)
        throw UsageError("--ignore-index " + std::to_string(ignore_index) + " is a class (the classes are 0-" +
                         std::to_string(classes - 1) + ")");
    if (colors && colors->ignore.size() && ignore_index < 0)
        throw UsageError("the colour map has \"ignore\" colours: they need --ignore-index (255 by convention)");
}

void MaskDecoder::decode(const uint8_t* data, size_t size, const std::string& where, ImageLoader& loader, Pixels& out) {
    if (size == 0) throw DataError(where, "empty file");
    const ImageFormat format = sniff_format(data, size);
    if (format == ImageFormat::Jpeg)
        throw DataError(where, "a JPEG mask: lossy compression changes class values along every edge; store masks as PNG");
    if (format != ImageFormat::Png) {
        // BMP, TIFF, PGM, GIF...: decoded as an image, 8-bit; gray values are indices.
        loader.decode(data, size, where, decoded_);
        if (decoded_.channels <= 2) {
            out.reset(decoded_.width, decoded_.height, 1);
            for (size_t i = 0; i < out.data.size(); ++i) out.data[i] = decoded_.data[i * size_t(decoded_.channels)];
        } else {
            from_colors(decoded_, where, out);
        }
        check_values(out, where);
        return;
    }
    // Gray and palette PNGs (nearly every mask): our own reader, on libdeflate.
    if (png_.read(data, size, where, max_pixels_, out)) return check_values(out, where);
    // Other PNGs: libspng, raw samples (no gamma, no palette expansion: a palette's indices are the classes).
    std::unique_ptr<spng_ctx, CtxFree> ctx(spng_ctx_new(0));
    if (!ctx) throw std::bad_alloc();
    spng_ctx* c = ctx.get();
    auto fail = [&](int err) -> DataError {
        if (err == SPNG_EOF || err == SPNG_IO_EOF) return DataError(where, "truncated PNG file");
        return DataError(where, std::string("corrupt PNG file (") + spng_strerror(err) + ")");
    };
    spng_set_crc_action(c, SPNG_CRC_ERROR, SPNG_CRC_ERROR);
    spng_set_png_buffer(c, data, size);
    spng_ihdr ihdr{};
    if (int err = spng_get_ihdr(c, &ihdr)) throw fail(err);
    codec::check_pixel_limit(ihdr.width, ihdr.height, max_pixels_, where, "PNG");
    const int w = int(ihdr.width), h = int(ihdr.height), depth = ihdr.bit_depth;
    if (depth == 16) throw DataError(where, "a 16-bit mask: class indices are 8-bit (0-255)");
    const bool colour = ihdr.color_type == SPNG_COLOR_TYPE_TRUECOLOR || ihdr.color_type == SPNG_COLOR_TYPE_TRUECOLOR_ALPHA;
    const int fmt = colour ? SPNG_FMT_RGB8 : SPNG_FMT_PNG;
    size_t bytes = 0;
    if (int err = spng_decoded_image_size(c, fmt, &bytes)) throw fail(err);
    const int samples = ihdr.color_type == SPNG_COLOR_TYPE_GRAYSCALE_ALPHA ? 2 : 1;
    if (!colour && depth == 8 && samples == 1) {  // the usual mask: straight into place
        out.reset(w, h, 1);
        if (bytes != out.data.size()) throw DataError(where, "corrupt PNG file (unexpected image size)");
        if (int err = spng_decode_image(c, out.data.data(), bytes, fmt, 0)) throw fail(err);
        return check_values(out, where);
    }
    Pixels& raw = decoded_;
    raw.data.resize(bytes);
    if (int err = spng_decode_image(c, raw.data.data(), bytes, fmt, 0)) throw fail(err);
    if (colour) {
        raw.width = w, raw.height = h, raw.channels = 3;
        from_colors(raw, where, out);
    } else {
        // Gray or palette samples of 1-8 bits, packed in rows; gray+alpha: the gray.
        const size_t row_bytes = bytes / size_t(h);
        out.reset(w, h, 1);
        for (int y = 0; y < h; ++y) {
            const uint8_t* row = raw.data.data() + size_t(y) * row_bytes;
            uint8_t* dst = out.row(y);
            if (depth == 8) {
                for (int x = 0; x < w; ++x) dst[x] = row[size_t(x) * size_t(samples)];
                continue;
            }
            const int per_byte = 8 / depth, mask = (1 << depth) - 1;
            for (int x = 0; x < w; ++x)
                dst[x] = uint8_t((row[x / per_byte] >> (8 - depth * (x % per_byte + 1))) & mask);
        }
    }
    check_values(out, where);
}

void MaskDecoder::decode_picked(const uint8_t* data, size_t size, const std::string& where, ImageLoader& loader,
                                const std::function<void(int, int)>& size_ok, const std::vector<int>& rows,
                                const std::vector<int>& cols, uint8_t* out, size_t stride) {
    if (size && sniff_format(data, size) == ImageFormat::Png && png_.start(data, size, where, max_pixels_)) {
        const int w = png_.width(), h = png_.height();
        size_ok(w, h);
        bool good = true;
        size_t k = 0;
        for (int y = 0; y < h; ++y) {
            const uint8_t* row = png_.next_row();
            good &= all_valid(row, size_t(w));
            for (; k < rows.size() && rows[k] == y; ++k) pick(row, cols, out + k * stride);
        }
        if (good && k == rows.size()) return;
        // A value that is no class: the whole mask, to name it with its pixel count.
        if (!good) decode(data, size, where, loader, whole_);
        throw std::logic_error("decode_picked: rows must ascend");
    }
    decode(data, size, where, loader, whole_);
    size_ok(whole_.width, whole_.height);
    for (size_t r = 0; r < rows.size(); ++r) pick(whole_.row(rows[r]), cols, out + r * stride);
}

void MaskDecoder::from_colors(const Pixels& rgb, const std::string& where, Pixels& out) const {
    if (!options_.colors)
        throw DataError(where, "an RGB mask: its colours need a colour map to become classes (imgprep --mask-colors FILE), "
                               "or store the class indices as gray values or a palette PNG");
    std::vector<std::pair<uint32_t, uint8_t>> table;
    const ColorMap& m = *options_.colors;
    for (size_t k = 0; k < m.colors.size(); ++k) table.push_back({packed(m.colors[k].data()), uint8_t(k)});
    for (const Color& c : m.ignore) table.push_back({packed(c.data()), uint8_t(options_.ignore_index)});
    std::sort(table.begin(), table.end());
    out.reset(rgb.width, rgb.height, 1);
    uint32_t last = 0xffffffffu, unknown = 0;
    uint8_t last_index = 0;
    uint64_t unknown_pixels = 0;
    for (size_t i = 0; i < out.data.size(); ++i) {
        const uint32_t v = packed(rgb.data.data() + i * size_t(rgb.channels));
        if (v != last) {  // masks come in runs of one colour
            auto it = std::lower_bound(table.begin(), table.end(), std::make_pair(v, uint8_t(0)));
            if (it == table.end() || it->first != v) {
                if (!unknown_pixels) unknown = v;
                ++unknown_pixels;
                continue;
            }
            last = v, last_index = it->second;
        }
        out.data[i] = last_index;
    }
    if (unknown_pixels) {
        const Color c{uint8_t(unknown >> 16), uint8_t(unknown >> 8), uint8_t(unknown)};
        throw DataError(where, "colour " + color_text(c) + " is no class of the colour map (" + std::to_string(unknown_pixels) +
                                   " pixel" + (unknown_pixels == 1 ? "" : "s") + " of unknown colours)");
    }
}

bool MaskDecoder::all_valid(const uint8_t* v, size_t n) const {
    // The common case, every value good, in one pass the compiler vectorizes.
    const uint8_t classes = uint8_t(options_.classes - 1);
    // Without an ignore index, the last class stands in: no value above it equals it.
    const uint8_t ignore = options_.ignore_index >= 0 ? uint8_t(options_.ignore_index) : classes;
    // Blocks of a fixed 32 values ORed into 32 flags, reduced once at the end:
    // GCC's -O2 cost model vectorizes a loop only when its trip count is a
    // known multiple of the vector width (measured: the plain loop took 6% of
    // a pair's time).
    uint8_t flags[32] = {};
    size_t i = 0;
    for (; i + 32 <= n; i += 32)
        for (size_t k = 0; k < 32; ++k) flags[k] |= uint8_t((v[i + k] > classes) & (v[i + k] != ignore));
    uint8_t bad = 0;
    for (; i < n; ++i) bad |= uint8_t((v[i] > classes) & (v[i] != ignore));
    for (uint8_t f : flags) bad |= f;
    return !bad;
}

void MaskDecoder::check_values(const Pixels& indices, const std::string& where) const {
    // The histogram only to name what is wrong.
    if (all_valid(indices.data.data(), indices.data.size())) return;
    uint64_t count[256] = {};
    for (uint8_t v : indices.data) ++count[v];
    for (int v = options_.classes; v < 256; ++v) {
        if (!count[v] || v == options_.ignore_index) continue;
        std::string advice = options_.ignore_index < 0 && v == 255 ? " (255 marks \"no label\" by convention: --ignore-index 255)"
                                                                   : "";
        throw DataError(where, "value " + std::to_string(v) + " in " + std::to_string(count[v]) + " pixel" +
                                   (count[v] == 1 ? "" : "s") + " is not a class (the classes are 0-" +
                                   std::to_string(options_.classes - 1) + ")" + advice);
    }
}

}  // namespace imgpipe
