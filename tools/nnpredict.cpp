// nnpredict: a trained model's predictions for every sample of a batch stream,
// in stream order, joined to the source paths (Keras' predict_generator with
// shuffle=False, without its ordering pitfalls); on N ranks, each predicts its
// part and rank 0 writes them all. See man/man1/nnpredict.1.
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "cli/app.hpp"
#include "cli/error.hpp"
#include "cli/io.hpp"
#include "cli/progress.hpp"
#include "nn/collective.hpp"
#include "nn/engine.hpp"
#include "nn/report.hpp"
#include "stream/frame.hpp"
#include "view/mask.hpp"
#include "view/picture.hpp"

using namespace imgpipe;

int main(int argc, char** argv) {
    App app("nnpredict", "Predicts with a trained model: one line per sample, or a batch stream of outputs.");
    app.add_allow_skipped_option();
    app.add_threads_option();
    std::string model_path, weights, input = "-", output = "-", device = "cpu", format_name = "tsv", profile, masks_dir,
                mask_size = "model";
    int top_k = 1;
    int64_t steps = 0;
    double threshold = 0.5;
    auto& cli = app.cli();
    cli.add_option("-m,--model", model_path, "Model file written by nntrain, or a model trained in Keras (.h5, .keras, "
                                             "TF.js model.json)")->required();
    cli.add_option("--weights", weights, "The model's weights from FILE (a Keras .h5 or .weights.h5, a .keras, a TF.js model.json), "
                                         "--model being its architecture (JSON)");
    cli.add_option("stream", input, "Batch stream (default: stdin); labels, if any, are ignored");
    cli.add_option("-o,--output", output, "Write to FILE (atomically) instead of stdout");
    cli.add_option("-f,--format", format_name, "tsv, json (one object per line) or stream (outputs as a batch stream)")
        ->check(CLI::IsMember({"tsv", "json", "stream"}));
    cli.add_option("-k,--top-k", top_k, "Print the K most probable classes (classifiers)")->check(CLI::PositiveNumber);
    auto* threshold_option =
        cli.add_option("--threshold", threshold, "Multi-label: print the classes whose probability is above X (default 0.5)")
            ->check(CLI::Range(0.0, 1.0));
    cli.add_option("--steps", steps, "Predict the first N batches (default: one epoch, or the whole stream)")
        ->check(CLI::PositiveNumber);
    cli.add_option("--masks", masks_dir, "Segmentation: write each predicted mask to DIR as a palette PNG (named from the "
                                         "sample's path) and print PATH<TAB>mask=FILE list lines");
    auto* mask_size_option = cli.add_option("--mask-size", mask_size, "--masks at the model's size (model, default) or resized "
                                                                      "(nearest) to each image file's size (original)")
                                 ->check(CLI::IsMember({"model", "original"}));
    cli.add_option("--device", device, "cpu or cuda")->check(CLI::IsMember({"cpu", "cuda"}));
    cli.add_option("--profile", profile, "Write a Chrome trace of the engine's work (each layer's forward pass) to FILE (rank 0)");
    nn::PlacementOptions place;
    nn::CollectiveOptions together;
    nn::add_world_options(cli, place, together);

    return app.main(argc, argv, [&] {
        nn::PredictFormat format;
        nn::parse_predict_format(format_name, format);
        const bool top_k_given = cli.count("--top-k") > 0;
        if (top_k_given && format == nn::PredictFormat::Stream)
            throw UsageError("--top-k: --format stream writes every output value, not classes; -k is for tsv and json");
        if (threshold_option->count() && format == nn::PredictFormat::Stream)
            throw UsageError("--threshold: --format stream writes every probability, not classes; --threshold is for tsv and json");
        std::unique_ptr<nn::Collective> world = nn::start_world(app, place, together, device);
        const bool root = world->rank() == 0;
        return world->run([&] {
            auto model = nn::Model::load(model_path, {}, weights);
            model->to_device(device, world->local_rank());
            nn::Digest same;  // what every rank writes must read as one output
            std::string what = std::to_string(model->fingerprint()) + " " + std::to_string(steps) + " " + format_name + " " +
                               std::to_string(top_k) + " " + std::to_string(threshold) + " " + masks_dir + " " + mask_size;
            same.add(what.data(), what.size());
            if (!world->same_everywhere(same.value()))
                throw UsageError("the ranks were started with different models or options: --model, --steps, --format, "
                                 "--top-k, --threshold, --masks and --mask-size must be the same on every rank");
            nn::OutputKind kind = nn::output_kind(model->loss_name(), model->output_shape(), !model->classes().empty());
            auto classes = nn::class_names(model->classes(), nn::class_count(kind, model->output_shape()));
            const std::string model_kind = nn::describe(kind, model->loss_name(), model->output_shape());
            if (threshold_option->count() && kind != nn::OutputKind::MultiLabel)
                throw UsageError("--threshold is for a multi-label model; " + model_path + " is " + model_kind);
            if (top_k_given && kind == nn::OutputKind::MultiLabel)
                throw UsageError("--top-k: " + model_path + " is " + model_kind + "; its lines hold the classes above "
                                 "--threshold and every class's probability");
            if (top_k_given && classes.empty())
                throw UsageError("--top-k: " + model_path + " is not a classifier (its output is " +
                                 shape_text(model->output_shape()) + " values per sample, not class probabilities); -k "
                                 "is for classifiers");
            // Segmentation: the mask of each sample, as files (--masks) and as y of the stream.
            const std::vector<int64_t>& shape = model->output_shape();
            if (mask_size_option->count() && masks_dir.empty()) throw UsageError("--mask-size is for --masks DIR");
            if (!masks_dir.empty() && shape.size() != 3)
                throw UsageError("--masks: " + model_path + " is " + model_kind + "; its output is not a mask [h,w,C]");
            if (!masks_dir.empty() && format == nn::PredictFormat::Json)
                throw UsageError("--masks: the masks' list lines are the output; -f json has no place for them");
            const bool segmenting = !masks_dir.empty() || kind == nn::OutputKind::Segmentation;
            std::vector<std::string> mask_classes;
            if (segmenting) mask_classes = nn::class_names(model->classes(), std::max<int64_t>(2, shape[2]));
            std::unique_ptr<MaskWriter> masks;
            if (!masks_dir.empty()) {
                start_vips("nnpredict");  // --mask-size original reads the images' headers
                if (::mkdir(masks_dir.c_str(), 0777) != 0 && errno != EEXIST)
                    throw CantCreateError(masks_dir, std::string("cannot create folder: ") + std::strerror(errno));
                masks = std::make_unique<MaskWriter>(masks_dir, mask_size == "original");
            }
            if (segmenting && !masks && format != nn::PredictFormat::Stream)
                throw UsageError(model_path + " segments (its output is " + shape_text(shape) + " per sample under " +
                                 model->loss_name() + "): give --masks DIR for mask files and their list lines, or "
                                 "--format stream");
            // --masks prints list lines, not the writer's: it only frames the stream.
            nn::PredictionWriter writer(masks ? nn::PredictFormat::Stream : format, kind, shape, classes, top_k, threshold);

            nn::EvalStream in(input, steps, *world);
            std::unique_ptr<Output> out;
            if (root) out = std::make_unique<Output>(output, format == nn::PredictFormat::Stream);  // only rank 0 writes
            Progress progress(app.quiet || !root);
            if (in.shared()) progress.line(in.sharing());
            std::vector<double> done = {0, 0};  // samples and batches this rank predicted
            std::unique_ptr<nn::Profile> profiling = root ? nn::start_profile(profile) : nullptr;
            Frame batch;
            for (;;) {
                // This rank's piece of the output: the batch's lines, or its frame of outputs.
                std::string piece;
                bool got = in.next(batch);
                if (got) {
                    model->check_batch(batch, in.where(), false);
                    Tensor outputs = model->predict_batch(batch);
                    done[0] += double(batch.samples());
                    ++done[1];
                    try {
                        Tensor mask = segmenting ? predicted_mask(outputs) : Tensor();
                        std::string mask_lines = masks ? masks->write_batch(batch, mask) : "";
                        if (format == nn::PredictFormat::Stream) {
                            Frame frame = writer.frame(batch, std::move(outputs));
                            if (segmenting) set_predicted_mask(frame, std::move(mask), mask_classes);
                            std::vector<uint8_t> bytes = encode_frame(frame);
                            piece.assign(bytes.begin(), bytes.end());
                        } else if (masks) {
                            piece = std::move(mask_lines);
                        } else {
                            writer.set_position(in.position());
                            piece = writer.lines(batch, outputs);
                        }
                    } catch (const DataError& e) {
                        throw DataError(in.where(), e.what());
                    }
                }
                if (world->size() == 1) {
                    if (!got) break;
                    out->write(piece);
                } else {
                    // Each round every rank with a batch left adds one, and rank 0
                    // writes them in rank order: of a shared file, the stream's order.
                    std::vector<double> left = {got ? 1.0 : 0.0};
                    world->sum(left);
                    if (left[0] == 0) break;
                    for (const std::string& p : world->gather(piece)) out->write(p);
                }
                progress.bar(in.batches(), in.expected());
            }
            in.finish();
            world->sum(done);
            if (done[0] == 0) throw DataError(in.name(), "no samples to predict");
            if (root) out->commit();
            if (profiling) profiling->save();
            progress.line(app.tool() + ": " + std::to_string(int64_t(done[0])) + " samples in " +
                          std::to_string(int64_t(done[1])) + " batches" +
                          (world->size() > 1 ? " on " + std::to_string(world->size()) + " ranks" : "") + " - " +
                          format_duration(progress.elapsed()));
            return 0;
        });
    });
}
