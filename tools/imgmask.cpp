// imgmask: mask part of each image; x becomes the masked image, y the original.
#include <memory>

#include "cli/app.hpp"
#include "cli/error.hpp"
#include "cli/io.hpp"
#include "cli/random.hpp"
#include "mask/mask.hpp"
#include "stream/frame.hpp"
#include "view/mask.hpp"

using namespace imgpipe;

int main(int argc, char** argv) {
    App app("imgmask", "Mask part of each image of a batch stream: x = masked image, y = original (the lecture's face generator)");
    app.add_allow_skipped_option();
    app.add_seed_option();
    std::string mask_path, box, output, input = "-";
    int threshold = 0, boxes = 1;
    double fill = 0;
    bool invert = false, centred = false, emit_mask = false, keep_labels = false;
    CLI::App& cli = app.cli();
    cli.add_option("stream", input, "Input stream (default: stdin)");
    auto* mask_opt = cli.add_option("--mask", mask_path, "Mask image: pixels where it is 0 are masked");
    cli.add_option("--threshold", threshold, "Mask pixels <= T are masked (default 0; 127 suits JPEG masks)")->check(CLI::Range(0, 254));
    cli.add_flag("--invert", invert, "Mask where the mask image is bright instead");
    auto* box_opt = cli.add_option("--random-box", box, "Mask a random box of HxW pixels (or a size range HxW-HxW)");
    cli.add_option("--random-boxes", boxes, "Boxes per sample (default 1)")->check(CLI::PositiveNumber);
    cli.add_flag("--centred,--centered", centred, "Centre the boxes instead of placing them uniformly");
    cli.add_option("--fill", fill, "Value of masked pixels, in the stream's units (default 0)");
    cli.add_flag("--emit-mask", emit_mask, "Add the mask as tensor \"mask\" (U8 [n,h,w,1], 1 = kept)");
    cli.add_flag("--keep-labels", keep_labels, "Keep y (mask as augmentation for a classifier)");
    cli.add_option("-o,--output", output, "Write to FILE (default: stdout)");
    mask_opt->excludes(box_opt);

    return app.main(argc, argv, [&] {
        if (mask_path.empty() && box.empty()) throw UsageError("give --mask FILE or --random-box HxW");
        std::unique_ptr<MaskImage> mask;
        if (!mask_path.empty()) mask = std::make_unique<MaskImage>(mask_path, threshold, invert);
        BoxOptions box_options;
        if (!box.empty()) {
            box_options = parse_box_size(box);
            box_options.count = boxes;
            box_options.centred = centred;
        }
        uint64_t seed = app.seed_given ? app.seed : fresh_seed();
        Input in(input);
        FrameReader reader(in);
        Output out(output, true);
        Frame frame;
        int64_t samples = 0;
        bool told_size = false;
        while (reader.read(frame)) {
            Tensor* x = frame.find("x");
            if (!x || x->shape.size() != 4) throw DataError(reader.where(), "no image tensor x [n,h,w,c] to mask");
            int64_t n = x->shape[0], h = x->shape[1], w = x->shape[2];
            if (mask && !told_size && (mask->height() != h || mask->width() != w)) {
                app.note("imgmask: " + mask_path + ": " + std::to_string(mask->width()) + "x" + std::to_string(mask->height()) +
                         " mask resized (nearest) to the images' " + std::to_string(w) + "x" + std::to_string(h));
                told_size = true;
            }
            // A segmentation mask stays y: the masked image still has its classes to learn.
            const bool keep_y = keep_labels || is_mask_frame(frame);
            // The original (the new y) and the mask tensor only when they are written.
            Tensor original = keep_y ? Tensor() : *x;
            Tensor mask_tensor = emit_mask ? Tensor("mask", DType::U8, {n, h, w, 1}) : Tensor();
            int64_t epoch = frame.meta_int("epoch", 0), index = frame.meta_int("index", samples);
            for (int64_t i = 0; i < n; ++i) {
                std::vector<uint8_t> drawn;
                const std::vector<uint8_t>& keep =
                    mask ? mask->at_size(h, w) : (drawn = draw_boxes(box_options, h, w, seed, uint64_t(epoch), uint64_t(index + i)));
                try {
                    apply_mask(*x, i, keep, fill);
                } catch (const DataError& e) {
                    throw DataError(reader.where(), e.what());
                }
                if (emit_mask) std::copy(keep.begin(), keep.end(), mask_tensor.data.begin() + ptrdiff_t(i * h * w));
            }
            if (!keep_y) {
                original.name = "y";
                if (Tensor* y = frame.find("y")) *y = std::move(original);
                else frame.tensors.push_back(std::move(original));
                frame.metadata["class_mode"] = "input";
                frame.metadata.erase("targets");  // the numbers' names went with them; w stays with its samples
            }
            if (emit_mask) frame.tensors.push_back(std::move(mask_tensor));
            write_frame(out, frame);
            samples += n;
        }
        out.commit();
        app.note("imgmask: masked " + std::to_string(samples) + " images");
        return 0;
    });
}
