// lib/image/png_mask: our PNG mask reader against libspng and PIL on a corpus
// PIL draws (tests/unit/png_mask_corpus.py: every filter type, bit depths 1-8,
// gray and palette, several IDAT chunks), and every kind of malformed file
// refused by name, never a crash.
#include <catch2/catch.hpp>
#include <libdeflate.h>
#include <spng.h>
#include <vips/vips8>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>

#include "cli/error.hpp"
#include "image/label_map.hpp"
#include "image/png_mask.hpp"

using namespace imgpipe;

namespace {
using Bytes = std::vector<uint8_t>;

Bytes slurp(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return Bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

// libspng's raw samples (SPNG_FMT_PNG), widened to a byte a pixel: the reference.
Bytes spng_values(const Bytes& png, int& w, int& h) {
    std::unique_ptr<spng_ctx, void (*)(spng_ctx*)> ctx(spng_ctx_new(0), spng_ctx_free);
    spng_set_png_buffer(ctx.get(), png.data(), png.size());
    spng_ihdr ihdr{};
    REQUIRE(spng_get_ihdr(ctx.get(), &ihdr) == 0);
    size_t size = 0;
    REQUIRE(spng_decoded_image_size(ctx.get(), SPNG_FMT_PNG, &size) == 0);
    Bytes packed(size);
    REQUIRE(spng_decode_image(ctx.get(), packed.data(), size, SPNG_FMT_PNG, 0) == 0);
    w = int(ihdr.width), h = int(ihdr.height);
    const int depth = ihdr.bit_depth, per = 8 / depth;
    const size_t row_bytes = size / size_t(h);
    Bytes values;
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x)
            values.push_back(uint8_t(packed[size_t(y) * row_bytes + size_t(x / per)] >> (8 - depth * (x % per + 1)) & ((1 << depth) - 1)));
    return values;
}

void put32(Bytes& b, uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) b.push_back(uint8_t(v >> s));
}

Bytes chunk(const std::string& type, const Bytes& body) {
    Bytes b;
    put32(b, uint32_t(body.size()));
    Bytes typed(type.begin(), type.end());
    typed.insert(typed.end(), body.begin(), body.end());
    b.insert(b.end(), typed.begin(), typed.end());
    put32(b, libdeflate_crc32(0, typed.data(), typed.size()));
    return b;
}

Bytes zlib(const Bytes& raw) {
    libdeflate_compressor* c = libdeflate_alloc_compressor(6);
    Bytes z(libdeflate_zlib_compress_bound(c, raw.size()));
    z.resize(libdeflate_zlib_compress(c, raw.data(), raw.size(), z.data(), z.size()));
    libdeflate_free_compressor(c);
    return z;
}

Bytes ihdr(uint32_t w, uint32_t h, int depth, int color, int interlace = 0) {
    Bytes b;
    put32(b, w);
    put32(b, h);
    b.insert(b.end(), {uint8_t(depth), uint8_t(color), 0, 0, uint8_t(interlace)});
    return chunk("IHDR", b);
}

const Bytes kSignature = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

// An 8-bit gray w x h PNG whose rows (filter byte first) are `rows`.
Bytes gray_png(uint32_t w, uint32_t h, const Bytes& rows) {
    Bytes png = kSignature;
    for (const Bytes& c : {ihdr(w, h, 8, 0), chunk("IDAT", zlib(rows)), chunk("IEND", {})}) png.insert(png.end(), c.begin(), c.end());
    return png;
}

// Rows of a w x h mask: value (x + y) % 3, each row filtered with None or Up in turn.
Bytes good_rows(int w, int h) {
    Bytes rows;
    for (int y = 0; y < h; ++y) {
        rows.push_back(uint8_t(y % 2 ? 2 : 0));
        for (int x = 0; x < w; ++x) rows.push_back(uint8_t(y % 2 ? ((x + y) % 3 - (x + y - 1) % 3) & 255 : (x + y) % 3));
    }
    return rows;
}

std::string message_of(PngMaskReader& r, const Bytes& png, uint64_t max_pixels = 1 << 24) {
    Pixels out;
    try {
        r.read(png.data(), png.size(), "m.png", max_pixels, out);
    } catch (const DataError& e) {
        return e.where() + ": " + e.what();
    }
    return "(read)";
}
}  // namespace

TEST_CASE("the PNG mask reader gives libspng's and PIL's values for every filter, bit depth and chunking", "[image][mask]") {
    const std::string dir = "/tmp/imgpipe-png-mask-" + std::to_string(getpid());
    REQUIRE(std::system(("/usr/bin/python3 tests/unit/png_mask_corpus.py " + dir).c_str()) == 0);
    PngMaskReader reader;
    int files = 0;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
        if (entry.path().extension() != ".png") continue;
        const std::string stem = entry.path().string().substr(0, entry.path().string().size() - 4);
        INFO(entry.path().filename().string());
        const Bytes png = slurp(entry.path()), truth = slurp(stem + ".raw");
        int w = 0, h = 0;
        std::ifstream(stem + ".size") >> w >> h;
        Pixels ours;
        REQUIRE(reader.read(png.data(), png.size(), "corpus", 1 << 24, ours));
        CHECK((ours.width == w && ours.height == h && ours.channels == 1));
        CHECK(ours.data == truth);
        int sw = 0, sh = 0;
        CHECK(spng_values(png, sw, sh) == ours.data);
        ++files;
    }
    std::filesystem::remove_all(dir);
    CHECK(files == 4 * (4 * 2 * 6 + 3));  // 4 sizes x (depths x gray/palette x 6 filterings + PIL's 3)
}

TEST_CASE("the PNG mask reader names and refuses every malformed file", "[image][mask]") {
    PngMaskReader r;
    const Bytes rows = good_rows(10, 6), png = gray_png(10, 6, rows);
    Pixels out;
    REQUIRE(r.read(png.data(), png.size(), "m.png", 1 << 24, out));
    for (int y = 0; y < 6; ++y)
        for (int x = 0; x < 10; ++x) CHECK(out.row(y)[x] == (x + y) % 3);

    // Every prefix is refused, but the one that ends with the last IDAT (no IEND: read, as libspng does).
    const size_t without_iend = png.size() - 12;
    for (size_t n = 0; n < png.size(); ++n) {
        INFO(n);
        const std::string m = message_of(r, Bytes(png.begin(), png.begin() + long(n)));
        if (n == without_iend) CHECK(m == "(read)");
        else if (n < 8) CHECK(m == "m.png: corrupt PNG file (no PNG signature)");
        else CHECK(m == "m.png: truncated PNG file");
    }
    // Any byte flipped: a value changed or a named refusal (CRCs catch nearly all), never a crash.
    for (size_t i = 0; i < png.size(); ++i) {
        Bytes bad = png;
        bad[i] ^= 0x5a;
        const std::string m = message_of(r, bad);
        CHECK((m == "(read)" || m.rfind("m.png: ", 0) == 0));
    }

    auto with = [&](const std::vector<Bytes>& chunks) {
        Bytes b = kSignature;
        for (const Bytes& c : chunks) b.insert(b.end(), c.begin(), c.end());
        return b;
    };
    const Bytes idat = chunk("IDAT", zlib(rows)), iend = chunk("IEND", {});
    Bytes bad_crc = png;
    bad_crc[8 + 25 + 8] ^= 1;  // the IDAT's first data byte
    CHECK(message_of(r, bad_crc) == "m.png: corrupt PNG file (chunk IDAT: CRC mismatch)");
    Bytes long_chunk = png;
    long_chunk[8 + 25] = 0x90, long_chunk[8 + 26] = long_chunk[8 + 27] = long_chunk[8 + 28] = 0;  // the IDAT's length over 2^31-1
    CHECK(message_of(r, long_chunk) == "m.png: corrupt PNG file (chunk IDAT: length 2415919104 over 2^31-1)");
    Bytes past_end = png;
    past_end[8 + 25 + 2] = 0x10;  // a length past the end of the file
    CHECK(message_of(r, past_end) == "m.png: truncated PNG file");
    CHECK(message_of(r, gray_png(10, 6, Bytes(rows.begin(), rows.end() - 11))) ==
          "m.png: corrupt PNG file (image data too short: 55 of 66 bytes)");
    Bytes more = rows;
    more.insert(more.end(), 11, 0);
    CHECK(message_of(r, gray_png(10, 6, more)) == "m.png: corrupt PNG file (more image data than 10x6)");
    Bytes filter5 = rows;
    filter5[2 * 11] = 5;
    CHECK(message_of(r, gray_png(10, 6, filter5)) == "m.png: corrupt PNG file (row 2: filter type 5)");
    CHECK(message_of(r, with({ihdr(100000, 100000, 8, 0), idat, iend})) ==
          "m.png: PNG declares 100000x100000 = 10000000000 pixels, more than --max-pixels 16777216 (a decompression bomb?)");
    CHECK(message_of(r, with({ihdr(0x80000000u, 1, 8, 0), idat, iend})) == "m.png: corrupt PNG file (image size 2147483648x1)");
    CHECK(message_of(r, with({ihdr(0, 6, 8, 0), idat, iend})) == "m.png: corrupt PNG file (image size 0x6)");
    CHECK(message_of(r, with({ihdr(10, 6, 3, 0), idat, iend})) == "m.png: corrupt PNG file (colour type 0 with bit depth 3)");
    CHECK(message_of(r, with({ihdr(10, 6, 8, 3), idat, iend})) == "m.png: corrupt PNG file (a palette image without its PLTE chunk)");
    CHECK(message_of(r, with({ihdr(10, 6, 8, 3), chunk("PLTE", Bytes(7)), idat, iend})) == "m.png: corrupt PNG file (a palette of 7 bytes)");
    CHECK(message_of(r, with({idat, iend})) == "m.png: corrupt PNG file (no IHDR chunk first)");
    CHECK(message_of(r, with({ihdr(10, 6, 8, 0), iend})) == "m.png: corrupt PNG file (no image data)");
    CHECK(message_of(r, with({ihdr(10, 6, 8, 0), chunk("ABCD", {}), idat, iend})) == "m.png: corrupt PNG file (unknown critical chunk ABCD)");
    CHECK(message_of(r, with({ihdr(10, 6, 8, 0), chunk("IDAT", Bytes(40, 0x33)), iend})) == "m.png: corrupt PNG file (bad zlib stream in IDAT)");
    Bytes trailing = zlib(rows);
    trailing.push_back(0);
    CHECK(message_of(r, with({ihdr(10, 6, 8, 0), chunk("IDAT", trailing), iend})) == "m.png: corrupt PNG file (bytes after the zlib stream in IDAT)");
    CHECK(message_of(r, with({ihdr(10, 6, 8, 0), chunk("a1cd", {}), idat, iend})) == "m.png: corrupt PNG file (a chunk type that is not four letters)");
    // An ancillary chunk between the IDATs ends the image data: what follows is not read.
    CHECK(message_of(r, with({ihdr(10, 6, 8, 0), idat, chunk("tEXt", {}), chunk("IDAT", Bytes(5)), iend})) == "(read)");

    // Left to libspng, nothing read: colour, gray with alpha, 16-bit, interlaced.
    for (const Bytes& h : {ihdr(10, 6, 8, 2), ihdr(10, 6, 8, 4), ihdr(10, 6, 16, 0), ihdr(10, 6, 8, 0, 1)})
        CHECK_FALSE(r.read(with({h, idat, iend}).data(), with({h, idat, iend}).size(), "m.png", 1 << 24, out));
}

TEST_CASE("masks the reader leaves to libspng still decode: an interlaced gray mask", "[image][mask]") {
    VIPS_INIT("unit_tests");
    Bytes values(40 * 30);
    for (size_t i = 0; i < values.size(); ++i) values[i] = uint8_t(i % 7 % 3);
    vips::VImage img = vips::VImage::new_from_memory(values.data(), values.size(), 40, 30, 1, VIPS_FORMAT_UCHAR);
    void* buf = nullptr;
    size_t size = 0;
    img.write_to_buffer(".png", &buf, &size, vips::VImage::option()->set("interlace", true));
    const Bytes png(static_cast<uint8_t*>(buf), static_cast<uint8_t*>(buf) + size);
    g_free(buf);
    REQUIRE(png[8 + 8 + 12] == 1);  // IHDR says interlaced
    MaskOptions o;
    o.classes = 3;
    PrepOptions prep;
    ImageLoader loader(prep);
    MaskDecoder decoder(o, prep.max_pixels);
    Pixels out;
    decoder.decode(png.data(), png.size(), "i.png", loader, out);
    CHECK((out.width == 40 && out.height == 30));
    CHECK(out.data == values);
}
