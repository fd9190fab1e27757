// Recognising formats and reading the metadata that changes pixels: EXIF
// orientation and ICC profiles. Option text parsing lives here too.
#include <cmath>
#include <cstdio>
#include <cstring>

#include "cli/error.hpp"
#include "image/codec.hpp"

namespace imgpipe {

namespace {
bool starts(const uint8_t* p, size_t n, const char* magic, size_t m) { return n >= m && std::memcmp(p, magic, m) == 0; }

uint32_t be16(const uint8_t* p) { return uint32_t(p[0]) << 8 | p[1]; }
uint32_t be32(const uint8_t* p) { return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]; }
}  // namespace

ImageFormat sniff_format(const uint8_t* p, size_t n) {
    if (starts(p, n, "\xff\xd8\xff", 3)) return ImageFormat::Jpeg;
    if (starts(p, n, "\x89PNG\r\n\x1a\n", 8)) return ImageFormat::Png;
    if (starts(p, n, "GIF87a", 6) || starts(p, n, "GIF89a", 6)) return ImageFormat::Gif;
    if (starts(p, n, "II*\0", 4) || starts(p, n, "MM\0*", 4) || starts(p, n, "II+\0", 4) || starts(p, n, "MM\0+", 4))
        return ImageFormat::Tiff;
    if (n >= 12 && starts(p, n, "RIFF", 4) && std::memcmp(p + 8, "WEBP", 4) == 0) return ImageFormat::Webp;
    if (starts(p, n, "BM", 2) && n >= 26) return ImageFormat::Bmp;
    if (n >= 3 && p[0] == 'P' && ((p[1] >= '1' && p[1] <= '6') || p[1] == 'F' || p[1] == 'f') &&
        (p[2] == ' ' || p[2] == '\n' || p[2] == '\r' || p[2] == '\t' || p[2] == '#'))
        return ImageFormat::Pnm;
    return ImageFormat::Unknown;
}

const char* format_name(ImageFormat f) {
    switch (f) {
        case ImageFormat::Jpeg: return "JPEG";
        case ImageFormat::Png: return "PNG";
        case ImageFormat::Gif: return "GIF";
        case ImageFormat::Tiff: return "TIFF";
        case ImageFormat::Webp: return "WebP";
        case ImageFormat::Bmp: return "BMP";
        case ImageFormat::Pnm: return "PNM";
        case ImageFormat::Other: return "image";
        case ImageFormat::Unknown: break;
    }
    return "unknown";
}

const char* decoder_name(Decoder d) {
    switch (d) {
        case Decoder::TurboJpeg: return "turbojpeg";
        case Decoder::Spng: return "spng";
        case Decoder::Vips: return "vips";
        case Decoder::None: break;
    }
    return "none";
}

namespace codec {

int exif_orientation(const uint8_t* p, size_t n) {
    if (n < 8) return 1;
    bool le;
    if (p[0] == 'I' && p[1] == 'I') le = true;
    else if (p[0] == 'M' && p[1] == 'M') le = false;
    else return 1;
    auto u16 = [&](size_t at) -> uint32_t { return le ? uint32_t(p[at]) | uint32_t(p[at + 1]) << 8 : be16(p + at); };
    auto u32 = [&](size_t at) -> uint32_t {
        return le ? uint32_t(p[at]) | uint32_t(p[at + 1]) << 8 | uint32_t(p[at + 2]) << 16 | uint32_t(p[at + 3]) << 24
                  : be32(p + at);
    };
    if (u16(2) != 42) return 1;
    size_t ifd = u32(4);
    if (ifd < 8 || ifd + 2 > n) return 1;
    uint32_t count = u16(ifd);
    for (uint32_t i = 0; i < count; ++i) {
        size_t e = ifd + 2 + size_t(i) * 12;
        if (e + 12 > n) break;
        if (u16(e) != 0x0112) continue;
        uint32_t type = u16(e + 2), v = 0;
        if (type == 3) v = u16(e + 8);        // SHORT
        else if (type == 4) v = u32(e + 8);   // LONG (seen in the wild)
        return v >= 1 && v <= 8 ? int(v) : 1;
    }
    return 1;
}

void scan_jpeg_markers(const uint8_t* p, size_t n, JpegMarkers& out) {
    out.orientation = 1;
    out.icc.clear();
    size_t pos = 2;
    while (pos + 4 <= n) {
        if (p[pos] != 0xff) break;  // not at a marker: leave it to the decoder
        uint8_t marker = p[pos + 1];
        if (marker == 0xff) { ++pos; continue; }  // fill byte
        if (marker == 0xd8 || marker == 0x01 || (marker >= 0xd0 && marker <= 0xd7)) { pos += 2; continue; }
        if (marker == 0xda || marker == 0xd9) break;  // start of scan: no more metadata
        size_t len = be16(p + pos + 2);
        if (len < 2 || pos + 2 + len > n) break;
        const uint8_t* seg = p + pos + 4;
        size_t seglen = len - 2;
        if (marker == 0xe1 && seglen > 6 && std::memcmp(seg, "Exif\0\0", 6) == 0 && out.orientation == 1) {
            out.orientation = exif_orientation(seg + 6, seglen - 6);
        } else if (marker == 0xe2 && seglen > 14 && std::memcmp(seg, "ICC_PROFILE\0", 12) == 0) {
            out.icc.insert(out.icc.end(), seg + 14, seg + seglen);
        }
        pos += 2 + len;
    }
}

namespace {
// The profile's description ('desc' tag; v2 textDescription or v4 mluc) as ASCII.
std::string icc_description(const uint8_t* p, size_t n) {
    uint32_t tags = be32(p + 128);
    for (uint32_t i = 0; i < tags && 132 + size_t(i + 1) * 12 <= n; ++i) {
        const uint8_t* t = p + 132 + size_t(i) * 12;
        if (std::memcmp(t, "desc", 4) != 0) continue;
        size_t off = be32(t + 4), len = be32(t + 8);
        if (off >= n || len > n - off || len < 12) return "";
        const uint8_t* d = p + off;
        std::string text;
        if (std::memcmp(d, "desc", 4) == 0) {
            size_t count = be32(d + 8);
            for (size_t k = 0; k < count && 12 + k < len && d[12 + k]; ++k) text += char(d[12 + k]);
        } else if (std::memcmp(d, "mluc", 4) == 0 && len >= 28) {
            size_t slen = be32(d + 20), soff = be32(d + 24);
            for (size_t k = 0; k + 1 < slen && soff + k + 1 < len; k += 2)
                if (d[soff + k] == 0) text += char(d[soff + k + 1]);
        }
        return text;
    }
    return "";
}

bool icc_xyz(const uint8_t* p, size_t n, const char* sig, double xyz[3]) {
    uint32_t tags = be32(p + 128);
    for (uint32_t i = 0; i < tags && 132 + size_t(i + 1) * 12 <= n; ++i) {
        const uint8_t* t = p + 132 + size_t(i) * 12;
        if (std::memcmp(t, sig, 4) != 0) continue;
        size_t off = be32(t + 4);
        if (off + 20 > n || std::memcmp(p + off, "XYZ ", 4) != 0) return false;
        for (int k = 0; k < 3; ++k) xyz[k] = int32_t(be32(p + off + 8 + 4 * k)) / 65536.0;
        return true;
    }
    return false;
}
}  // namespace

bool icc_is_srgb(const uint8_t* p, size_t n) {
    if (n < 132 || std::memcmp(p + 16, "RGB ", 4) != 0) return false;
    if (icc_description(p, n).find("sRGB") != std::string::npos) return true;
    // sRGB's primaries adapted to D50, as every sRGB profile stores them.
    static const double want[3][3] = {{0.4361, 0.2225, 0.0139}, {0.3851, 0.7169, 0.0971}, {0.1431, 0.0606, 0.7141}};
    static const char* sigs[3] = {"rXYZ", "gXYZ", "bXYZ"};
    for (int c = 0; c < 3; ++c) {
        double xyz[3];
        if (!icc_xyz(p, n, sigs[c], xyz)) return false;
        for (int k = 0; k < 3; ++k)
            if (std::fabs(xyz[k] - want[c][k]) > 0.003) return false;
    }
    return true;
}

void check_pixel_limit(uint64_t w, uint64_t h, uint64_t max_pixels, const std::string& where, const char* format) {
    if (w == 0 || h == 0) throw DataError(where, std::string(format) + " declares an empty image (" + std::to_string(w) + "x" + std::to_string(h) + ")");
    if (max_pixels && w * h > max_pixels)
        throw DataError(where, std::string(format) + " declares " + std::to_string(w) + "x" + std::to_string(h) + " = " +
                                   std::to_string(w * h) + " pixels, more than --max-pixels " +
                                   std::to_string(max_pixels) + " (a decompression bomb?)");
}

}  // namespace codec

// ---- option text ----

double parse_rescale(const std::string& text) {
    size_t slash = text.find('/');
    try {
        const std::string top = text.substr(0, slash), bottom = slash == std::string::npos ? "1" : text.substr(slash + 1);
        size_t used_top = 0, used_bottom = 0;
        double v = std::stod(top, &used_top) / std::stod(bottom, &used_bottom);
        if (used_top == top.size() && used_bottom == bottom.size() && std::isfinite(v)) return v;
    } catch (const std::exception&) {
    }
    throw UsageError("--rescale: \"" + text + "\" is not a number or a fraction such as 1/255");
}

void parse_size(const std::string& text, int& width, int& height) {
    auto number = [&](const std::string& s) {
        if (s.empty() || s.size() > 6 || s.find_first_not_of("0123456789") != std::string::npos)
            throw UsageError("--size: \"" + text + "\" is not WIDTHxHEIGHT (e.g. 64x64)");
        int v = std::stoi(s);
        if (v < 1 || v > 65535) throw UsageError("--size: " + s + " is out of range 1..65535");
        return v;
    };
    size_t x = text.find_first_of("xX");
    if (x == std::string::npos) {
        width = height = number(text);
    } else {
        width = number(text.substr(0, x));
        height = number(text.substr(x + 1));
    }
}

Fit parse_fit(const std::string& t) {
    if (t == "stretch") return Fit::Stretch;
    if (t == "crop") return Fit::Crop;
    if (t == "pad") return Fit::Pad;
    throw UsageError("--fit: \"" + t + "\" is not stretch, crop or pad");
}

Interpolation parse_interpolation(const std::string& t) {
    if (t == "nearest") return Interpolation::Nearest;
    if (t == "bilinear") return Interpolation::Bilinear;
    if (t == "bicubic") return Interpolation::Bicubic;
    if (t == "lanczos") return Interpolation::Lanczos;
    if (t == "area" || t == "box") return Interpolation::Area;
    throw UsageError("--interpolation: \"" + t + "\" is not nearest, bilinear, bicubic, lanczos or area");
}

const char* interpolation_name(Interpolation i) {
    switch (i) {
        case Interpolation::Nearest: return "nearest";
        case Interpolation::Bilinear: return "bilinear";
        case Interpolation::Bicubic: return "bicubic";
        case Interpolation::Lanczos: return "lanczos";
        case Interpolation::Area: return "area";
    }
    return "?";
}

ColorMode parse_color_mode(const std::string& t) {
    if (t == "rgb") return ColorMode::Rgb;
    if (t == "grayscale" || t == "gray" || t == "grey") return ColorMode::Grayscale;
    if (t == "rgba") return ColorMode::Rgba;
    throw UsageError("--color: \"" + t + "\" is not rgb, grayscale or rgba");
}

Rgb parse_color(const std::string& t) {
    auto bad = [&]() { return UsageError("--background: \"" + t + "\" is not #rrggbb, R,G,B, black, white or gray"); };
    if (t == "black") return {0, 0, 0};
    if (t == "white") return {255, 255, 255};
    if (t == "gray" || t == "grey") return {128, 128, 128};
    if (t.size() == 7 && t[0] == '#' && t.find_first_not_of("0123456789abcdefABCDEF", 1) == std::string::npos) {
        unsigned long v = std::stoul(t.substr(1), nullptr, 16);
        return {uint8_t(v >> 16), uint8_t(v >> 8), uint8_t(v)};
    }
    int v[3];
    size_t start = 0;
    for (int i = 0; i < 3; ++i) {
        size_t end = t.find(',', start);
        if ((i < 2) != (end != std::string::npos)) throw bad();
        std::string part = t.substr(start, end == std::string::npos ? std::string::npos : end - start);
        if (part.empty() || part.size() > 3 || part.find_first_not_of("0123456789") != std::string::npos) throw bad();
        v[i] = std::stoi(part);
        if (v[i] > 255) throw bad();
        start = end + 1;
    }
    return {uint8_t(v[0]), uint8_t(v[1]), uint8_t(v[2])};
}

}  // namespace imgpipe
