// Geometry and pixel arithmetic: the fit plan, EXIF orientation, PIL's
// resampler and the colour conversions. No decoder is involved here.
#include <algorithm>
#include <cmath>
#include <cstring>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "image/codec.hpp"

namespace imgpipe {
namespace codec {

double Plan::max_shrink() const {
    double sx = (x1 - x0) / dest_w, sy = (y1 - y0) / dest_h;
    return std::max(1.0, std::min(sx, sy) / 2);
}

Plan make_plan(int w, int h, const PrepOptions& o) {
    Plan p;
    p.x1 = w;
    p.y1 = h;
    p.dest_w = o.width;
    p.dest_h = o.height;
    if (o.fit == Fit::Crop) {
        // Keras' keep_aspect_ratio: the largest centred box of the target's aspect ratio.
        int64_t crop_h = std::min<int64_t>(h, int64_t(w) * o.height / o.width);
        int64_t crop_w = std::min<int64_t>(w, int64_t(h) * o.width / o.height);
        crop_h = std::max<int64_t>(crop_h, 1);
        crop_w = std::max<int64_t>(crop_w, 1);
        p.x0 = double((w - crop_w) / 2);
        p.y0 = double((h - crop_h) / 2);
        p.x1 = p.x0 + double(crop_w);
        p.y1 = p.y0 + double(crop_h);
    } else if (o.fit == Fit::Pad) {
        // The whole image, scaled to fit inside, centred (tf.image.resize_with_pad).
        double scale = std::min(double(o.width) / w, double(o.height) / h);
        p.dest_w = std::clamp(int(std::lround(w * scale)), 1, o.width);
        p.dest_h = std::clamp(int(std::lround(h * scale)), 1, o.height);
        p.off_x = (o.width - p.dest_w) / 2;
        p.off_y = (o.height - p.dest_h) / 2;
    }
    return p;
}

void orient(const Pixels& in, int orientation, Pixels& out) {
    const int w = in.width, h = in.height, c = in.channels;
    const bool swap = orientation >= 5;
    out.reset(swap ? h : w, swap ? w : h, c);
    const int ow = out.width, oh = out.height;
    for (int y = 0; y < oh; ++y) {
        uint8_t* dst = out.row(y);
        for (int x = 0; x < ow; ++x) {
            int sx, sy;  // the source pixel of output (x, y), as PIL's exif_transpose maps it
            switch (orientation) {
                case 2: sx = w - 1 - x; sy = y; break;          // FLIP_LEFT_RIGHT
                case 3: sx = w - 1 - x; sy = h - 1 - y; break;  // ROTATE_180
                case 4: sx = x; sy = h - 1 - y; break;          // FLIP_TOP_BOTTOM
                case 5: sx = y; sy = x; break;                  // TRANSPOSE
                case 6: sx = y; sy = h - 1 - x; break;          // ROTATE_270 (90 clockwise)
                case 7: sx = w - 1 - y; sy = h - 1 - x; break;  // TRANSVERSE
                case 8: sx = w - 1 - y; sy = x; break;          // ROTATE_90 (90 anticlockwise)
                default: sx = x; sy = y; break;
            }
            const uint8_t* src = in.row(sy) + size_t(sx) * size_t(c);
            for (int k = 0; k < c; ++k) dst[size_t(x) * size_t(c) + size_t(k)] = src[k];
        }
    }
}

// ---- PIL's resampler (libImaging/Resample.c), same arithmetic ----

namespace {
constexpr int kPrecisionBits = 32 - 8 - 2;

double box_filter(double x) { return x > -0.5 && x <= 0.5 ? 1.0 : 0.0; }
double bilinear_filter(double x) {
    if (x < 0.0) x = -x;
    return x < 1.0 ? 1.0 - x : 0.0;
}
double bicubic_filter(double x) {
    const double a = -0.5;
    if (x < 0.0) x = -x;
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
}
double sinc_filter(double x) {
    if (x == 0.0) return 1.0;
    x = x * M_PI;
    return std::sin(x) / x;
}
double lanczos_filter(double x) { return -3.0 <= x && x < 3.0 ? sinc_filter(x) * sinc_filter(x / 3) : 0.0; }

inline uint8_t clip8(int32_t v) {
    v >>= kPrecisionBits;
    return uint8_t(v < 0 ? 0 : v > 255 ? 255 : v);
}

// d[i] = clip8(2^21 + sum over taps of rows[t][i] * k[t]) for i < n: PIL's
// arithmetic for one output row. With SSE2 (every x86-64), 16 bytes at a
// time with pmaddwd: each weight is split as k = kh * 2^11 + kl so that both
// halves fit 16 bits, and the two exact 32-bit sums are joined again.
void weighted_sum(const uint8_t* const* rows, const int32_t* k, int taps, size_t n, uint8_t* d) {
    size_t i = 0;
#if defined(__SSE2__)
    if (taps <= 256) {
        const __m128i zero = _mm_setzero_si128(), half = _mm_set1_epi32(int32_t(1) << (kPrecisionBits - 1));
        for (; i + 16 <= n; i += 16) {
            __m128i h[4] = {zero, zero, zero, zero}, l[4] = {zero, zero, zero, zero};
            for (int t = 0; t < taps; t += 2) {
                const bool pair = t + 1 < taps;
                const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(rows[t] + i));
                const __m128i b = pair ? _mm_loadu_si128(reinterpret_cast<const __m128i*>(rows[t + 1] + i)) : zero;
                const int32_t k0 = k[t], k1 = pair ? k[t + 1] : 0;
                const __m128i wh = _mm_set1_epi32(int32_t(uint32_t(uint16_t(k0 >> 11)) | uint32_t(uint16_t(k1 >> 11)) << 16));
                const __m128i wl = _mm_set1_epi32(int32_t(uint32_t(k0 & 0x7ff) | uint32_t(k1 & 0x7ff) << 16));
                const __m128i lo = _mm_unpacklo_epi8(a, b), hi = _mm_unpackhi_epi8(a, b);  // a0 b0 a1 b1 ...
                const __m128i p[4] = {_mm_unpacklo_epi8(lo, zero), _mm_unpackhi_epi8(lo, zero),
                                      _mm_unpacklo_epi8(hi, zero), _mm_unpackhi_epi8(hi, zero)};
                for (int q = 0; q < 4; ++q) {
                    h[q] = _mm_add_epi32(h[q], _mm_madd_epi16(p[q], wh));
                    l[q] = _mm_add_epi32(l[q], _mm_madd_epi16(p[q], wl));
                }
            }
            __m128i v[4];
            for (int q = 0; q < 4; ++q)
                v[q] = _mm_srai_epi32(_mm_add_epi32(_mm_add_epi32(_mm_slli_epi32(h[q], 11), l[q]), half), kPrecisionBits);
            const __m128i out = _mm_packus_epi16(_mm_packs_epi32(v[0], v[1]), _mm_packs_epi32(v[2], v[3]));
            _mm_storeu_si128(reinterpret_cast<__m128i*>(d + i), out);
        }
    }
#endif
    for (; i < n; ++i) {
        int32_t ss = int32_t(1) << (kPrecisionBits - 1);
        for (int t = 0; t < taps; ++t) ss += int32_t(rows[t][i]) * k[t];
        d[i] = clip8(ss);
    }
}

// Rows [first, first + rows) of in, transposed: out.row(x) holds column x,
// top to bottom (pixels stay whole), so the horizontal pass is a sum of rows too.
template <int C>
void transpose_pixels(const Pixels& in, int first, int rows, Pixels& out) {
    const size_t out_stride = size_t(rows) * C;
    for (int y = 0; y < rows; ++y) {
        const uint8_t* s = in.row(first + y);
        uint8_t* d = out.data.data() + size_t(y) * C;
        for (int x = 0; x < in.width; ++x, s += C, d += out_stride)
            for (int ch = 0; ch < C; ++ch) d[ch] = s[ch];
    }
}

void transpose(const Pixels& in, int first, int rows, Pixels& out) {
    out.reset(rows, in.width, in.channels);
    switch (in.channels) {
        case 1: transpose_pixels<1>(in, first, rows, out); break;
        case 2: transpose_pixels<2>(in, first, rows, out); break;
        case 3: transpose_pixels<3>(in, first, rows, out); break;
        default: transpose_pixels<4>(in, first, rows, out); break;
    }
}
}  // namespace

void Resampler::make_kernel(Kernel& k, int in_size, double in0, double in1, int out_size, Interpolation filter) {
    if (k.in_size == in_size && k.out_size == out_size && k.in0 == in0 && k.in1 == in1 && k.filter == filter) return;
    double (*f)(double) = bilinear_filter;
    double support = 1.0;
    switch (filter) {
        case Interpolation::Area: f = box_filter; support = 0.5; break;
        case Interpolation::Bilinear: f = bilinear_filter; support = 1.0; break;
        case Interpolation::Bicubic: f = bicubic_filter; support = 2.0; break;
        case Interpolation::Lanczos: f = lanczos_filter; support = 3.0; break;
        case Interpolation::Nearest: break;  // handled by the caller
    }
    double scale = (in1 - in0) / out_size, filterscale = std::max(scale, 1.0);
    support *= filterscale;
    int ksize = int(std::ceil(support)) * 2 + 1;
    k.ksize = ksize;
    k.bounds.assign(size_t(out_size) * 2, 0);
    k.coeffs.assign(size_t(out_size) * size_t(ksize), 0);
    std::vector<double> w(static_cast<size_t>(ksize));
    for (int xx = 0; xx < out_size; ++xx) {
        double center = in0 + (xx + 0.5) * scale;
        double ss = 1.0 / filterscale, ww = 0.0;
        int xmin = int(center - support + 0.5);
        if (xmin < 0) xmin = 0;
        int xmax = int(center + support + 0.5);
        if (xmax > in_size) xmax = in_size;
        xmax -= xmin;
        for (int x = 0; x < xmax; ++x) {
            w[size_t(x)] = f((x + xmin - center + 0.5) * ss);
            ww += w[size_t(x)];
        }
        int32_t* kk = &k.coeffs[size_t(xx) * size_t(ksize)];
        for (int x = 0; x < xmax; ++x) {
            double v = ww != 0.0 ? w[size_t(x)] / ww : w[size_t(x)];
            kk[x] = int32_t(v * (1 << kPrecisionBits) + (v < 0 ? -0.5 : 0.5));
        }
        k.bounds[size_t(xx) * 2] = xmin;
        k.bounds[size_t(xx) * 2 + 1] = xmax;
    }
    k.in_size = in_size;
    k.out_size = out_size;
    k.in0 = in0;
    k.in1 = in1;
    k.filter = filter;
}

void nearest_indices(double a0, double a1, int out_n, int in_n, std::vector<int>& index) {
    // Positions accumulate as in PIL's ImagingScaleAffine, so rounding matches PIL's.
    const double step = (a1 - a0) / out_n;
    double at = a0 + step * 0.5;
    index.resize(size_t(out_n));
    for (int i = 0; i < out_n; ++i, at += step) index[size_t(i)] = std::clamp(at < 0 ? 0 : int(at), 0, in_n - 1);
}

void Resampler::resample(const Pixels& in, double x0, double y0, double x1, double y1, int out_w, int out_h,
                         Interpolation filter, Pixels& out) {
    const int c = in.channels;
    if (filter == Interpolation::Nearest) {
        // PIL's affine nearest: the source pixel under each output pixel's centre.
        // Positions accumulate as in ImagingScaleAffine, so rounding matches PIL's.
        out.reset(out_w, out_h, c);
        nearest_indices(x0, x1, out_w, in.width, xs_);
        nearest_indices(y0, y1, out_h, in.height, ys_);
        const std::vector<int>& xs = xs_;
        for (int y = 0; y < out_h; ++y) {
            const uint8_t* src = in.row(ys_[size_t(y)]);
            uint8_t* dst = out.row(y);
            if (c == 1) {  // masks: a byte each (a memcpy call per pixel was 5% of a pair's time)
                for (int x = 0; x < out_w; ++x) dst[x] = src[xs[size_t(x)]];
                continue;
            }
            for (int x = 0; x < out_w; ++x) std::memcpy(dst + size_t(x) * size_t(c), src + size_t(xs[size_t(x)]) * size_t(c), size_t(c));
        }
        return;
    }
    bool need_h = out_w != in.width || x0 != 0 || x1 != out_w;
    bool need_v = out_h != in.height || y0 != 0 || y1 != out_h;
    if (!need_h && !need_v) {
        out = in;
        return;
    }
    make_kernel(horizontal_, in.width, x0, x1, out_w, filter);
    make_kernel(vertical_, in.height, y0, y1, out_h, filter);
    // Rows of the source the vertical pass reads.
    const int ybox_first = vertical_.bounds[0];
    const int ybox_last = vertical_.bounds[size_t(out_h) * 2 - 2] + vertical_.bounds[size_t(out_h) * 2 - 1];
    const Pixels* src = &in;
    int row_shift = 0;
    if (need_h) {
        // On the transposed rows, each output column is a weighted sum of
        // source columns: the same kernel as the vertical pass.
        const int first = need_v ? ybox_first : 0, rows = need_v ? ybox_last - ybox_first : in.height;
        transpose(in, first, rows, columns_);
        columns_out_.reset(rows, out_w, c);
        const size_t column_bytes = size_t(rows) * size_t(c);
        for (int xx = 0; xx < out_w; ++xx) {
            const int xmin = horizontal_.bounds[size_t(xx) * 2], xn = horizontal_.bounds[size_t(xx) * 2 + 1];
            taps_.resize(size_t(xn));
            for (int x = 0; x < xn; ++x) taps_[size_t(x)] = columns_.row(xmin + x);
            weighted_sum(taps_.data(), &horizontal_.coeffs[size_t(xx) * size_t(horizontal_.ksize)], xn, column_bytes,
                         columns_out_.row(xx));
        }
        Pixels& tmp = need_v ? temp_ : out;
        transpose(columns_out_, 0, out_w, tmp);
        if (!need_v) return;
        src = &tmp;
        row_shift = ybox_first;
    }
    out.reset(out_w, out_h, c);
    const size_t row_bytes = size_t(out_w) * size_t(c);
    for (int yy = 0; yy < out_h; ++yy) {
        const int ymin = vertical_.bounds[size_t(yy) * 2] - row_shift, yn = vertical_.bounds[size_t(yy) * 2 + 1];
        taps_.resize(size_t(yn));
        for (int y = 0; y < yn; ++y) taps_[size_t(y)] = src->row(ymin + y);
        weighted_sum(taps_.data(), &vertical_.coeffs[size_t(yy) * size_t(vertical_.ksize)], yn, row_bytes, out.row(yy));
    }
}

// ---- colour ----

void flatten_alpha(const Pixels& in, Rgb bg, Pixels& out) {
    const int c = in.channels;  // 2 or 4
    out.reset(in.width, in.height, c - 1);
    const size_t n = size_t(in.width) * size_t(in.height);
    const uint8_t* s = in.data.data();
    uint8_t* d = out.data.data();
    const uint8_t back[3] = {bg.r, bg.g, bg.b};
    const int gray_bg = (bg.r * 19595 + bg.g * 38470 + bg.b * 7471 + 0x8000) >> 16;
    for (size_t i = 0; i < n; ++i, s += c, d += c - 1) {
        int a = s[c - 1];
        for (int k = 0; k < c - 1; ++k) {
            int b = c == 2 ? gray_bg : back[k];
            int v = s[k] * a + b * (255 - a) + 127;
            d[k] = uint8_t(v / 255);
        }
    }
}

void to_gray(const Pixels& in, Pixels& out) {
    out.reset(in.width, in.height, 1);
    const size_t n = size_t(in.width) * size_t(in.height);
    const int c = in.channels;
    const uint8_t* s = in.data.data();
    uint8_t* d = out.data.data();
    for (size_t i = 0; i < n; ++i, s += c) d[i] = uint8_t((s[0] * 19595 + s[1] * 38470 + s[2] * 7471 + 0x8000) >> 16);
}

void expand_channels(const Pixels& in, int channels, Pixels& out) {
    out.reset(in.width, in.height, channels);
    const size_t n = size_t(in.width) * size_t(in.height);
    const int c = in.channels;
    const uint8_t* s = in.data.data();
    uint8_t* d = out.data.data();
    for (size_t i = 0; i < n; ++i, s += c, d += channels) {
        bool gray = c <= 2;
        d[0] = s[0];
        d[1] = gray ? s[0] : s[1];
        d[2] = gray ? s[0] : s[2];
        if (channels == 4) d[3] = c == 2 ? s[1] : c == 4 ? s[3] : 255;
    }
}

void premultiply_alpha(Pixels& p) {
    const size_t n = size_t(p.width) * size_t(p.height);
    uint8_t* d = p.data.data();
    for (size_t i = 0; i < n; ++i, d += 4) {
        int a = d[3];
        if (a == 255) continue;
        for (int k = 0; k < 3; ++k) {
            int t = d[k] * a + 128;  // PIL's MULDIV255
            d[k] = uint8_t((t + (t >> 8)) >> 8);
        }
    }
}

void unpremultiply_alpha(Pixels& p) {
    const size_t n = size_t(p.width) * size_t(p.height);
    uint8_t* d = p.data.data();
    for (size_t i = 0; i < n; ++i, d += 4) {
        int a = d[3];
        if (a == 255 || a == 0) continue;
        for (int k = 0; k < 3; ++k) d[k] = uint8_t(std::min(255, (255 * d[k] + a / 2) / a));
    }
}

}  // namespace codec
}  // namespace imgpipe
