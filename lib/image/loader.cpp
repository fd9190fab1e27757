// ImageLoader: read, pick a decoder from the magic bytes, orient, convert the
// colour, resample, place. Every buffer lives as long as the loader.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstring>

#include "cli/error.hpp"
#include "image/codec.hpp"
#include "image/label_map.hpp"

namespace imgpipe {

using namespace codec;

namespace {
// Reads a file into buf, which only ever grows (a vector shrunk to the file
// and grown again for the next one would zero-fill the difference, about a
// tenth of the time of decoding a photo at 1/8 scale). Returns the size.
size_t read_into(const std::string& path, std::vector<uint8_t>& buf) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw NoInputError(path, std::string("cannot open: ") + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0 || S_ISDIR(st.st_mode)) {
        int e = S_ISDIR(st.st_mode) ? EISDIR : errno;
        ::close(fd);
        throw NoInputError(path, std::string("cannot read: ") + std::strerror(e));
    }
    // Regular files are read in one call (one byte more, to see the end); pipes in growing chunks.
    size_t want = S_ISREG(st.st_mode) ? size_t(st.st_size) + 1 : size_t(1) << 16;
    if (buf.size() < want) buf.resize(want);
    size_t used = 0;
    for (;;) {
        if (used == buf.size()) buf.resize(buf.size() * 2);
        ssize_t got = ::read(fd, buf.data() + used, buf.size() - used);
        if (got > 0) {
            used += size_t(got);
            continue;
        }
        if (got == 0) break;
        if (errno == EINTR) continue;
        int e = errno;
        ::close(fd);
        throw NoInputError(path, std::string("cannot read: ") + std::strerror(e));
    }
    ::close(fd);
    return used;
}
}  // namespace

void read_image_file(const std::string& path, std::vector<uint8_t>& buf) {
    buf.resize(read_into(path, buf));
}

struct ImageLoader::State {
    PrepOptions options;
    JpegDecoder jpeg;
    Resampler resampler;
    std::vector<uint8_t> file, repaired;
    Pixels decoded, upright, work_a, work_b, resized;
    std::vector<int> mask_rows, mask_cols;  // the mask's pixels the plan picks
    Decoder last = Decoder::None;
    // The last prepare()'s plan, on the file's upright size: a mask follows it.
    Plan plan;
    int upright_w = 0, upright_h = 0, orientation = 1;

    explicit State(const PrepOptions& o) : options(o) {}

    // Decodes to `decoded` (maybe shrunk, not yet oriented).
    void decode(const uint8_t* data, size_t size, const std::string& where, bool full_size, Decoded& d) {
        if (size == 0) throw DataError(where, "empty file");
        Request req;
        req.options = &options;
        req.full_size = full_size;
        d.pixels = &decoded;
        ImageFormat format = sniff_format(data, size);
        if (options.fast_paths && format == ImageFormat::Jpeg && jpeg.decode(data, size, where, req, d)) {
            last = Decoder::TurboJpeg;
        } else if (options.fast_paths && format == ImageFormat::Png && decode_png(data, size, where, req, d)) {
            last = Decoder::Spng;
        } else {
            // libvips' PNG loader uses a chunk whose CRC is bad: the same rules
            // as the fast path, and the damaged chunks it may skip are cut out.
            if (format == ImageFormat::Png && check_png_chunks(data, size, where, req, true, &repaired))
                data = repaired.data(), size = repaired.size();
            decode_vips(data, size, where, format, req, d);
            last = Decoder::Vips;
        }
    }

    const Pixels& upright_pixels(int orientation) {
        if (orientation == 1) return decoded;
        orient(decoded, orientation, upright);
        return upright;
    }

    void prepare(const uint8_t* data, size_t size, const std::string& where, uint8_t* out) {
        Decoded d;
        decode(data, size, where, false, d);
        const Pixels& src = upright_pixels(d.orientation);
        const bool swap = d.orientation >= 5;
        const int file_w = swap ? d.file_h : d.file_w, file_h = swap ? d.file_w : d.file_h;
        // The plan is made on the file's own size, then mapped onto what the
        // decoder returned (smaller when it shrank while decoding).
        plan = make_plan(file_w, file_h, options);
        upright_w = file_w, upright_h = file_h, orientation = d.orientation;
        const double x0 = plan.x0 * d.scale, x1 = std::min(plan.x1 * d.scale, double(src.width));
        const double y0 = plan.y0 * d.scale, y1 = std::min(plan.y1 * d.scale, double(src.height));

        // Convert to as few channels as the output allows before resampling:
        // alpha is flattened first (for RGB and gray output), RGBA output is
        // resampled premultiplied, as PIL does.
        const int want = options.channels();
        const Pixels* p = &src;
        auto scratch = [&]() { return p == &work_a ? &work_b : &work_a; };
        bool premultiplied = false;
        if (p->channels == 2 && want != 1) {
            Pixels* o = scratch();
            expand_channels(*p, 4, *o);
            p = o;
        }
        if ((p->channels == 2 || p->channels == 4) && want != 4) {
            Pixels* o = scratch();
            flatten_alpha(*p, options.background, *o);
            p = o;
        }
        if (p->channels == 3 && want == 1) {
            Pixels* o = scratch();
            to_gray(*p, *o);
            p = o;
        }
        if (p->channels == 4 && options.interpolation != Interpolation::Nearest) {
            Pixels* o = p == &work_a || p == &work_b ? const_cast<Pixels*>(p) : scratch();
            if (o != p) *o = *p;
            premultiply_alpha(*o);
            p = o;
            premultiplied = true;
        }
        Pixels& small = resized;
        resampler.resample(*p, x0, y0, x1, y1, plan.dest_w, plan.dest_h, options.interpolation, small);
        if (premultiplied) unpremultiply_alpha(small);

        // Place the result (channels expanded) in the output.
        const int out_w = options.width, out_h = options.height;
        const size_t c = size_t(want);
        if (plan.dest_w != out_w || plan.dest_h != out_h) {
            const uint8_t fill[4] = {options.background.r, options.background.g, options.background.b, 0};
            const uint8_t gray = uint8_t((fill[0] * 19595 + fill[1] * 38470 + fill[2] * 7471 + 0x8000) >> 16);
            for (size_t i = 0; i < size_t(out_w) * size_t(out_h); ++i)
                for (size_t k = 0; k < c; ++k) out[i * c + k] = want == 1 ? gray : fill[k];
        }
        for (int y = 0; y < small.height; ++y) {
            const uint8_t* s = small.row(y);
            uint8_t* dst = out + (size_t(y + plan.off_y) * size_t(out_w) + size_t(plan.off_x)) * c;
            if (size_t(small.channels) == c) {
                std::memcpy(dst, s, size_t(small.width) * c);
                continue;
            }
            for (int x = 0; x < small.width; ++x, s += small.channels, dst += c) {
                const bool gray_src = small.channels == 1;
                dst[0] = s[0];
                dst[1] = gray_src ? s[0] : s[1];
                dst[2] = gray_src ? s[0] : s[2];
                if (c == 4) dst[3] = 255;
            }
        }
    }
};

ImageLoader::ImageLoader(const PrepOptions& options) : state_(new State(options)) {
    if (options.width < 1 || options.height < 1) throw UsageError("image size must be at least 1x1");
}

ImageLoader::~ImageLoader() = default;

void ImageLoader::load_file(const std::string& path, uint8_t* out) {
    const size_t size = read_into(path, state_->file);
    state_->prepare(state_->file.data(), size, path, out);
}

void ImageLoader::load_pair(const std::string& path, const std::string& mask, MaskDecoder& masks, uint8_t* out,
                            uint8_t* mask_out) {
    load_file(path, out);
    State& s = *state_;
    // The image's plan picks the mask's pixels by nearest, whatever --interpolation
    // says: a mask's values are classes, not intensities.
    const Plan p = s.plan;
    const int image_w = s.upright_w, image_h = s.upright_h, orientation = s.orientation;
    nearest_indices(p.x0, p.x1, p.dest_w, image_w, s.mask_cols);
    nearest_indices(p.y0, p.y1, p.dest_h, image_h, s.mask_rows);
    auto size_ok = [&](int w, int h) {
        if (w == image_w && h == image_h) return;
        auto dims = [](int w, int h) { return std::to_string(w) + "x" + std::to_string(h); };
        const bool turned = orientation >= 5 && w == image_h && h == image_w;
        throw DataError(mask, "is " + dims(w, h) + ", its image " + path + " " + dims(image_w, image_h) +
                                  (turned ? " as its EXIF orientation shows it (a mask is drawn on the image as shown)" : ""));
    };
    const size_t size = read_into(mask, s.file);
    const int out_w = s.options.width, out_h = s.options.height;
    masks.decode_picked(s.file.data(), size, mask, *this, size_ok, s.mask_rows, s.mask_cols,
                        mask_out + size_t(p.off_y) * size_t(out_w) + size_t(p.off_x), size_t(out_w));
    // Pad and fill areas (--fit pad) around the placed mask.
    if (p.dest_w == out_w && p.dest_h == out_h) return;
    for (int y = 0; y < out_h; ++y) {
        uint8_t* row = mask_out + size_t(y) * size_t(out_w);
        if (y < p.off_y || y >= p.off_y + p.dest_h) {
            std::memset(row, masks.options().fill, size_t(out_w));
            continue;
        }
        std::memset(row, masks.options().fill, size_t(p.off_x));
        std::memset(row + p.off_x + p.dest_w, masks.options().fill, size_t(out_w - p.off_x - p.dest_w));
    }
}

void ImageLoader::load_buffer(const uint8_t* data, size_t size, const std::string& where, uint8_t* out) {
    state_->prepare(data, size, where, out);
}

void ImageLoader::decode(const uint8_t* data, size_t size, const std::string& where, Pixels& out) {
    Decoded d;
    state_->decode(data, size, where, true, d);
    if (d.orientation == 1) out = state_->decoded;
    else orient(state_->decoded, d.orientation, out);
}

Decoder ImageLoader::last_decoder() const { return state_->last; }

}  // namespace imgpipe
