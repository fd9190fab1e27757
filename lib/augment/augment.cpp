#include "augment/augment.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "cli/error.hpp"
#include "cli/random.hpp"

namespace imgpipe {

namespace {
constexpr double kPi = 3.14159265358979323846;

double parse_number(const std::string& text, const char* option) {
    try {
        size_t used = 0;
        double v = std::stod(text, &used);
        if (used == text.size() && std::isfinite(v)) return v;
    } catch (const std::exception&) {
    }
    throw UsageError(std::string(option) + ": \"" + text + "\" is not a number");
}

// Maps an integer sample position to an index inside [0, n), or -1 for "use cval".
inline int boundary(int i, int n, FillMode mode) {
    if (i >= 0 && i < n) return i;
    switch (mode) {
        case FillMode::Nearest: return i < 0 ? 0 : n - 1;
        case FillMode::Constant: return -1;
        case FillMode::Reflect: {  // d c b a | a b c d | d c b a
            int period = 2 * n;
            int m = ((i % period) + period) % period;
            return m < n ? m : period - 1 - m;
        }
        case FillMode::Wrap: return ((i % n) + n) % n;
    }
    return -1;
}
}  // namespace

FillMode parse_fill_mode(const std::string& text) {
    if (text == "nearest") return FillMode::Nearest;
    if (text == "constant") return FillMode::Constant;
    if (text == "reflect") return FillMode::Reflect;
    if (text == "wrap") return FillMode::Wrap;
    throw UsageError("--fill-mode: \"" + text + "\" is not nearest, constant, reflect or wrap");
}

void parse_range_pair(const std::string& text, const char* option, double& lo, double& hi) {
    size_t comma = text.find(',');
    if (comma == std::string::npos) throw UsageError(std::string(option) + " wants two numbers, lo,hi: \"" + text + "\"");
    lo = parse_number(text.substr(0, comma), option);
    hi = parse_number(text.substr(comma + 1), option);
}

void parse_zoom_range(const std::string& text, double& lo, double& hi) {
    if (text.find(',') != std::string::npos) return parse_range_pair(text, "--zoom-range", lo, hi);
    double z = parse_number(text, "--zoom-range");
    lo = 1 - z;
    hi = 1 + z;
}

bool Augmentation::geometric() const {
    return rotation_range != 0 || width_shift_range != 0 || height_shift_range != 0 || shear_range != 0 || zoom_lo != 1 ||
           zoom_hi != 1;
}

bool Augmentation::active() const {
    return geometric() || horizontal_flip || vertical_flip || brightness_hi != 0 || channel_shift_range != 0;
}

void Augmentation::validate() const {
    auto need = [](bool ok, const std::string& message) {
        if (!ok) throw UsageError(message);
    };
    need(rotation_range >= 0 && rotation_range <= 360, "--rotation-range must be between 0 and 360 degrees");
    need(width_shift_range >= 0, "--width-shift-range must not be negative");
    need(height_shift_range >= 0, "--height-shift-range must not be negative");
    need(shear_range >= 0 && shear_range < 90, "--shear-range must be between 0 and 90 degrees");
    need(zoom_lo > 0 && zoom_hi >= zoom_lo, "--zoom-range must give factors 0 < lo <= hi (a zoom of 1 is no zoom)");
    need((brightness_lo == 0 && brightness_hi == 0) || (brightness_lo > 0 && brightness_hi >= brightness_lo),
         "--brightness-range must be 0 < lo <= hi (1 keeps the brightness; 0 would make every image black)");
    need(channel_shift_range >= 0 && channel_shift_range <= 255, "--channel-shift-range must be between 0 and 255");
}

Transform draw_transform(const Augmentation& a, int height, int width, uint64_t seed, uint64_t epoch, uint64_t index) {
    Random rng(seed, epoch, index, Purpose::Augment);
    Transform t;
    // Keras' order of draws; a parameter that is off draws nothing.
    if (a.rotation_range) t.theta = rng.uniform(-a.rotation_range, a.rotation_range);
    if (a.height_shift_range) {
        t.tx = rng.uniform(-a.height_shift_range, a.height_shift_range);
        if (a.height_shift_range < 1) t.tx *= height;
    }
    if (a.width_shift_range) {
        t.ty = rng.uniform(-a.width_shift_range, a.width_shift_range);
        if (a.width_shift_range < 1) t.ty *= width;
    }
    if (a.shear_range) t.shear = rng.uniform(-a.shear_range, a.shear_range);
    if (a.zoom_lo != 1 || a.zoom_hi != 1) {
        t.zx = rng.uniform(a.zoom_lo, a.zoom_hi);
        t.zy = rng.uniform(a.zoom_lo, a.zoom_hi);
    }
    t.flip_horizontal = a.horizontal_flip && rng.uniform() < 0.5;
    t.flip_vertical = a.vertical_flip && rng.uniform() < 0.5;
    if (a.channel_shift_range) t.channel_shift = rng.uniform(-a.channel_shift_range, a.channel_shift_range);
    if (a.brightness_hi) t.brightness = rng.uniform(a.brightness_lo, a.brightness_hi);
    return t;
}

namespace {
// Keras' matrix in (row, col) coordinates: rotation . shift . shear . zoom,
// about the image centre; it maps output coordinates to input ones:
// input (row, col) = m (out - centre) + centre = (m00 r + m01 c + off_r, m10 r + m11 c + off_c).
struct Affine {
    double m[3][3];
    double off_r, off_c;
    Affine(const Transform& t, int h, int w) : m{{std::cos(t.theta * kPi / 180), -std::sin(t.theta * kPi / 180), 0},
                                                 {std::sin(t.theta * kPi / 180), std::cos(t.theta * kPi / 180), 0},
                                                 {0, 0, 1}} {
        const double sh = t.shear * kPi / 180;
        const double shift[3][3] = {{1, 0, t.tx}, {0, 1, t.ty}, {0, 0, 1}};
        const double shear[3][3] = {{1, -std::sin(sh), 0}, {0, std::cos(sh), 0}, {0, 0, 1}};
        const double zoom[3][3] = {{t.zx, 0, 0}, {0, t.zy, 0}, {0, 0, 1}};
        times(shift);
        times(shear);
        times(zoom);
        const double cr = h / 2.0 - 0.5, cc = w / 2.0 - 0.5;
        off_r = cr - m[0][0] * cr - m[0][1] * cc + m[0][2];
        off_c = cc - m[1][0] * cr - m[1][1] * cc + m[1][2];
    }
    void times(const double b[3][3]) {
        double r[3][3] = {};
        for (int i = 0; i < 3; ++i)
            for (int j = 0; j < 3; ++j)
                for (int k = 0; k < 3; ++k) r[i][j] += m[i][k] * b[k][j];
        std::copy(&r[0][0], &r[0][0] + 9, &m[0][0]);
    }
};

// scipy's 'constant' takes no value from beyond the input's extent.
bool beyond(double ir, double ic, int h, int w) { return ir < -1e-9 || ir > h - 1 + 1e-9 || ic < -1e-9 || ic > w - 1 + 1e-9; }
}  // namespace

void apply_transform(const Augmentation& a, const Transform& t, uint8_t* pixels, int h, int w, int c,
                     std::vector<float>& out) {
    const size_t n = size_t(h) * size_t(w) * size_t(c);
    out.resize(n);
    if (a.geometric()) {
        const Affine f(t, h, w);
        const auto& m = f.m;
        const double off_r = f.off_r, off_c = f.off_c;
        const float cval = float(a.cval);
        const size_t row_stride = size_t(w) * size_t(c);
        for (int r = 0; r < h; ++r) {
            double ir = m[0][1] * -1 + m[0][0] * r + off_r, ic = m[1][1] * -1 + m[1][0] * r + off_c;
            for (int col = 0; col < w; ++col) {
                ir += m[0][1];  // one column to the right
                ic += m[1][1];
                float* dst = &out[(size_t(r) * size_t(w) + size_t(col)) * size_t(c)];
                int r0 = int(std::floor(ir)), c0 = int(std::floor(ic));
                float fr = float(ir - r0), fc = float(ic - c0);
                if (r0 >= 0 && r0 + 1 < h && c0 >= 0 && c0 + 1 < w) {  // inside: plain bilinear
                    const uint8_t* p00 = pixels + size_t(r0) * row_stride + size_t(c0) * size_t(c);
                    const uint8_t* p10 = p00 + row_stride;
                    for (int k = 0; k < c; ++k) {
                        float top = p00[k] + fc * (float(p00[k + c]) - p00[k]);
                        float bottom = p10[k] + fc * (float(p10[k + c]) - p10[k]);
                        dst[k] = top + fr * (bottom - top);
                    }
                    continue;
                }
                // scipy's 'constant': outside the input's extent is cval, no interpolation there.
                if (a.fill_mode == FillMode::Constant && beyond(ir, ic, h, w)) {
                    std::fill(dst, dst + c, cval);
                    continue;
                }
                int rows[2] = {boundary(r0, h, a.fill_mode), boundary(r0 + 1, h, a.fill_mode)};
                int cols[2] = {boundary(c0, w, a.fill_mode), boundary(c0 + 1, w, a.fill_mode)};
                float wr[2] = {1 - fr, fr}, wc[2] = {1 - fc, fc};
                for (int k = 0; k < c; ++k) {
                    float v = 0;
                    for (int i = 0; i < 2; ++i)
                        for (int j = 0; j < 2; ++j) {
                            float weight = wr[i] * wc[j];
                            if (weight == 0) continue;
                            v += weight * (rows[i] < 0 || cols[j] < 0
                                               ? cval
                                               : pixels[size_t(rows[i]) * row_stride + size_t(cols[j]) * size_t(c) + size_t(k)]);
                        }
                    dst[k] = v;
                }
            }
        }
    } else {
        for (size_t i = 0; i < n; ++i) out[i] = pixels[i];
    }
    if (t.channel_shift != 0) {  // Keras clips to the image's own range
        auto [lo, hi] = std::minmax_element(out.begin(), out.end());
        float mn = *lo, mx = *hi, s = float(t.channel_shift);
        for (float& v : out) v = std::clamp(v + s, mn, mx);
    }
    const float gain = t.brightness ? float(t.brightness) : 1.f;  // PIL's ImageEnhance.Brightness
    for (int r = 0; r < h; ++r) {
        for (int col = 0; col < w; ++col) {
            int sr = t.flip_vertical ? h - 1 - r : r, sc = t.flip_horizontal ? w - 1 - col : col;
            const float* src = &out[(size_t(sr) * size_t(w) + size_t(sc)) * size_t(c)];
            uint8_t* dst = pixels + (size_t(r) * size_t(w) + size_t(col)) * size_t(c);
            for (int k = 0; k < c; ++k) dst[k] = uint8_t(std::clamp(src[k] * gain, 0.f, 255.f) + 0.5f);
        }
    }
}

namespace {
// Writes each output pixel of an h x w mask at its flipped place in out:
// sample(ir, ic), ir and ic being the source coordinates accumulated along
// each row as apply_transform does, so that image and mask see the same ones.
// Where a row's coordinates lie surely inside the mask (the linear formula
// 1e-6 from its edges, one column of margin more; accumulation drifts by
// ~1e-12), floor(x + 0.5) is the truncation and every fill mode and sample()
// agree with mask[...] read straight: that middle stretch skips the clamps
// (measured: 30 us a 128x128 mask before, 24 us with it).
template <class Sample>
void map_mask(const Affine& f, const uint8_t* mask, int h, int w, bool flip_v, bool flip_h, uint8_t* out, Sample sample) {
    const ptrdiff_t step = flip_h ? -1 : 1;
    const double dr = f.m[0][1], dc = f.m[1][1];
    for (int r = 0; r < h; ++r) {
        double ir = dr * -1 + f.m[0][0] * r + f.off_r, ic = dc * -1 + f.m[1][0] * r + f.off_c;
        uint8_t* row = out + size_t(flip_v ? h - 1 - r : r) * size_t(w);
        uint8_t* d = flip_h ? row + w - 1 : row;
        // Column k's coordinate is about start + (k + 1) * delta: the columns [lo, hi) surely inside.
        int lo = 0, hi = w;
        auto narrow = [&](double start, double delta, double last) {
            const double eps = 1e-6;
            if (delta == 0) {
                if (!(start >= eps && start <= last - eps)) hi = 0;
                return;
            }
            double a = (eps - start) / delta - 1, b = (last - eps - start) / delta - 1;
            if (delta < 0) std::swap(a, b);
            a = std::clamp(a, -2.0, w + 2.0), b = std::clamp(b, -2.0, w + 2.0);  // (no NaN: delta != 0)
            lo = std::max(lo, int(std::ceil(a)) + 1);
            hi = std::min(hi, int(std::floor(b)));
        };
        narrow(ir, dr, h - 1);
        narrow(ic, dc, w - 1);
        int col = 0;
        for (const int end = std::min(lo, w); col < end; ++col, d += step) {
            ir += dr, ic += dc;
            *d = sample(ir, ic);
        }
        for (; col < hi; ++col, d += step) {
            ir += dr, ic += dc;
            *d = mask[ptrdiff_t(int(ir + 0.5)) * w + int(ic + 0.5)];
        }
        for (; col < w; ++col, d += step) {
            ir += dr, ic += dc;
            *d = sample(ir, ic);
        }
    }
}
}  // namespace

void apply_mask_transform(const Augmentation& a, const Transform& t, uint8_t* mask, int h, int w, uint8_t fill,
                          std::vector<uint8_t>& out) {
    const size_t n = size_t(h) * size_t(w);
    const bool flip_v = t.flip_vertical, flip_h = t.flip_horizontal;
    if (!a.geometric()) {
        if (!flip_v && !flip_h) return;
        out.assign(mask, mask + n);
        for (int r = 0; r < h; ++r)
            for (int col = 0; col < w; ++col) {
                const int sr = flip_v ? h - 1 - r : r, sc = flip_h ? w - 1 - col : col;
                mask[size_t(r) * size_t(w) + size_t(col)] = out[size_t(sr) * size_t(w) + size_t(sc)];
            }
        return;
    }
    // The image's mapping, sampled at the nearest source pixel (scipy's order 0:
    // floor(x + 0.5)), with the image's fill mode; the flips follow, as for the image.
    out.resize(n);
    const Affine f(t, h, w);
    const double last_r = h - 1, last_c = w - 1;
    if (a.fill_mode == FillMode::Nearest || a.fill_mode == FillMode::Constant) {
        // floor(x + 0.5) clamped to the mask is the truncation of x + 0.5 clamped:
        // the same bytes as the general rule below without its floor and boundary
        // calls (this function took 8% of an augmented pair's time, now 3%; plain
        // ternaries, not std::clamp, whose references GCC compiled to stack stores).
        // Constant fills what lies beyond the mask.
        auto clamped = [&](double ir, double ic) {
            double rr = ir + 0.5, cc = ic + 0.5;
            rr = rr > 0 ? rr : 0, cc = cc > 0 ? cc : 0;
            rr = rr < last_r ? rr : last_r, cc = cc < last_c ? cc : last_c;
            return mask[ptrdiff_t(int(rr)) * w + int(cc)];
        };
        if (a.fill_mode == FillMode::Constant)
            map_mask(f, mask, h, w, flip_v, flip_h, out.data(), [&](double ir, double ic) { return beyond(ir, ic, h, w) ? fill : clamped(ir, ic); });
        else
            map_mask(f, mask, h, w, flip_v, flip_h, out.data(), clamped);
    } else {
        map_mask(f, mask, h, w, flip_v, flip_h, out.data(), [&](double ir, double ic) -> uint8_t {
            const int sr = boundary(int(std::floor(ir + 0.5)), h, a.fill_mode);
            const int sc = boundary(int(std::floor(ic + 0.5)), w, a.fill_mode);
            return sr < 0 || sc < 0 ? fill : mask[size_t(sr) * size_t(w) + size_t(sc)];
        });
    }
    std::memcpy(mask, out.data(), n);
}

std::string ChannelStats::to_json() const {
    nlohmann::json j = {{"mean", mean}, {"std", std}, {"samples", samples}, {"dtype", dtype}};
    return j.dump(2) + "\n";
}

ChannelStats ChannelStats::from_json(const std::string& text, const std::string& where) {
    nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
    ChannelStats s;
    auto numbers = [&](const char* key, std::vector<double>& out) {
        if (!j.contains(key) || !j[key].is_array() || j[key].empty())
            throw DataError(where, std::string("statistics lack a \"") + key + "\" list (make them with imgstats)");
        for (const auto& v : j[key]) {
            if (!v.is_number()) throw DataError(where, std::string("\"") + key + "\" holds a non-number");
            out.push_back(v.get<double>());
        }
    };
    if (j.is_discarded() || !j.is_object()) throw DataError(where, "not a JSON object (make statistics with imgstats)");
    numbers("mean", s.mean);
    numbers("std", s.std);
    if (s.mean.size() != s.std.size()) throw DataError(where, "\"mean\" and \"std\" differ in length");
    if (j.contains("samples") && !j["samples"].is_number_integer()) throw DataError(where, "\"samples\" is not a whole number");
    if (j.contains("dtype") && !j["dtype"].is_string()) throw DataError(where, "\"dtype\" is not a string");
    s.samples = j.value("samples", int64_t(0));
    s.dtype = j.value("dtype", std::string("F32"));
    if (s.dtype != "U8" && s.dtype != "F32") throw DataError(where, "\"dtype\" is neither U8 nor F32");
    return s;
}

void to_floats(const uint8_t* in, float* out, int64_t samples, size_t pixels, int channels, float scale,
               const Standardization& standardization) {
    const size_t values = pixels * size_t(channels);
    for (size_t i = 0; i < size_t(samples) * values; ++i) out[i] = float(in[i]) * scale;
    if (standardization.active())  // Keras' standardize(): after the rescale
        for (int64_t i = 0; i < samples; ++i) standardization.apply(out + size_t(i) * values, pixels, channels);
}

void Standardization::apply(float* x, size_t pixels, int channels) const {
    const size_t n = pixels * size_t(channels);
    if (samplewise_center || samplewise_std) {  // over every pixel and channel, as Keras
        double sum = 0, sq = 0;
        for (size_t i = 0; i < n; ++i) sum += x[i];
        double mean = sum / double(n);
        for (size_t i = 0; i < n; ++i) sq += (x[i] - mean) * (x[i] - mean);
        double sd = std::sqrt(sq / double(n));
        for (size_t i = 0; i < n; ++i) {
            double v = x[i];
            if (samplewise_center) v -= mean;
            if (samplewise_std) v /= sd + 1e-6;
            x[i] = float(v);
        }
    }
    if (featurewise_center || featurewise_std) {
        for (size_t i = 0; i < n; ++i) {
            size_t k = i % size_t(channels);
            double v = x[i];
            if (featurewise_center) v -= stats.mean[k];
            if (featurewise_std) v /= stats.std[k] + 1e-6;
            x[i] = float(v);
        }
    }
}

void StatsAccumulator::merge(int c, double count, double mean, double m2) {
    size_t k = size_t(c);
    double total = n_[k] + count, delta = mean - mean_[k];
    if (total == 0) return;
    mean_[k] += delta * count / total;
    m2_[k] += m2 + delta * delta * n_[k] * count / total;
    n_[k] = total;
}

namespace {
// One image's per-channel mean and sum of squared deviations, merged into acc.
template <class T, class Merge>
void add_image(const T* x, size_t pixels, int channels, Merge merge) {
    for (int c = 0; c < channels; ++c) {
        double sum = 0, sq = 0;
        for (size_t i = 0; i < pixels; ++i) sum += x[i * size_t(channels) + size_t(c)];
        double mean = sum / double(pixels);
        for (size_t i = 0; i < pixels; ++i) {
            double d = x[i * size_t(channels) + size_t(c)] - mean;
            sq += d * d;
        }
        merge(c, double(pixels), mean, sq);
    }
}
}  // namespace

void StatsAccumulator::add_u8(const uint8_t* x, size_t pixels, int channels) {
    add_image(x, pixels, channels, [this](int c, double n, double mean, double m2) { merge(c, n, mean, m2); });
}

void StatsAccumulator::add_f32(const float* x, size_t pixels, int channels) {
    add_image(x, pixels, channels, [this](int c, double n, double mean, double m2) { merge(c, n, mean, m2); });
}

ChannelStats StatsAccumulator::result(int64_t samples) const {
    ChannelStats s;
    s.samples = samples;
    for (size_t c = 0; c < n_.size(); ++c) {
        s.mean.push_back(mean_[c]);
        s.std.push_back(n_[c] > 0 ? std::sqrt(m2_[c] / n_[c]) : 0);
    }
    return s;
}

}  // namespace imgpipe
