// lib/image on real encoded files: the test makes them with libvips' own
// encoders (JPEG, PNG, GIF, TIFF, WebP, CMYK, EXIF-rotated...), then checks
// the fast paths against libvips, the orientation, the colour handling, the
// resampler and the error messages.
#include <catch2/catch.hpp>
#include <vips/vips8>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "cli/error.hpp"
#include "cli/random.hpp"
#include "image/codec.hpp"
#include "image/image.hpp"
#include "image/source.hpp"

using namespace imgpipe;
using vips::VImage;

namespace {
using Bytes = std::vector<uint8_t>;

void start() {
    static bool done = false;
    if (!done) {
        if (VIPS_INIT("test_image")) FAIL("cannot start libvips");
        done = true;
    }
}

// A colourful, detailed test picture: sine waves, ramps and a little seeded noise.
VImage picture(int w, int h) {
    start();
    VImage r = (VImage::sines(w, h, VImage::option()->set("hfreq", 3.0)->set("vfreq", 2.0)) + 1) * 110 + 20;
    VImage xy = VImage::xyz(w, h);
    VImage g = xy[0] * (230.0 / w) + 10;
    VImage noise = VImage::gaussnoise(w, h, VImage::option()->set("mean", 0.0)->set("sigma", 12.0)->set("seed", 7));
    VImage b = xy[1] * (200.0 / h) + 30 + noise;
    return r.bandjoin(g).bandjoin(b).cast(VIPS_FORMAT_UCHAR).copy(VImage::option()->set("interpretation", VIPS_INTERPRETATION_sRGB));
}

Bytes encode(const VImage& im, const char* suffix) {
    void* buf = nullptr;
    size_t len = 0;
    im.write_to_buffer(suffix, &buf, &len);
    Bytes out(static_cast<uint8_t*>(buf), static_cast<uint8_t*>(buf) + len);
    g_free(buf);
    return out;
}

Pixels decode(const Bytes& file, bool fast, Decoder* used = nullptr) {
    PrepOptions o;
    o.fast_paths = fast;
    ImageLoader loader(o);
    Pixels p;
    loader.decode(file.data(), file.size(), "test", p);
    if (used) *used = loader.last_decoder();
    return p;
}

Bytes prepare(const Bytes& file, PrepOptions o, Decoder* used = nullptr) {
    ImageLoader loader(o);
    Bytes out(o.sample_bytes());
    loader.load_buffer(file.data(), file.size(), "test", out.data());
    if (used) *used = loader.last_decoder();
    return out;
}

struct Diff {
    int max = 0;
    double mean = 0;
};
Diff diff(const uint8_t* a, const uint8_t* b, size_t n) {
    Diff d;
    double sum = 0;
    for (size_t i = 0; i < n; ++i) {
        int v = std::abs(int(a[i]) - int(b[i]));
        d.max = std::max(d.max, v);
        sum += v;
    }
    d.mean = n ? sum / double(n) : 0;
    return d;
}
Diff diff(const Pixels& a, const Pixels& b) {
    REQUIRE(a.width == b.width);
    REQUIRE(a.height == b.height);
    REQUIRE(a.channels == b.channels);
    return diff(a.data.data(), b.data.data(), a.data.size());
}

Pixels from_vips(const VImage& im) {
    VImage u = im.cast(VIPS_FORMAT_UCHAR);
    size_t len = 0;
    void* mem = u.write_to_memory(&len);
    Pixels p;
    p.reset(u.width(), u.height(), u.bands());
    std::memcpy(p.data.data(), mem, len);
    g_free(mem);
    return p;
}

// A JPEG with an EXIF APP1 segment holding only the orientation tag, inserted after SOI.
Bytes with_orientation(const Bytes& jpeg, int orientation) {
    const uint8_t tiff[] = {'I', 'I', 42, 0, 8, 0, 0, 0,  // header, IFD0 at 8
                            1, 0,                         // one entry
                            0x12, 0x01, 3, 0, 1, 0, 0, 0, uint8_t(orientation), 0, 0, 0,
                            0, 0, 0, 0};  // no next IFD
    Bytes app1 = {0xff, 0xe1, 0, 0, 'E', 'x', 'i', 'f', 0, 0};
    app1.insert(app1.end(), tiff, tiff + sizeof tiff);
    size_t len = app1.size() - 2;
    app1[2] = uint8_t(len >> 8);
    app1[3] = uint8_t(len);
    // Built in one allocation: GCC 12 warns falsely (-Warray-bounds) on a
    // vector grown by insert from two bytes.
    Bytes out;
    out.reserve(jpeg.size() + app1.size());
    out.insert(out.end(), jpeg.begin(), jpeg.begin() + 2);
    out.insert(out.end(), app1.begin(), app1.end());
    out.insert(out.end(), jpeg.begin() + 2, jpeg.end());
    return out;
}

std::string error_of(const Bytes& file, PrepOptions o = {}) {
    o.width = o.height = 8;
    try {
        prepare(file, o);
    } catch (const Error& e) {
        return std::to_string(e.status()) + " " + e.where() + ": " + e.what();
    }
    return "no error";
}
}  // namespace

TEST_CASE("formats are known by their magic bytes, not their names", "[image]") {
    auto sniff = [](const std::string& s) { return sniff_format(reinterpret_cast<const uint8_t*>(s.data()), s.size()); };
    CHECK(sniff("\xff\xd8\xff\xe0") == ImageFormat::Jpeg);
    CHECK(sniff("\x89PNG\r\n\x1a\n....") == ImageFormat::Png);
    CHECK(sniff("GIF89a......") == ImageFormat::Gif);
    CHECK(sniff(std::string("II*\0....", 8)) == ImageFormat::Tiff);
    CHECK(sniff(std::string("RIFF\x10\0\0\0WEBPVP8 ", 16)) == ImageFormat::Webp);
    CHECK(sniff("P6\n3 2\n255\n") == ImageFormat::Pnm);
    CHECK(sniff("hello world") == ImageFormat::Unknown);
    CHECK(printable_start(reinterpret_cast<const uint8_t*>("hi\x01'there"), 9) == "hi\\x01\\x27ther");
}

TEST_CASE("option text parses as the man page says", "[image]") {
    int w = 0, h = 0;
    parse_size("64x32", w, h);
    CHECK((w == 64 && h == 32));
    parse_size("28", w, h);
    CHECK((w == 28 && h == 28));
    CHECK_THROWS_AS(parse_size("64x", w, h), UsageError);
    CHECK_THROWS_AS(parse_size("0x5", w, h), UsageError);
    CHECK(parse_fit("crop") == Fit::Crop);
    CHECK_THROWS_AS(parse_fit("zoom"), UsageError);
    CHECK(parse_interpolation("area") == Interpolation::Area);
    CHECK_THROWS_AS(parse_interpolation("cubic"), UsageError);
    CHECK(parse_color_mode("grayscale") == ColorMode::Grayscale);
    Rgb c = parse_color("#ff8000");
    CHECK((c.r == 255 && c.g == 128 && c.b == 0));
    c = parse_color("1,2,3");
    CHECK((c.r == 1 && c.g == 2 && c.b == 3));
    CHECK_THROWS_AS(parse_color("1,2"), UsageError);
    CHECK_THROWS_AS(parse_color("300,0,0"), UsageError);
}

TEST_CASE("libspng and libvips decode every kind of PNG to the same pixels", "[image]") {
    VImage rgb = picture(97, 61);
    VImage gray = rgb.colourspace(VIPS_INTERPRETATION_B_W);
    VImage alpha = (VImage::xyz(97, 61)[0] * 2.6).cast(VIPS_FORMAT_UCHAR);
    struct Case {
        const char* name;
        Bytes file;
        int channels;
    } cases[] = {
        {"rgb", encode(rgb, ".png"), 3},
        {"gray", encode(gray, ".png"), 1},
        {"rgba", encode(rgb.bandjoin(alpha), ".png"), 4},
        {"gray+alpha", encode(gray.bandjoin(alpha), ".png"), 2},
        {"palette", encode(rgb, ".png[palette]"), 3},
        {"16-bit rgb", encode((rgb.cast(VIPS_FORMAT_USHORT) * 257 + 100).cast(VIPS_FORMAT_USHORT).copy(VImage::option()->set("interpretation", VIPS_INTERPRETATION_RGB16)), ".png"), 3},
        {"16-bit gray", encode((gray.cast(VIPS_FORMAT_USHORT) * 257).cast(VIPS_FORMAT_USHORT).copy(VImage::option()->set("interpretation", VIPS_INTERPRETATION_GREY16)), ".png"), 1},
        {"interlaced", encode(rgb, ".png[interlace]"), 3},
    };
    for (const Case& c : cases) {
        INFO(c.name);
        Decoder fast_used, slow_used;
        Pixels fast = decode(c.file, true, &fast_used), slow = decode(c.file, false, &slow_used);
        CHECK(fast_used == Decoder::Spng);
        CHECK(slow_used == Decoder::Vips);
        CHECK(fast.channels == c.channels);
        Diff d = diff(fast, slow);
        CHECK(d.max == 0);
    }
    // The 16-bit file keeps the high byte of each sample.
    Pixels sixteen = decode(cases[5].file, true), eight = decode(cases[0].file, true);
    CHECK(diff(sixteen, eight).max <= 1);
}

TEST_CASE("TurboJPEG and libvips agree on baseline, progressive and grayscale JPEG", "[image]") {
    VImage rgb = picture(203, 149);
    struct Case {
        const char* name;
        Bytes file;
    } cases[] = {
        {"baseline 4:2:0", encode(rgb, ".jpg[Q=90]")},
        {"4:4:4", encode(rgb, ".jpg[Q=90,subsample-mode=off]")},
        {"progressive", encode(rgb, ".jpg[Q=85,interlace]")},
        {"grayscale", encode(rgb.colourspace(VIPS_INTERPRETATION_B_W), ".jpg")},
    };
    for (const Case& c : cases) {
        INFO(c.name);
        Decoder used;
        Pixels fast = decode(c.file, true, &used), slow = decode(c.file, false);
        CHECK(used == Decoder::TurboJpeg);
        Diff d = diff(fast, slow);
        CHECK(d.max <= 1);
        // The decoded JPEG is close to the picture it encodes.
        CHECK(diff(fast, from_vips(std::string(c.name) == "grayscale" ? rgb.colourspace(VIPS_INTERPRETATION_B_W) : rgb)).mean < 4);
        // Shrunk output: DCT-scaled decode + resample, against libvips' shrink-on-load.
        PrepOptions o;
        o.width = 50, o.height = 37;
        Bytes a = prepare(c.file, o);
        o.fast_paths = false;
        Bytes b = prepare(c.file, o);
        // libvips crops a scaled JPEG to whole pixels where TurboJPEG keeps the
        // partial last one, so the two boxes differ by a fraction of a pixel.
        Diff d2 = diff(a.data(), b.data(), a.size());
        CHECK(d2.mean < 1.5);
        CHECK(d2.max < 40);
    }
}

TEST_CASE("shrinking a JPEG decodes at the smallest DCT scale and stays close to a full decode", "[image]") {
    Bytes file = encode(picture(1024, 768), ".jpg[Q=92]");
    PrepOptions o;
    o.width = 64, o.height = 48;
    o.interpolation = Interpolation::Area;
    Bytes fast = prepare(file, o);
    // Reference: full decode, then PIL's box filter straight from 1024x768.
    Pixels full = decode(file, true), ref;
    codec::Resampler r;
    r.resample(full, 0, 0, 1024, 768, 64, 48, Interpolation::Area, ref);
    Diff d = diff(fast.data(), ref.data.data(), fast.size());
    CHECK(d.mean < 1.5);
    CHECK(d.max < 24);
}

TEST_CASE("nearest, and every filter without shrink_on_load, resample the full decode (PIL's bytes)", "[image]") {
    Bytes jpeg = encode(picture(1024, 768), ".jpg[Q=90]");
    Bytes tiff = encode(picture(1024, 768), ".tif");  // libvips, which box-shrinks when shrinking on load
    for (const Bytes* file : {&jpeg, &tiff}) {
        Pixels full = decode(*file, true);
        for (Interpolation f : {Interpolation::Nearest, Interpolation::Bilinear, Interpolation::Lanczos, Interpolation::Area}) {
            for (bool shrink : {true, false}) {
                INFO(interpolation_name(f) << (shrink ? "" : ", no shrink on load") << ", " << full.width << "x" << full.height);
                PrepOptions o;
                o.width = 64, o.height = 48;
                o.interpolation = f;
                o.shrink_on_load = shrink;
                Bytes out = prepare(*file, o);
                Pixels ref;
                codec::Resampler r;
                r.resample(full, 0, 0, full.width, full.height, 64, 48, f, ref);
                Diff d = diff(out.data(), ref.data.data(), out.size());
                if (shrink && f != Interpolation::Nearest) CHECK(d.max > 0);  // shrunk on load: close, not equal
                else CHECK(d.max == 0);
            }
        }
    }
}

TEST_CASE("EXIF orientation is applied: pixels move as PIL's exif_transpose moves them", "[image]") {
    VImage base = picture(40, 24);
    Bytes plain = encode(base, ".jpg[Q=95]");
    Pixels upright = decode(plain, true);
    // The expected image for each orientation, made by libvips' own rotations.
    auto expect = [&](int o) {
        VImage im = VImage::new_from_buffer(plain.data(), plain.size(), "");
        switch (o) {
            case 2: return from_vips(im.flip(VIPS_DIRECTION_HORIZONTAL));
            case 3: return from_vips(im.rot(VIPS_ANGLE_D180));
            case 4: return from_vips(im.flip(VIPS_DIRECTION_VERTICAL));
            case 5: return from_vips(im.rot(VIPS_ANGLE_D90).flip(VIPS_DIRECTION_HORIZONTAL));
            case 6: return from_vips(im.rot(VIPS_ANGLE_D90));
            case 7: return from_vips(im.rot(VIPS_ANGLE_D270).flip(VIPS_DIRECTION_HORIZONTAL));
            case 8: return from_vips(im.rot(VIPS_ANGLE_D270));
        }
        return from_vips(im);
    };
    for (int o = 1; o <= 8; ++o) {
        INFO("orientation " << o);
        Bytes tagged = with_orientation(plain, o);
        Pixels fast = decode(tagged, true), slow = decode(tagged, false);
        Pixels want = expect(o);
        CHECK(fast.width == (o >= 5 ? 24 : 40));
        CHECK(diff(fast, want).max <= 1);
        CHECK(diff(slow, want).max <= 1);
    }
    // Pixels really moved: orientation 6 is not the untagged image transposed back.
    Pixels six = decode(with_orientation(plain, 6), true);
    CHECK(six.width == upright.height);
    CHECK(six.row(0)[0] != upright.row(0)[0]);
    // The same through the resize path, with a non-square output.
    PrepOptions po;
    po.width = 12, po.height = 20;
    Bytes rotated = prepare(with_orientation(plain, 6), po);
    Pixels rot_ref = expect(6), ref;
    codec::Resampler r;
    r.resample(rot_ref, 0, 0, rot_ref.width, rot_ref.height, 12, 20, Interpolation::Bilinear, ref);
    CHECK(diff(rotated.data(), ref.data.data(), rotated.size()).mean < 2.0);
}

TEST_CASE("CMYK JPEG goes through libvips' ICC conversion to sRGB", "[image]") {
    VImage rgb = picture(64, 48);
    VImage cmyk = rgb.icc_export(VImage::option()->set("output_profile", "cmyk"));
    Bytes file = encode(cmyk, ".jpg[Q=95]");
    Decoder used;
    Pixels p = decode(file, true, &used);
    CHECK(used == Decoder::Vips);
    REQUIRE(p.channels == 3);
    // Round trip through the CMYK profile: close to the original, not exact
    // (saturated colours fall outside the CMYK gamut).
    CHECK(diff(p, from_vips(rgb)).mean < 20);
}

TEST_CASE("an ICC profile that is not sRGB is converted; an sRGB one is ignored", "[image]") {
    VImage rgb = picture(64, 48);
    VImage p3 = rgb.icc_transform("p3", VImage::option()->set("input_profile", "srgb"));
    Pixels raw = from_vips(p3);
    REQUIRE(diff(raw, from_vips(rgb)).mean > 3);  // the P3 numbers are really different
    for (const char* suffix : {".png", ".jpg[Q=98,subsample-mode=off]"}) {
        INFO(suffix);
        Decoder used;
        Pixels p = decode(encode(p3, suffix), true, &used);
        CHECK(used == Decoder::Vips);
        CHECK(diff(p, from_vips(rgb)).mean < 2.5);  // back in sRGB
    }
    // A profile that says sRGB keeps the fast path.
    VImage tagged = rgb.icc_transform("srgb", VImage::option()->set("input_profile", "srgb"));
    Decoder used;
    decode(encode(tagged, ".jpg"), true, &used);
    CHECK(used == Decoder::TurboJpeg);
    decode(encode(tagged, ".png"), true, &used);
    CHECK(used == Decoder::Spng);
}

TEST_CASE("libvips handles the other formats", "[image]") {
    VImage rgb = picture(33, 21);
    Pixels ref = from_vips(rgb);
    for (const char* suffix : {".tif", ".webp[lossless]", ".v"}) {
        INFO(suffix);
        if (std::string(suffix) == ".v") continue;  // vips' own format is no input format of ours
        Decoder used;
        Pixels p = decode(encode(rgb, suffix), true, &used);
        CHECK(used == Decoder::Vips);
        CHECK(diff(p, ref).max <= 1);
    }
    Pixels gif = decode(encode(rgb, ".gif"), true);
    CHECK(gif.width == 33);
    CHECK(diff(gif, ref).mean < 12);  // quantised to 256 colours
    Bytes ppm = {'P', '6', '\n', '2', ' ', '1', '\n', '2', '5', '5', '\n', 10, 20, 30, 40, 50, 60};
    Pixels p = decode(ppm, true);
    CHECK((p.width == 2 && p.height == 1 && p.channels == 3 && p.data[3] == 40));
}

TEST_CASE("colour modes, alpha and background", "[image]") {
    VImage rgb = picture(30, 20);
    VImage half = VImage::black(30, 20) + 0;  // alpha 0 on the left half, 255 on the right
    half = (VImage::xyz(30, 20)[0] >= 15).cast(VIPS_FORMAT_UCHAR);
    Bytes rgba = encode(rgb.bandjoin(half), ".png");
    PrepOptions o;
    o.width = 30, o.height = 20;
    o.interpolation = Interpolation::Nearest;
    o.background = {255, 0, 0};
    Bytes out = prepare(rgba, o);
    const uint8_t* left = &out[(10 * 30 + 2) * 3];
    CHECK((left[0] == 255 && left[1] == 0 && left[2] == 0));  // transparent: background
    Pixels ref = from_vips(rgb);
    const uint8_t* right = &out[(10 * 30 + 20) * 3];
    CHECK(std::equal(right, right + 3, ref.row(10) + 20 * 3));  // opaque: the pixel
    o.color = ColorMode::Rgba;
    out = prepare(rgba, o);
    CHECK(out[(10 * 30 + 2) * 4 + 3] == 0);
    CHECK(out[(10 * 30 + 20) * 4 + 3] == 255);
    // Grayscale: PIL's luma of the RGB output.
    o.color = ColorMode::Rgb;
    Bytes colour = prepare(encode(rgb, ".png"), o);
    o.color = ColorMode::Grayscale;
    Bytes gray = prepare(encode(rgb, ".png"), o);
    REQUIRE(gray.size() == 600);
    for (size_t i = 0; i < 600; i += 37) {
        int l = (colour[i * 3] * 19595 + colour[i * 3 + 1] * 38470 + colour[i * 3 + 2] * 7471 + 0x8000) >> 16;
        CHECK(gray[i] == l);
    }
    // A colour JPEG straight to gray (TurboJPEG keeps the Y plane): PIL's luma within rounding.
    Bytes jpeg = encode(rgb, ".jpg[Q=95]");
    o.color = ColorMode::Rgb;
    colour = prepare(jpeg, o);
    o.color = ColorMode::Grayscale;
    gray = prepare(jpeg, o);
    for (size_t i = 0; i < 600; ++i) {
        int l = (colour[i * 3] * 19595 + colour[i * 3 + 1] * 38470 + colour[i * 3 + 2] * 7471 + 0x8000) >> 16;
        REQUIRE(std::abs(int(gray[i]) - l) <= 3);
    }
    // Gray source to RGB output: three equal channels.
    o.color = ColorMode::Rgb;
    Bytes g3 = prepare(encode(rgb.colourspace(VIPS_INTERPRETATION_B_W), ".jpg"), o);
    CHECK((g3[300] == g3[301] && g3[301] == g3[302]));
}

TEST_CASE("the resampler: area means, nearest picks, antialiased shrinking", "[image]") {
    Pixels in;
    in.reset(4, 2, 1);
    const uint8_t v[8] = {0, 10, 100, 110, 20, 30, 120, 130};
    std::copy(v, v + 8, in.data.begin());
    codec::Resampler r;
    Pixels out;
    r.resample(in, 0, 0, 4, 2, 2, 1, Interpolation::Area, out);
    CHECK(int(out.data[0]) == 15);  // mean of 0 10 20 30
    CHECK(int(out.data[1]) == 115);
    r.resample(in, 0, 0, 4, 2, 2, 1, Interpolation::Nearest, out);
    CHECK(int(out.data[0]) == 30);  // the pixel under (1, 1), as PIL picks it
    CHECK(int(out.data[1]) == 130);
    // A one-pixel checkerboard shrunk 8x: antialiased filters give flat gray, nearest aliases.
    Pixels board;
    board.reset(64, 64, 1);
    for (int y = 0; y < 64; ++y)
        for (int x = 0; x < 64; ++x) board.row(y)[x] = (x + y) % 2 ? 255 : 0;
    for (Interpolation f : {Interpolation::Area, Interpolation::Bilinear, Interpolation::Bicubic, Interpolation::Lanczos}) {
        INFO(interpolation_name(f));
        r.resample(board, 0, 0, 64, 64, 8, 8, f, out);
        for (uint8_t p : out.data) CHECK(std::abs(int(p) - 128) <= 2);
    }
    r.resample(board, 0, 0, 64, 64, 8, 8, Interpolation::Nearest, out);
    CHECK((out.data[0] == 0 || out.data[0] == 255));
}

TEST_CASE("fit: stretch, Keras' centre crop, pad with the background", "[image]") {
    PrepOptions o;
    o.width = 64, o.height = 32;
    o.fit = Fit::Crop;
    codec::Plan p = codec::make_plan(100, 100, o);
    CHECK((p.x0 == 0 && p.x1 == 100 && p.y0 == 25 && p.y1 == 75));
    o.fit = Fit::Pad;
    p = codec::make_plan(100, 100, o);
    CHECK((p.dest_w == 32 && p.dest_h == 32 && p.off_x == 16 && p.off_y == 0));
    // Pad through the loader: the sides hold the background.
    o.background = {0, 0, 255};
    Bytes out = prepare(encode(picture(50, 50), ".png"), o);
    CHECK((out[0] == 0 && out[1] == 0 && out[2] == 255));
    CHECK((out[(16 * 64 + 63) * 3 + 2] == 255));
    // Crop keeps the middle: a picture whose top and bottom quarters are black and middle white.
    VImage bands = (VImage::xyz(40, 40)[1] >= 10) & (VImage::xyz(40, 40)[1] < 30);
    Bytes file = encode(bands.cast(VIPS_FORMAT_UCHAR), ".png");
    o.width = 40, o.height = 20;
    o.fit = Fit::Crop;
    o.color = ColorMode::Grayscale;
    out = prepare(file, o);
    CHECK(std::all_of(out.begin(), out.end(), [](uint8_t b) { return b == 255; }));
    o.fit = Fit::Stretch;
    out = prepare(file, o);
    CHECK(out[0] == 0);
}

TEST_CASE("1-pixel and very large images", "[image]") {
    start();
    VImage dot = VImage::black(1, 1, VImage::option()->set("bands", 3)) + std::vector<double>{200, 100, 50};
    PrepOptions o;
    o.width = o.height = 16;
    Bytes out = prepare(encode(dot.cast(VIPS_FORMAT_UCHAR), ".png"), o);
    for (size_t i = 0; i < out.size(); i += 3) REQUIRE((out[i] == 200 && out[i + 1] == 100 && out[i + 2] == 50));
    out = prepare(encode(dot.cast(VIPS_FORMAT_UCHAR), ".jpg"), o);
    CHECK(std::abs(int(out[0]) - 200) <= 3);
    // A PNG over 16 megapixels streams through libvips' shrink.
    VImage big = VImage::black(4200, 4100) + 77;
    Bytes file = encode(big.cast(VIPS_FORMAT_UCHAR), ".png[compression=1]");
    Decoder used;
    out = prepare(file, o, &used);
    CHECK(used == Decoder::Vips);
    CHECK(out[0] == 77);
    // --max-pixels refuses it from the header alone.
    o.max_pixels = 1000000;
    CHECK_THAT(error_of(file, o), Catch::Contains("65 test: PNG declares 4200x4100 = 17220000 pixels, more than --max-pixels"));
}

TEST_CASE("bad files get one clear message each", "[image]") {
    Bytes jpeg = encode(picture(64, 64), ".jpg");
    Bytes png = encode(picture(64, 64), ".png");
    CHECK(error_of({}) == "65 test: empty file");
    std::string text = "hello world, I am not a picture\n";
    CHECK(error_of(Bytes(text.begin(), text.end())) == "65 test: not an image (starts with 'hello wo')");
    CHECK_THAT(error_of(Bytes(jpeg.begin(), jpeg.begin() + long(jpeg.size() / 2))), Catch::StartsWith("65 test: truncated JPEG file"));
    CHECK_THAT(error_of(Bytes(png.begin(), png.begin() + long(png.size() / 2))), Catch::StartsWith("65 test: truncated PNG file"));
    Bytes corrupt = png;
    for (size_t i = 60; i < 90; ++i) corrupt[i] ^= 0x5a;  // inside IDAT: CRC and zlib data
    CHECK_THAT(error_of(corrupt), Catch::StartsWith("65 test: corrupt PNG file"));
    Bytes header_only(png.begin(), png.begin() + 8);
    CHECK_THAT(error_of(header_only), Catch::Contains("PNG file"));
    // Files: missing and unreadable are "cannot open" (66).
    PrepOptions o;
    ImageLoader loader(o);
    Bytes out(o.sample_bytes());
    try {
        loader.load_file("/nonexistent/cat.jpg", out.data());
        FAIL("no error");
    } catch (const Error& e) {
        CHECK(e.status() == 66);
        CHECK(e.where() == "/nonexistent/cat.jpg");
        CHECK(std::string(e.what()) == "cannot open: No such file or directory");
    }
}

TEST_CASE("a damaged ancillary PNG chunk is refused, or skipped with a warning naming it", "[image]") {
    VImage rgb = picture(48, 32);
    Bytes p3 = encode(rgb.icc_transform("p3", VImage::option()->set("input_profile", "srgb")), ".png");
    const std::string iccp = "iCCP";
    const auto at = std::search(p3.begin(), p3.end(), iccp.begin(), iccp.end());
    REQUIRE(at != p3.end());
    const size_t start = size_t(at - p3.begin()) - 4;
    const size_t length = size_t(p3[start]) << 24 | size_t(p3[start + 1]) << 16 | size_t(p3[start + 2]) << 8 | p3[start + 3];
    const size_t crc = start + 8 + length;
    Bytes bad_crc = p3, overwritten = p3, critical = p3;
    bad_crc[crc] ^= 0xff;  // the profile's CRC
    for (size_t i = 0; i < 4; ++i) overwritten[start + 4 + i] = overwritten[crc + i] = 0xff;  // type and CRC erased
    critical[start + 4] = 'X';  // "XCCP" with a bad CRC: a critical chunk, never skipped
    CHECK(error_of(bad_crc) == "65 test: damaged PNG chunk \"iCCP\" (bad CRC); --skip-damaged-chunks decodes the image without it");
    CHECK_THAT(error_of(overwritten), Catch::StartsWith("65 test: damaged PNG chunk \"\\xff\\xff\\xff\\xff\" (invalid chunk type)"));
    CHECK_THAT(error_of(critical), Catch::StartsWith("65 test: corrupt PNG file"));
    for (bool fast : {true, false}) {
        INFO("fast paths " << fast);
        PrepOptions o;
        o.width = 48, o.height = 32;
        o.fast_paths = fast;
        CHECK_THAT(error_of(bad_crc, o), Catch::StartsWith("65 test: damaged PNG chunk \"iCCP\" (bad CRC)"));
        std::vector<std::string> warnings;
        o.skip_damaged_chunks = true;
        o.warn = [&](const std::string& where, const std::string& message) { warnings.push_back(where + ": " + message); };
        // Decoded without its profile: the P3 numbers as they are.
        Bytes out = prepare(bad_crc, o);
        Pixels raw = from_vips(rgb.icc_transform("p3", VImage::option()->set("input_profile", "srgb")));
        CHECK(diff(out.data(), raw.data.data(), out.size()).max <= 1);
        REQUIRE(warnings.size() == 1);
        CHECK(warnings[0] == "test: damaged PNG chunk \"iCCP\" (bad CRC): decoded without it");
        warnings.clear();
        prepare(overwritten, o);
        REQUIRE(warnings.size() == 1);
        CHECK(warnings[0] == "test: damaged PNG chunk \"\\xff\\xff\\xff\\xff\" (invalid chunk type): decoded without it");
        CHECK_THAT(error_of(critical, o), Catch::StartsWith("65 test: corrupt PNG file"));
        // An intact file says nothing.
        warnings.clear();
        prepare(p3, o);
        CHECK(warnings.empty());
    }
}

TEST_CASE("TurboJPEG's warnings about a file it still decodes are passed on", "[image]") {
    Bytes jpeg = encode(picture(64, 64), ".jpg");
    // A restart marker in the middle of the scan: "premature end of data segment".
    const uint8_t sos[] = {0xff, 0xda};
    const size_t scan = size_t(std::search(jpeg.begin(), jpeg.end(), sos, sos + 2) - jpeg.begin());
    Bytes junk = jpeg;
    junk[(scan + jpeg.size()) / 2] = 0xff;
    junk[(scan + jpeg.size()) / 2 + 1] = 0xd5;
    PrepOptions o;
    o.width = o.height = 16;
    std::vector<std::string> warnings;
    o.warn = [&](const std::string& where, const std::string& message) { warnings.push_back(where + ": " + message); };
    Decoder used;
    prepare(junk, o, &used);
    CHECK(used == Decoder::TurboJpeg);
    REQUIRE(warnings.size() == 1);
    CHECK_THAT(warnings[0], Catch::StartsWith("test: Corrupt JPEG data"));
}

TEST_CASE("SampleSource: same bytes for any thread count, a permutation per epoch, skips", "[image]") {
    char dir[] = "/tmp/imgpipe-image-XXXXXX";
    REQUIRE(mkdtemp(dir));
    ImageList list;
    for (int i = 0; i < 7; ++i) {
        std::string path = std::string(dir) + "/" + std::to_string(i) + (i == 4 ? ".jpg" : ".png");
        Bytes b = i == 4 ? Bytes{'n', 'o', 'p', 'e'} : encode(picture(20 + i, 20), ".png");
        std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
        list.entries.push_back(ListEntry::unlabelled(path));
    }
    PrepOptions prep;
    prep.width = prep.height = 8;
    auto run = [&](int threads, bool keep_going, std::vector<size_t>& order, int64_t& skipped) {
        SourceOptions so;
        so.threads = threads;
        so.epochs = 2;
        so.shuffle = true;
        so.seed = 42;
        so.keep_going = keep_going;
        Bytes all;
        int warnings = 0;
        SampleSource source(list, prep, so, [&](const Error&) { ++warnings; });
        Sample s;
        while (source.next(s)) {
            order.push_back(s.entry);
            all.insert(all.end(), s.pixels, s.pixels + prep.sample_bytes());
        }
        skipped = source.skipped();
        CHECK(warnings == 1);  // once, though the file comes up in both epochs
        return all;
    };
    std::vector<size_t> o1, o3;
    int64_t s1 = 0, s3 = 0;
    Bytes one = run(1, true, o1, s1), three = run(3, true, o3, s3);
    CHECK(one == three);
    CHECK(o1 == o3);
    CHECK((s1 == 1 && s3 == 1));
    REQUIRE(o1.size() == 12);  // 2 epochs x 6 good files
    std::vector<size_t> e0(o1.begin(), o1.begin() + 6), e1(o1.begin() + 6, o1.end());
    CHECK(e0 != e1);  // a fresh permutation each epoch
    std::vector<uint64_t> p0 = permutation(7, 42, 0);
    p0.erase(std::remove(p0.begin(), p0.end(), 4u), p0.end());
    CHECK(std::equal(e0.begin(), e0.end(), p0.begin()));
    // Without keep_going the bad file stops the run, after the samples before it.
    SourceOptions so;
    so.threads = 2;
    SampleSource source(list, prep, so, nullptr);
    Sample s;
    int before = 0;
    try {
        while (source.next(s)) ++before;
        FAIL("no error");
    } catch (const Error& e) {
        CHECK(std::string(e.what()) == "not an image (starts with 'nope')");
    }
    CHECK(before == 4);
    for (int i = 0; i < 7; ++i) unlink((std::string(dir) + "/" + std::to_string(i) + (i == 4 ? ".jpg" : ".png")).c_str());
    rmdir(dir);
}
