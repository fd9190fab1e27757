// libFuzzer target: segmentation masks (lib/image/label_map): the PNG mask
// readers (lib/image/png_mask for 1-8 bit gray and palette, libspng for RGB
// through a colour map and the rest) and the colour map's JSON. The first byte
// picks: bit 0, the bytes are a colour map; else a mask PNG (given the
// signature when it lacks one), decoded with 3 classes, ignore index 255 and a
// two-colour map. Every index read must be a class or the ignore index; and
// what our reader reads, libspng must read the same when it reads it at all.
#include <spng.h>

#include <cstring>
#include <memory>

#include "fuzz.hpp"
#include "image/image.hpp"
#include "image/label_map.hpp"
#include "image/png_mask.hpp"

using namespace imgpipe;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    const uint8_t* body = data + 1;
    const size_t n = size - 1;
    if (data[0] & 1) {
        fuzz::expect_clean([&] {
            ColorMap m = ColorMap::parse(std::string(reinterpret_cast<const char*>(body), n), "fuzz");
            if (m.names.size() != m.colors.size() || m.names.empty()) fuzz::finding("colour map", "a name for every colour");
        });
        return 0;
    }
    static const uint8_t signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    std::vector<uint8_t> png(signature, signature + 8);
    if (n >= 8 && std::memcmp(body, signature, 8) == 0) png.clear();
    png.insert(png.end(), body, body + n);
    // Our reader against libspng's raw samples (SPNG_FMT_PNG, widened to bytes).
    static PngMaskReader reader;
    Pixels ours;
    bool taken = false;
    fuzz::expect_clean([&] { taken = reader.read(png.data(), png.size(), "fuzz", 1 << 22, ours); });
    if (taken) {
        std::unique_ptr<spng_ctx, void (*)(spng_ctx*)> ctx(spng_ctx_new(0), spng_ctx_free);
        spng_set_crc_action(ctx.get(), SPNG_CRC_ERROR, SPNG_CRC_ERROR);
        spng_set_png_buffer(ctx.get(), png.data(), png.size());
        spng_ihdr ihdr{};
        size_t bytes = 0;
        std::vector<uint8_t> packed;
        if (spng_get_ihdr(ctx.get(), &ihdr) == 0 && spng_decoded_image_size(ctx.get(), SPNG_FMT_PNG, &bytes) == 0 &&
            (packed.resize(bytes), spng_decode_image(ctx.get(), packed.data(), bytes, SPNG_FMT_PNG, 0) == 0)) {
            if (int(ihdr.width) != ours.width || int(ihdr.height) != ours.height) fuzz::finding("png mask", "a size libspng does not read");
            const int depth = ihdr.bit_depth, per = 8 / depth;
            const size_t row_bytes = bytes / ihdr.height;
            for (int y = 0; y < ours.height; ++y)
                for (int x = 0; x < ours.width; ++x)
                    if (ours.row(y)[x] != ((packed[size_t(y) * row_bytes + size_t(x / per)] >> (8 - depth * (x % per + 1))) & ((1 << depth) - 1)))
                        fuzz::finding("png mask", "a value libspng reads otherwise");
        }
    }
    MaskOptions o;
    o.classes = 3, o.ignore_index = 255;
    o.colors = std::make_shared<ColorMap>(ColorMap::parse(
        R"({"classes": [{"name": "a", "color": [0, 0, 0]}, {"name": "b", "color": [255, 0, 0]}, {"name": "c", "color": [0, 255, 0]}], "ignore": [[255, 255, 255]]})",
        "map"));
    PrepOptions prep;
    prep.max_pixels = 1 << 22;
    static ImageLoader loader(prep);
    MaskDecoder decoder(o, prep.max_pixels);
    Pixels out;
    bool decoded = false;
    fuzz::expect_clean([&] {
        decoder.decode(png.data(), png.size(), "fuzz", loader, out);
        if (out.channels != 1 || out.data.size() != size_t(out.width) * size_t(out.height))
            fuzz::finding("mask", "not one channel of width x height");
        for (uint8_t v : out.data)
            if (v >= 3 && v != 255) fuzz::finding("mask", "a value that is no class: " + std::to_string(v));
        decoded = true;
    });
    // A row at a time, picking 3x3 of it as a nearest resize does: what decode() gave.
    const std::vector<int> rows = {0, 1, 1, 2}, cols = {2, 0, 1};
    uint8_t picked[4 * 3] = {};
    bool picked_ok = false;
    fuzz::expect_clean([&] {
        decoder.decode_picked(png.data(), png.size(), "fuzz", loader, [](int w, int h) {
            if (w < 3 || h < 3) throw DataError("fuzz", "under 3x3");
        }, rows, cols, picked, 3);
        picked_ok = true;
        for (size_t k = 0; k < rows.size() && decoded; ++k)
            for (size_t j = 0; j < cols.size(); ++j)
                if (picked[k * 3 + j] != out.row(rows[k])[cols[j]]) fuzz::finding("mask", "picked rows differ from the whole mask");
    });
    if (picked_ok ? !decoded : decoded && out.width >= 3 && out.height >= 3) fuzz::finding("mask", "decode and decode_picked disagree");
    return 0;
}
