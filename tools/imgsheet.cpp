// imgsheet: draw the samples of one or more streams as a contact sheet PNG.
#include <map>
#include <memory>

#include "cli/app.hpp"
#include "cli/error.hpp"
#include "cli/io.hpp"
#include "list/list.hpp"
#include "stream/batch.hpp"
#include "stream/drain.hpp"
#include "view/mask.hpp"
#include "view/picture.hpp"

using namespace imgpipe;

namespace {
struct Source {  // one STREAM[:TENSORS] argument
    std::unique_ptr<Input> input;
    std::unique_ptr<FrameReader> reader;
    std::unique_ptr<SampleCursor> cursor;
    std::vector<std::string> tensors;  // empty: x, and y when y is an image
};

Source open_source(const std::string& spec) {
    Source s;
    std::string path = spec;
    size_t colon = spec.rfind(':');
    if (colon != std::string::npos && spec.find('/', colon) == std::string::npos && colon + 1 < spec.size()) {
        path = spec.substr(0, colon);
        for (size_t a = colon + 1, b; a <= spec.size(); a = b + 1) {
            b = std::min(spec.find(',', a), spec.size());
            s.tensors.push_back(spec.substr(a, b - a));
        }
    }
    s.input = std::make_unique<Input>(path);
    s.reader = std::make_unique<FrameReader>(*s.input);
    s.cursor = std::make_unique<SampleCursor>(*s.reader);
    return s;
}

std::string basename_of(const std::string& path) { return path.substr(path.rfind('/') + 1); }

// What y says of sample `row`: its class; the classes a multi-hot row or a
// mask shows, joined with "+"; or its numbers (raw), joined with ",". Empty otherwise.
std::string target_caption(const Frame& f, int64_t row) {
    const Tensor* y = f.find("y");
    if (!y) return "";
    std::vector<std::string> classes = f.classes();
    auto name = [&](int64_t c) { return c >= 0 && size_t(c) < classes.size() ? classes[size_t(c)] : std::to_string(c); };
    if (y->dtype == DType::I32 && y->shape.size() == 1) return name(y->values<int32_t>()[row]);
    if (is_mask_frame(f)) {  // the classes the mask shows, joined with "+" (not the ignore index)
        const int64_t pixels = y->shape[1] * y->shape[2];
        const uint8_t* m = y->values<uint8_t>() + row * pixels;
        std::vector<bool> shown(256, false);
        for (int64_t i = 0; i < pixels; ++i) shown[m[i]] = true;
        const int ignore = Palette::of(f).ignore;
        std::string caption;
        for (int c = 0; c < 256; ++c)
            if (shown[size_t(c)] && c != ignore) caption += (caption.empty() ? "" : "+") + name(c);
        return caption;
    }
    if (y->dtype != DType::F32 || y->shape.size() != 2) return "";
    auto mode = f.metadata.find("class_mode");
    const bool multi = mode != f.metadata.end() && mode->second == "multi_label";
    const float* v = y->values<float>() + row * y->shape[1];
    std::string caption;
    for (int64_t c = 0; c < y->shape[1]; ++c) {
        if (multi && v[c] <= 0.5f) continue;
        char number[32];
        std::snprintf(number, sizeof number, "%.4g", double(v[c]));
        caption += (caption.empty() ? "" : multi ? "+" : ",") + (multi ? name(c) : std::string(number));
    }
    return caption;
}
}  // namespace

int main(int argc, char** argv) {
    App app("imgsheet", "Draw the samples of batch streams as a contact sheet PNG (a grid, with captions)");
    app.add_allow_skipped_option();
    std::vector<std::string> specs;
    std::string output, label = "none", captions_file;
    int columns = 8, scale = 1;
    double overlay = 0;
    int64_t max_samples = 64;
    CLI::App& cli = app.cli();
    cli.add_option("streams", specs, "STREAM[:TENSOR,...]; several streams are drawn side by side, sample by sample");
    cli.add_option("-o,--output", output, "Write the PNG to FILE (default: stdout)");
    cli.add_option("--columns", columns, "Cells per row (default 8)")->check(CLI::PositiveNumber);
    cli.add_option("--scale", scale, "Enlarge tiles K times, nearest neighbour (default 1)")->check(CLI::Range(1, 16));
    cli.add_option("--max", max_samples, "Draw at most N samples (default 64; 0: all)")->check(CLI::NonNegativeNumber);
    cli.add_option("--label", label, "Caption under each cell: none, path (file name) or class (the class, the classes shown, or the numbers of y)")
        ->check(CLI::IsMember({"none", "path", "class"}));
    cli.add_option("--overlay", overlay, "Segmentation masks: blend each mask's colours over its image at ALPHA (0 to 1) "
                                         "instead of drawing it beside the image")
        ->check(CLI::Range(0.0, 1.0));
    cli.add_option("--captions", captions_file, "TSV of PATH<TAB>CAPTION: the caption of each sample by source path");

    return app.main(argc, argv, [&] {
        start_vips("imgsheet");
        if (specs.empty()) specs.push_back("-");
        std::vector<Source> sources;
        for (const std::string& s : specs) sources.push_back(open_source(s));
        std::map<std::string, std::string> captions;
        if (!captions_file.empty()) {
            Input in(captions_file);
            std::string line;
            while (in.read_record(line, '\n')) {
                size_t tab = line.find('\t');
                if (tab != std::string::npos) captions[line.substr(0, tab)] = line.substr(tab + 1);
            }
        }
        ContactSheet sheet(columns, scale);
        while (max_samples == 0 || int64_t(sheet.size()) < max_samples) {
            std::vector<vips::VImage> tiles;
            bool more = true;
            for (Source& s : sources) more = s.cursor->next() && more;
            if (!more) break;
            std::unique_ptr<vips::VImage> image;  // the sample's image, for a mask to be blended over
            for (Source& s : sources) {
                const Frame& f = s.cursor->frame();
                const bool mask = is_mask_frame(f);
                // nnpredict's masks: x holds the model's outputs, the image is another stream's.
                const bool predicted = mask && f.metadata.count("predicted");
                std::vector<std::string> names = s.tensors;
                if (names.empty()) {
                    if (!predicted) names.push_back("x");
                    const Tensor* y = f.find("y");
                    if (mask || (y && is_image_tensor(*y))) names.push_back("y");
                }
                bool drew_x = false;  // the tile before is this source's x
                for (const std::string& name : names) {
                    const Tensor* t = f.find(name);
                    if (!t) throw DataError(s.cursor->where(), "no tensor \"" + name + "\"");
                    try {
                        if (mask && name == "y" && overlay > 0 && image) {
                            // Over the image: its own x's tile becomes the blend, a prediction's is one more tile.
                            vips::VImage blended = overlay_picture(*image, *t, s.cursor->row(), Palette::of(f), overlay);
                            if (drew_x) tiles.back() = blended;
                            else tiles.push_back(blended);
                        } else if (mask && name == "y") {
                            tiles.push_back(mask_picture(*t, s.cursor->row(), Palette::of(f)));
                        } else {
                            tiles.push_back(tensor_picture(*t, s.cursor->row()));
                            if (name == "x") image = std::make_unique<vips::VImage>(tiles.back());
                        }
                        drew_x = name == "x";
                    } catch (const DataError& e) {
                        throw DataError(s.cursor->where(), e.what());
                    }
                }
            }
            const SampleCursor& first = *sources[0].cursor;
            std::string caption;
            if (!captions.empty()) caption = captions.count(first.path()) ? captions[first.path()] : "";
            else if (label == "path") caption = basename_of(first.path());
            else if (label == "class") caption = target_caption(first.frame(), first.row());
            sheet.add(tiles, caption);
        }
        save_picture(sheet.render(), output, "png");
        app.note("imgsheet: drew " + std::to_string(sheet.size()) + " samples");
        for (Source& s : sources) drain_rest(*s.input, s.cursor->frame());  // --max: the producers end normally
        return 0;
    });
}
