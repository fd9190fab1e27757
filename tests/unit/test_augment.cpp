// Augmentation: draws are keyed by (seed, epoch, index); the transform matches
// Keras' scipy-based apply_transform (tests/unit/augment_reference.py).
#include <catch2/catch.hpp>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iterator>

#include "augment/augment.hpp"
#include "cli/error.hpp"

using namespace imgpipe;

namespace {
std::vector<uint8_t> test_image(int h, int w, int c) {
    std::vector<uint8_t> img(size_t(h * w * c));
    for (int r = 0; r < h; ++r)
        for (int x = 0; x < w; ++x)
            for (int k = 0; k < c; ++k) img[size_t((r * w + x) * c + k)] = uint8_t((r * 37 + x * 11 + k * 70 + (r * x) % 13) % 256);
    return img;
}

// Runs the scipy reference on img with transform t.
std::vector<uint8_t> reference(const std::vector<uint8_t>& img, int h, int w, int c, const char* mode, double cval,
                               const Transform& t) {
    std::string in = "/tmp/imgpipe-aug-in-" + std::to_string(getpid()), out = "/tmp/imgpipe-aug-out-" + std::to_string(getpid());
    std::ofstream(in, std::ios::binary).write(reinterpret_cast<const char*>(img.data()), std::streamsize(img.size()));
    char cmd[1024];
    std::snprintf(cmd, sizeof cmd, "/usr/bin/python3 tests/unit/augment_reference.py %s %s %d %d %d %s %g %.17g %.17g %.17g %.17g %.17g %.17g %d %d %.17g %.17g",
                  in.c_str(), out.c_str(), h, w, c, mode, cval, t.theta, t.tx, t.ty, t.shear, t.zx, t.zy, int(t.flip_horizontal),
                  int(t.flip_vertical), t.channel_shift, t.brightness);
    REQUIRE(std::system(cmd) == 0);
    std::ifstream f(out, std::ios::binary);
    std::vector<uint8_t> result((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    std::remove(in.c_str());
    std::remove(out.c_str());
    return result;
}

int max_difference(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
    REQUIRE(a.size() == b.size());
    int worst = 0;
    for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(int(a[i]) - int(b[i])));
    return worst;
}
}  // namespace

TEST_CASE("draws depend on (seed, epoch, index) only", "[augment]") {
    Augmentation a;
    a.rotation_range = 20;
    a.zoom_lo = 0.8, a.zoom_hi = 1.2;
    a.horizontal_flip = true;
    Transform t1 = draw_transform(a, 64, 64, 1, 0, 5), t2 = draw_transform(a, 64, 64, 1, 0, 5), t3 = draw_transform(a, 64, 64, 1, 1, 5);
    CHECK(t1.theta == t2.theta);
    CHECK(t1.zx == t2.zx);
    CHECK(t1.theta != t3.theta);
    CHECK(std::abs(t1.theta) <= 20);
    CHECK(t1.zx >= 0.8);
    CHECK(t1.zy <= 1.2);
    CHECK(t1.tx == 0);
}

TEST_CASE("shift ranges below 1 are fractions of the size, from 1 up pixels", "[augment]") {
    Augmentation a;
    a.width_shift_range = 0.25;
    a.height_shift_range = 3;
    for (uint64_t i = 0; i < 50; ++i) {
        Transform t = draw_transform(a, 40, 100, 9, 0, i);
        REQUIRE(std::abs(t.ty) <= 25.0);
        REQUIRE(std::abs(t.tx) <= 3.0);
    }
}

TEST_CASE("the transform matches Keras' scipy code for every fill mode", "[augment]") {
    const int h = 24, w = 24, c = 3;
    std::vector<uint8_t> img = test_image(h, w, c);
    Transform t;
    t.theta = 23.5, t.tx = 2.25, t.ty = -3.5, t.shear = 8, t.zx = 0.85, t.zy = 1.15;
    std::vector<float> scratch;
    for (const char* mode : {"nearest", "constant", "reflect", "wrap"}) {
        Augmentation a;
        a.rotation_range = 30;  // any geometric range turns the affine path on
        a.fill_mode = parse_fill_mode(mode);
        a.cval = 17;
        std::vector<uint8_t> ours = img;
        apply_transform(a, t, ours.data(), h, w, c, scratch);
        INFO("fill mode " << mode);
        CHECK(max_difference(ours, reference(img, h, w, c, mode, 17, t)) <= 1);
        CHECK(ours != img);
    }
}

TEST_CASE("channel shift, flips and brightness match too", "[augment]") {
    const int h = 16, w = 20, c = 3;
    std::vector<uint8_t> img = test_image(h, w, c);
    Transform t;
    t.flip_horizontal = true, t.flip_vertical = true, t.channel_shift = 30.5, t.brightness = 1.3;
    Augmentation a;
    a.horizontal_flip = true;
    std::vector<float> scratch;
    std::vector<uint8_t> ours = img;
    apply_transform(a, t, ours.data(), h, w, c, scratch);
    CHECK(max_difference(ours, reference(img, h, w, c, "nearest", 0, t)) <= 1);
}

TEST_CASE("a 90 degree rotation is an exact rotation", "[augment]") {
    const int n = 8;
    std::vector<uint8_t> img = test_image(n, n, 1), ours = img;
    Augmentation a;
    a.rotation_range = 90;
    Transform t;
    t.theta = 90;
    std::vector<float> scratch;
    apply_transform(a, t, ours.data(), n, n, 1, scratch);
    // input = R (out - c) + c with R = [[0,-1],[1,0]]: out(r, x) = in(n-1-x, r)
    for (int r = 0; r < n; ++r)
        for (int x = 0; x < n; ++x) REQUIRE(ours[size_t(r * n + x)] == img[size_t((n - 1 - x) * n + r)]);
}

TEST_CASE("ranges that make no sense are refused", "[augment]") {
    Augmentation a;
    double lo = 0, hi = 0;
    parse_zoom_range("0.2", lo, hi);
    CHECK(lo == Approx(0.8));
    CHECK(hi == Approx(1.2));
    parse_zoom_range("1.5", a.zoom_lo, a.zoom_hi);
    CHECK_THROWS_WITH(a.validate(), Catch::Contains("--zoom-range"));
    Augmentation b;
    b.brightness_lo = 0, b.brightness_hi = 0.0001;
    CHECK_THROWS_WITH(b.validate(), Catch::Contains("--brightness-range"));
    CHECK_THROWS_AS(parse_fill_mode("mirror"), UsageError);
}

TEST_CASE("statistics: Welford over images equals the direct formula", "[augment]") {
    StatsAccumulator acc(2);
    std::vector<uint8_t> a = {0, 10, 20, 30}, b = {40, 50, 60, 70, 80, 90};
    acc.add_u8(a.data(), 2, 2);
    acc.add_u8(b.data(), 3, 2);
    ChannelStats s = acc.result(2);
    // channel 0: 0 20 40 60 80; channel 1: 10 30 50 70 90
    CHECK(s.mean[0] == Approx(40));
    CHECK(s.mean[1] == Approx(50));
    CHECK(s.std[0] == Approx(std::sqrt(800.0)));
    ChannelStats back = ChannelStats::from_json(s.to_json(), "s.json");
    CHECK(back.std[1] == Approx(s.std[1]));
    CHECK_THROWS_WITH(ChannelStats::from_json("{\"mean\": [1]}", "s.json"), Catch::Contains("\"std\""));
    // A key of another JSON type is named (json's own type_error was an internal error, exit 70).
    CHECK_THROWS_AS(ChannelStats::from_json(R"({"mean": [1], "std": [1], "samples": "9"})", "s.json"), DataError);
    CHECK_THROWS_WITH(ChannelStats::from_json(R"({"mean": [1], "std": [1], "samples": "9"})", "s.json"),
                      "\"samples\" is not a whole number");
    CHECK_THROWS_WITH(ChannelStats::from_json(R"({"mean": [1], "std": [1], "dtype": 8})", "s.json"), "\"dtype\" is not a string");
}

TEST_CASE("standardization: samplewise then featurewise, eps 1e-6", "[augment]") {
    Standardization s;
    s.samplewise_center = true;
    s.samplewise_std = true;
    std::vector<float> x = {1, 3, 5, 7};
    s.apply(x.data(), 4, 1);
    CHECK(x[0] == Approx(-3 / (std::sqrt(5.0) + 1e-6)));
    Standardization f;
    f.featurewise_center = f.featurewise_std = true;
    f.stats.mean = {1, 2};
    f.stats.std = {2, 4};
    std::vector<float> y = {3, 10};
    f.apply(y.data(), 1, 2);
    CHECK(y[0] == Approx(1));
    CHECK(y[1] == Approx(2));
}

TEST_CASE("U8 samples to floats: rescaled, then standardized sample by sample", "[augment]") {
    const std::vector<uint8_t> in = {0, 51, 102, 255, 10, 20, 30, 40};  // two samples of 2 pixels x 2 channels
    std::vector<float> out(in.size());
    to_floats(in.data(), out.data(), 2, 2, 2, 1.0f / 255, Standardization{});
    for (size_t i = 0; i < in.size(); ++i) CHECK(out[i] == float(in[i]) * (1.0f / 255));
    Standardization s;
    s.samplewise_center = true;
    to_floats(in.data(), out.data(), 2, 2, 2, 1.0f, s);
    CHECK(out[0] == Approx(0 - 102));  // the first sample's mean is 102
    CHECK(out[3] == Approx(255 - 102));
    CHECK(out[4] == Approx(10 - 25));  // the second's is 25
    CHECK(out[7] == Approx(40 - 25));
}

namespace {
// The mask transform as first written, a pixel at a time with floor and the
// fill mode's boundary rule everywhere (lib/augment's Affine copied): the
// reference the faster apply_mask_transform must match byte for byte.
std::vector<uint8_t> plain_mask_transform(const Augmentation& a, const Transform& t, const std::vector<uint8_t>& mask, int h,
                                          int w, uint8_t fill) {
    const double pi = 3.14159265358979323846, th = t.theta * pi / 180, sh = t.shear * pi / 180;
    double m[3][3] = {{std::cos(th), -std::sin(th), 0}, {std::sin(th), std::cos(th), 0}, {0, 0, 1}};
    auto times = [&](const double b[3][3]) {
        double r[3][3] = {};
        for (int i = 0; i < 3; ++i)
            for (int j = 0; j < 3; ++j)
                for (int k = 0; k < 3; ++k) r[i][j] += m[i][k] * b[k][j];
        std::copy(&r[0][0], &r[0][0] + 9, &m[0][0]);
    };
    const double shift[3][3] = {{1, 0, t.tx}, {0, 1, t.ty}, {0, 0, 1}};
    const double shear[3][3] = {{1, -std::sin(sh), 0}, {0, std::cos(sh), 0}, {0, 0, 1}};
    const double zoom[3][3] = {{t.zx, 0, 0}, {0, t.zy, 0}, {0, 0, 1}};
    times(shift), times(shear), times(zoom);
    const double cr = h / 2.0 - 0.5, cc = w / 2.0 - 0.5;
    const double off_r = cr - m[0][0] * cr - m[0][1] * cc + m[0][2], off_c = cc - m[1][0] * cr - m[1][1] * cc + m[1][2];
    auto boundary = [&](int i, int n) {
        if (i >= 0 && i < n) return i;
        switch (a.fill_mode) {
            case FillMode::Nearest: return i < 0 ? 0 : n - 1;
            case FillMode::Constant: return -1;
            case FillMode::Reflect: {
                const int period = 2 * n, k = ((i % period) + period) % period;
                return k < n ? k : period - 1 - k;
            }
            case FillMode::Wrap: return ((i % n) + n) % n;
        }
        return -1;
    };
    std::vector<uint8_t> out = mask, result(mask.size());
    for (int r = 0; r < h; ++r) {
        double ir = m[0][1] * -1 + m[0][0] * r + off_r, ic = m[1][1] * -1 + m[1][0] * r + off_c;
        for (int col = 0; col < w; ++col) {
            ir += m[0][1];
            ic += m[1][1];
            const int sr = boundary(int(std::floor(ir + 0.5)), h), sc = boundary(int(std::floor(ic + 0.5)), w);
            const bool beyond = ir < -1e-9 || ir > h - 1 + 1e-9 || ic < -1e-9 || ic > w - 1 + 1e-9;
            out[size_t(r * w + col)] = (a.fill_mode == FillMode::Constant && beyond) || sr < 0 || sc < 0 ? fill : mask[size_t(sr * w + sc)];
        }
    }
    for (int r = 0; r < h; ++r)
        for (int col = 0; col < w; ++col)
            result[size_t(r * w + col)] = out[size_t((t.flip_vertical ? h - 1 - r : r) * w + (t.flip_horizontal ? w - 1 - col : col))];
    return result;
}
}  // namespace

TEST_CASE("the mask transform gives the per-pixel rule's bytes for every fill mode, flip and odd size", "[augment]") {
    Augmentation a;
    a.rotation_range = 40;
    a.width_shift_range = a.height_shift_range = 0.3;
    a.shear_range = 20;
    a.zoom_lo = 0.5, a.zoom_hi = 1.5;
    a.horizontal_flip = a.vertical_flip = true;
    std::vector<uint8_t> scratch;
    int compared = 0, filled = 0;
    for (FillMode mode : {FillMode::Nearest, FillMode::Constant, FillMode::Reflect, FillMode::Wrap})
        for (auto [h, w] : {std::pair{64, 48}, std::pair{17, 33}, std::pair{1, 5}})
            for (uint64_t i = 0; i < 40; ++i) {
                a.fill_mode = mode;
                const Transform t = draw_transform(a, h, w, 7, 0, i);
                std::vector<uint8_t> mask = test_image(h, w, 1);
                for (uint8_t& v : mask) v %= 5;
                const std::vector<uint8_t> want = plain_mask_transform(a, t, mask, h, w, 255);
                apply_mask_transform(a, t, mask.data(), h, w, 255, scratch);
                INFO(int(mode) << " " << h << "x" << w << " draw " << i);
                REQUIRE(mask == want);
                filled += int(std::count(mask.begin(), mask.end(), 255));
                ++compared;
            }
    CHECK(compared == 4 * 3 * 40);
    CHECK(filled > 0);  // constant filling was exercised
    // Flips alone (no geometric draw): the mask is mirrored.
    Augmentation flips;
    flips.horizontal_flip = flips.vertical_flip = true;
    Transform t;
    t.flip_horizontal = t.flip_vertical = true;
    std::vector<uint8_t> m = {1, 2, 3, 4, 5, 6};
    apply_mask_transform(flips, t, m.data(), 2, 3, 0, scratch);
    CHECK(m == std::vector<uint8_t>{6, 5, 4, 3, 2, 1});
}
