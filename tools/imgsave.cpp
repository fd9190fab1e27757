// imgsave: write the images of a stream back to files (Keras' save_to_dir).
#include <sys/stat.h>

#include <algorithm>
#include <charconv>
#include <cstdio>

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
// The double whose shortest decimal imgprep reads back (double, then float) to
// exactly `v`: 0.1f is written "0.1", not 0.10000000149011612.
double list_number(float v) {
    char text[32];
    auto [end, ec] = std::to_chars(text, text + sizeof text, v);  // the shortest decimal strtof reads back to v
    double d = 0;
    if (ec == std::errc() && parse_number(std::string(text, end), d) && float(d) == v) return d;
    return double(v);  // exact: it casts back to v
}
}  // namespace

int main(int argc, char** argv) {
    App app("imgsave", "Write the images of a batch stream to files and their list lines to stdout (Keras' save_to_dir)");
    app.add_allow_skipped_option();
    std::string input = "-", dir, prefix = "img", format = "png", tensor = "x";
    int64_t max_samples = 0;
    CLI::App& cli = app.cli();
    cli.add_option("stream", input, "Input stream (default: stdin)");
    cli.add_option("-d,--dir", dir, "Folder to write into (created if missing)")->required();
    cli.add_option("--prefix", prefix, "File name prefix (default img)");
    cli.add_option("--format", format, "png or jpg (default png)")->check(CLI::IsMember({"png", "jpg"}));
    cli.add_option("--tensor", tensor, "Which image tensor to save (default x)");
    cli.add_option("--max", max_samples, "Save at most N images (default: all)")->check(CLI::NonNegativeNumber);

    return app.main(argc, argv, [&] {
        start_vips("imgsave");
        if (::mkdir(dir.c_str(), 0777) != 0 && errno != EEXIST) throw CantCreateError(dir, std::string("cannot create folder: ") + std::strerror(errno));
        Input in(input);
        FrameReader reader(in);
        SampleCursor cursor(reader);
        Output list("-", false);
        int64_t saved = 0;
        std::vector<std::string> classes;
        std::vector<bool> listed;  // classes with a line; the others are declared at the end
        TargetKind kind = TargetKind::none;
        Palette palette;
        while ((max_samples == 0 || saved < max_samples) && cursor.next()) {
            const Frame& f = cursor.frame();
            const Tensor* t = f.find(tensor);
            if (!t) throw DataError(cursor.where(), "no tensor \"" + tensor + "\"");
            char name[64];
            std::snprintf(name, sizeof name, "_%03lld_%06lld.", (long long)f.meta_int("epoch", 0),
                          (long long)(f.meta_int("index", saved - cursor.row()) + cursor.row()));
            std::string path = dir + "/" + prefix + name + format;
            try {
                save_picture(tensor_picture(*t, cursor.row()), path, format);
            } catch (const DataError& e) {
                throw DataError(cursor.where(), e.what());
            }
            ListEntry entry = ListEntry::unlabelled(path);
            const Tensor* y = f.find("y");
            const Tensor* w = f.find("w");
            const int64_t row = cursor.row();
            auto mode = f.metadata.find("class_mode");
            const std::string class_mode = mode == f.metadata.end() ? "" : mode->second;
            const bool columns = y && y->dtype == DType::F32 && y->shape.size() == 2;
            if (row == 0) {
                classes = f.classes();
                listed.resize(std::max(listed.size(), classes.size()), false);
            }
            auto name_of = [&](int32_t c) {
                if (size_t(c) < listed.size()) listed[size_t(c)] = true;
                return size_t(c) < classes.size() ? classes[size_t(c)] : std::to_string(c);
            };
            std::string mask_path;  // a segmentation pair: the mask beside its image, as a palette PNG
            if (tensor == "x" && is_mask_frame(f)) {
                mask_path = dir + "/" + prefix + name + "mask.png";
                try {
                    if (row == 0) palette = Palette::of(f);  // once a frame, not once a mask
                    const int64_t pixels = y->shape[1] * y->shape[2];
                    save_mask_png(y->values<uint8_t>() + row * pixels, y->shape[1], y->shape[2], palette, mask_path);
                } catch (const DataError& e) {
                    throw DataError(cursor.where(), e.what());
                }
                if (saved == 0)  // every class first: a mask holds indices, not names
                    for (size_t c = 0; c < classes.size(); ++c)
                        list.write(format_list_line(ListEntry::of_class("", int32_t(c), classes[c]), false));
            } else if (y && y->dtype == DType::I32 && y->shape.size() == 1) {
                entry.kind = TargetKind::one_class;
                entry.label = y->values<int32_t>()[row];
                entry.label_name = name_of(entry.label);
            } else if (columns && class_mode == "multi_label") {
                entry.kind = TargetKind::classes;  // the classes shown: columns of the multi-hot row above 0.5
                const float* v = y->values<float>() + row * y->shape[1];
                for (int32_t c = 0; c < int32_t(y->shape[1]); ++c)
                    if (v[c] > 0.5f) entry.classes.emplace_back(c, name_of(c));
            } else if (columns && class_mode == "raw") {
                entry.kind = TargetKind::numbers;
                const float* v = y->values<float>() + row * y->shape[1];
                for (int64_t c = 0; c < y->shape[1]; ++c) entry.numbers.push_back(list_number(v[c]));
                if (saved == 0 && f.metadata.count("targets")) {  // the columns' names, first
                    ListEntry names;
                    names.target_names = parse_json_list(f.metadata.at("targets"), "metadata \"targets\"");
                    list.write(format_list_line(names, false));
                }
            }
            if (w && w->dtype == DType::F32 && w->shape.size() == 1) {
                entry.weighted = true;
                entry.weight = list_number(w->values<float>()[row]);
            }
            if (kind == TargetKind::none) kind = entry.kind;
            list.write(mask_path.empty() ? format_list_line(entry, false) : mask_list_line(path, mask_path, entry.weighted, entry.weight));
            ++saved;
        }
        // A class with no image saved keeps its name and index in the list (imglist's declaration).
        if (saved > 0 && (kind == TargetKind::one_class || kind == TargetKind::classes))
            for (size_t c = 0; c < classes.size(); ++c)
                if (!listed[c]) list.write(format_list_line(ListEntry::of_class("", int32_t(c), classes[c]), false));
        list.commit();
        app.note("imgsave: wrote " + std::to_string(saved) + " images to " + dir);
        drain_rest(in, cursor.frame());  // --max: the producer ends normally
        return 0;
    });
}
