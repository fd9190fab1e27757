// libFuzzer target: segmentation masks (lib/image/label_map): the PNG mask
// reader (libspng, raw samples, 1-8 bit gray, palette, RGB through a colour
// map) and the colour map's JSON. The first byte picks: bit 0, the bytes are a
// colour map; else a mask PNG (given the signature when it lacks one), decoded
// with 3 classes, ignore index 255 and a two-colour map. Every index read must
// be a class or the ignore index.
#include <cstring>

#include "fuzz.hpp"
#include "image/image.hpp"
#include "image/label_map.hpp"

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
    fuzz::expect_clean([&] {
        decoder.decode(png.data(), png.size(), "fuzz", loader, out);
        if (out.channels != 1 || out.data.size() != size_t(out.width) * size_t(out.height))
            fuzz::finding("mask", "not one channel of width x height");
        for (uint8_t v : out.data)
            if (v >= 3 && v != 255) fuzz::finding("mask", "a value that is no class: " + std::to_string(v));
    });
    return 0;
}
