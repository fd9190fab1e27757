// imgprep: list lines in, a batch stream out. Decodes, orients, converts and
// resizes every image of the list (lib/image), epoch after epoch.
#include <cmath>
#include <cstring>

#include <nlohmann/json.hpp>

#include "augment/options.hpp"
#include "cli/app.hpp"
#include "cli/error.hpp"
#include "cli/io.hpp"
#include "cli/progress.hpp"
#include "cli/random.hpp"
#include "image/label_map.hpp"
#include "image/source.hpp"
#include "list/list.hpp"
#include "stream/epoch.hpp"
#include "stream/frame.hpp"
#include "stream/writer.hpp"

using namespace imgpipe;

namespace {
std::string rate(int64_t images, double seconds) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "%lld images in %.1fs (%.0f images/s)", (long long)images, seconds,
                  seconds > 0 ? images / seconds : 0.0);
    return buf;
}
}  // namespace

int main(int argc, char** argv) {
    App app("imgprep", "Decode, orient, convert and resize the images of a list into a batch stream");
    app.add_allow_skipped_option();
    app.add_seed_option();
    app.add_threads_option();
    std::string list_path = "-", output = "-", size = "256x256", fit = "stretch", interpolation = "bilinear",
                color = "rgb", background = "black", dtype = "u8", rescale, shard, class_mode = "list";
    bool nul = false, shuffle = false, keep_going = false, vips_only = false;
    int64_t epochs = 1, batch = 1;
    PrepOptions prep;
    auto& cli = app.cli();
    cli.add_option("list", list_path, "List lines (PATH[<TAB>target][<TAB>w=W]); - or none: stdin");
    cli.add_flag("-0,--null", nul, "List records end with NUL, not newline");
    cli.add_option("--shard", shard, "Take only shard K of N of the list (images K, K+N, K+2N...; K from 1), as imglist --shard");
    cli.add_option("-s,--size", size, "Output WIDTHxHEIGHT (default 256x256, as Keras' target_size)");
    cli.add_option("--fit", fit, "stretch | crop (centre crop to the aspect ratio) | pad");
    cli.add_option("--interpolation", interpolation, "nearest | bilinear (default) | bicubic | lanczos | area");
    cli.add_option("--color", color, "rgb (default) | grayscale | rgba");
    cli.add_option("--background", background, "Colour alpha is flattened on and padding is filled with (black)");
    cli.add_option("--dtype", dtype, "u8 (default) | f32");
    cli.add_option("--rescale", rescale, "Multiply pixels by this factor (e.g. 1/255); implies --dtype f32");
    cli.add_option("--epochs", epochs, "Passes over the list (0: forever; default 1)")->check(CLI::NonNegativeNumber);
    cli.add_flag("--shuffle", shuffle, "A fresh permutation of the list for each epoch (see --seed)");
    cli.add_option("-b,--batch-size,--batch", batch, "Samples per frame (default 1)")->check(CLI::PositiveNumber);
    cli.add_flag("-k,--keep-going", keep_going, "Skip bad files (warning for each), exit 65 at the end");
    cli.add_option("--max-pixels", prep.max_pixels, "Refuse images declaring more pixels (0: no limit)");
    bool no_shrink_on_load = false;
    cli.add_flag("--vips-only", vips_only, "Decode every format with libvips (no TurboJPEG/libspng fast paths)");
    cli.add_flag("--skip-damaged-chunks", prep.skip_damaged_chunks,
                 "Decode PNGs whose ancillary chunks (colour profile, text...) are damaged, without them, with a warning (default: refuse them, as Pillow does)");
    cli.add_flag("--no-shrink-on-load", no_shrink_on_load,
                 "Decode every image at full size before resizing (no JPEG DCT scaling, no box pre-shrink): the bytes of Keras' load_img, slower");
    cli.add_option("--class-mode", class_mode,
                   "list (default: y as the list lines say) | input (y = the image itself, as Keras' class_mode='input'; the list's targets are ignored)")
        ->check(CLI::IsMember({"list", "input"}));
    cli.add_option("-o,--output", output, "Write the stream to FILE (atomically) instead of stdout");
    AugmentOptions augment_options;
    augment_options.add_to(cli);
    std::string log_transforms;
    cli.add_option("--log-transforms", log_transforms,
                   "Write each sample's drawn transform to FILE, one JSON line each, in Keras' apply_transform names")
        ->group("Augmentation (Keras ImageDataGenerator)");
    const char* seg = "Segmentation masks (mask= lines)";
    int ignore_index = -1, mask_fill = -1;
    std::string mask_colors;
    cli.add_option("--ignore-index", ignore_index, "A mask value that means no label (255 by convention); not a class")
        ->check(CLI::Range(0, 255))
        ->group(seg);
    cli.add_option("--mask-fill", mask_fill, "The mask's value where padding or a transform leaves no source pixel (default: --ignore-index, else 0)")
        ->check(CLI::Range(0, 255))
        ->group(seg);
    cli.add_option("--mask-colors", mask_colors, "JSON colour map for RGB masks: {\"classes\": [{\"name\": N, \"color\": [r, g, b]}...], \"ignore\": [[r, g, b]]}")
        ->group(seg);

    return app.main(argc, argv, [&] {
        parse_size(size, prep.width, prep.height);
        prep.fit = parse_fit(fit);
        prep.interpolation = parse_interpolation(interpolation);
        prep.color = parse_color_mode(color);
        prep.background = parse_color(background);
        prep.fast_paths = !vips_only;
        prep.warn = [&app](const std::string& where, const std::string& message) { app.warn(where, message); };
        prep.shrink_on_load = !no_shrink_on_load;
        if (dtype != "u8" && dtype != "f32") throw UsageError("--dtype: \"" + dtype + "\" is not u8 or f32");
        if (dtype == "u8" && !rescale.empty() && cli.count("--dtype")) throw UsageError("--rescale makes floats: it cannot go with --dtype u8");
        const float scale = rescale.empty() ? 1.0f : float(parse_rescale(rescale));
        const Augmentation augmentation = augment_options.augmentation();
        const Standardization standardization = augment_options.standardization(prep.channels(), scale);
        if (dtype == "u8" && standardization.active() && cli.count("--dtype"))
            throw UsageError("normalization makes floats: it cannot go with --dtype u8");
        const bool floats = dtype == "f32" || !rescale.empty() || standardization.active();
        const Shard the_shard = shard.empty() ? Shard{} : parse_shard(shard);

        Input in(list_path);
        ImageList list = read_list(in, nul);
        // A number no F32 holds is refused before anything is written, not at its frame.
        for (const ListEntry& e : list.entries) {
            for (double v : e.numbers) to_f32(v, in.name() + ": " + e.path);
            to_f32(e.weight, in.name() + ": " + e.path);
        }
        const size_t listed = list.entries.size();
        keep_shard(list, the_shard);
        if (list.entries.empty())
            throw DataError(in.name(), listed ? "no images in shard " + shard + " (the list holds " + std::to_string(listed) + ")"
                                              : "no images in the list");
        // Segmentation pairs: the masks' classes are the list's declared ones.
        std::shared_ptr<MaskOptions> masks;
        const bool pairs = list.kind == TargetKind::mask && class_mode != "input";
        if (!pairs && (ignore_index >= 0 || mask_fill >= 0 || !mask_colors.empty()))
            throw UsageError(std::string(cli.count("--ignore-index") ? "--ignore-index" : cli.count("--mask-fill") ? "--mask-fill" : "--mask-colors") +
                             " is for masks: the list has " + target_kind_name(list.kind) +
                             (class_mode == "input" ? " (--class-mode input ignores them)" : ""));
        if (pairs) {
            masks = std::make_shared<MaskOptions>();
            masks->classes = int(list.classes.size());
            if (masks->classes == 0)
                throw DataError(in.name(), "mask= lines need their classes declared (<TAB>INDEX<TAB>NAME lines: imglist --masks "
                                           "DIR --classes a,b,... or --mask-colors FILE)");
            if (masks->classes > 256) throw DataError(in.name(), "a mask holds 8-bit indices: at most 256 classes, the list declares " +
                                                                   std::to_string(masks->classes));
            masks->ignore_index = ignore_index;
            masks->fill = uint8_t(mask_fill >= 0 ? mask_fill : ignore_index >= 0 ? ignore_index : 0);
            if (mask_fill >= 0 && mask_fill >= masks->classes && mask_fill != ignore_index)
                throw UsageError("--mask-fill " + std::to_string(mask_fill) + " is neither a class (0-" +
                                 std::to_string(masks->classes - 1) + ") nor --ignore-index");
            if (!mask_colors.empty()) {
                auto map = std::make_shared<ColorMap>(ColorMap::read(mask_colors));
                if (map->names != list.classes)
                    throw DataError(mask_colors, "names the classes " + json_list(map->names) + ", the list " +
                                                     json_list(list.classes) + " (in index order)");
                masks->colors = map;
            }
            masks->validate();
        }
        Output out(output, true);
        std::unique_ptr<Output> transforms;
        if (!log_transforms.empty()) transforms.reset(new Output(log_transforms, true));

        SourceOptions so;
        so.masks = masks;
        so.threads = app.thread_count();
        so.epochs = epochs;
        so.shuffle = shuffle;
        so.seed = app.seed_given ? app.seed : fresh_seed();
        so.keep_going = keep_going;
        if (augmentation.active())
            so.after_decode = [&, seed = so.seed](uint8_t* pixels, uint8_t* mask, int64_t epoch, int64_t position) {
                thread_local std::vector<float> scratch;
                thread_local std::vector<uint8_t> mask_scratch;
                // Drawn once: the mask gets the image's geometry.
                Transform t = draw_transform(augmentation, prep.height, prep.width, seed, uint64_t(epoch), uint64_t(position));
                apply_transform(augmentation, t, pixels, prep.height, prep.width, prep.channels(), scratch);
                if (mask) apply_mask_transform(augmentation, t, mask, prep.height, prep.width, masks->fill, mask_scratch);
            };
        SampleSource source(list, prep, so, [&](const Error& e) { app.warn(e.where(), e.what()); });

        // A table's rows whose file is missing ("PATH<TAB>missing", imglist --table --keep-going)
        // belong to every epoch, recorded as skipped, so that every reader counts them.
        const int64_t n = int64_t(list.entries.size()), missing = int64_t(list.missing.size()), c = prep.channels();
        for (const ListEntry& m : list.missing) app.warn(m.path, "missing (a table's row with no file): recorded as skipped");
        const size_t bytes = prep.sample_bytes();
        auto make_x = [&](const std::vector<uint8_t>& pixels, int64_t k) {
            Tensor x("x", floats ? DType::F32 : DType::U8, {k, prep.height, prep.width, c});
            if (!floats) {
                if (k) std::memcpy(x.data.data(), pixels.data(), pixels.size());
                return x;
            }
            to_floats(pixels.data(), x.values<float>(), k, size_t(prep.width) * size_t(prep.height), int(c), scale,
                      standardization);
            return x;
        };
        // y as the list lines say (doc/design.md, "List lines"), or the image (input);
        // w from w= whatever y is, as Keras' weight_col goes with every class_mode.
        TargetLayout layout;
        layout.weighted = list.weighted;
        std::string mode = "none";
        if (class_mode == "input") layout.y = TargetLayout::Y::image, mode = "input";
        else if (list.kind == TargetKind::one_class) layout.y = TargetLayout::Y::classes, mode = "sparse";
        else if (list.kind == TargetKind::classes)
            layout.y = TargetLayout::Y::multi_hot, layout.columns = int64_t(list.classes.size()), mode = "multi_label";
        else if (list.kind == TargetKind::numbers)
            layout.y = TargetLayout::Y::numbers, layout.columns = int64_t(list.targets), mode = "raw";
        else if (pairs)
            layout.y = TargetLayout::Y::mask, layout.height = prep.height, layout.width = prep.width, mode = "mask";
        std::map<std::string, std::string> metadata = {{"format", kStreamFormat},
                                                       {"class_mode", mode},
                                                       {"classes", json_list(list.classes)},
                                                       {"epoch_size", std::to_string(n + missing)},
                                                       {"epochs", std::to_string(epochs)}};
        if (mode == "raw") metadata["targets"] = json_list(list.target_names);
        if (pairs && masks->ignore_index >= 0) metadata["ignore_index"] = std::to_string(masks->ignore_index);
        if (pairs && masks->colors) {
            nlohmann::json colors = nlohmann::json::array();
            for (const Color& c : masks->colors->colors) colors.push_back({c[0], c[1], c[2]});
            metadata["colors"] = colors.dump();
        }
        // Shards' streams joined with cat read as one epoch of the whole list (batchstream(5)).
        if (!shard.empty()) metadata[kShardKey] = std::to_string(the_shard.k) + "/" + std::to_string(the_shard.n);
        EpochWriter writer(out, metadata, batch, layout, make_x);
        Progress progress(app.quiet);

        auto begin_epoch = [&](int64_t e) {
            if (e == writer.epoch()) return;
            if (writer.epoch() >= 0) {  // the line for the epoch that ends
                std::string what = epochs == 1 ? "" : "epoch " + std::to_string(writer.epoch() + 1) +
                                                          (epochs ? "/" + std::to_string(epochs) : "") + ": ";
                writer.flush();
                progress.line("imgprep: " + what + rate(writer.in_epoch(), progress.elapsed()));
                progress.restart_clock();
            }
            writer.begin_epoch(e);
            if (e >= 0)
                for (const ListEntry& m : list.missing) writer.skip(m.path);  // they ride on the epoch's first frame
        };
        auto record_skips = [&]() {
            for (const Sample& bad : source.take_skipped()) {
                begin_epoch(bad.epoch);
                writer.skip(list.entries[bad.entry].path);
            }
        };
        Sample s;
        for (;;) {
            try {
                if (!source.next(s)) break;
            } catch (const Error&) {
                writer.flush();  // the good images before a bad one are not lost
                out.flush();
                throw;
            }
            record_skips();
            begin_epoch(s.epoch);
            const ListEntry& e = list.entries[s.entry];
            SampleTarget target;
            target.label = e.label;
            for (const auto& c : e.classes) target.classes.push_back(c.first);
            target.numbers = e.numbers;
            target.weight = e.weight;
            target.mask = s.mask;
            writer.add(e.path, target, s.pixels, bytes);
            if (transforms) {  // drawn again (cheap, and the same numbers): in output order whatever -j
                const Transform t = draw_transform(augmentation, prep.height, prep.width, so.seed, uint64_t(s.epoch), uint64_t(s.position));
                nlohmann::json j = {{"path", e.path}, {"epoch", s.epoch}, {"index", s.position}, {"theta", t.theta},
                                    {"tx", t.tx}, {"ty", t.ty}, {"shear", t.shear}, {"zx", t.zx}, {"zy", t.zy},
                                    {"flip_horizontal", t.flip_horizontal}, {"flip_vertical", t.flip_vertical},
                                    {"channel_shift_intensity", t.channel_shift},
                                    {"brightness", t.brightness ? nlohmann::json(t.brightness) : nlohmann::json(nullptr)}};
                transforms->write(j.dump() + "\n");
            }
            progress.bar(s.position + 1, n);
        }
        record_skips();
        begin_epoch(-1);  // ends the last epoch
        const int64_t emitted = writer.written();
        out.commit();
        if (transforms) transforms->commit();
        if (source.skipped() > 0 || missing > 0) {
            std::string what;
            if (source.skipped() > 0) what = std::to_string(source.skipped()) + " bad file" + (source.skipped() > 1 ? "s" : "");
            if (missing > 0)
                what += (what.empty() ? "" : " and ") + std::to_string(missing) + " missing file" + (missing > 1 ? "s" : "") +
                        " (of the table)";
            app.warn("", what + " skipped, " + std::to_string(emitted) + " images written" +
                             (app.allow_skipped ? "" : "; --allow-skipped accepts them"));
            return app.allow_skipped ? int(kOk) : int(kDataErr);
        }
        return int(kOk);
    });
}
