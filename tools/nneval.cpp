// nneval: a trained model's loss and metrics on a batch stream (Keras'
// evaluate_generator), with the confusion matrix and per-class accuracy for
// classifiers, or the regression or multi-label statistics (and their
// picture); on N ranks, each evaluates its part and rank 0 reports the
// whole. See man/man1/nneval.1.
#include <cmath>
#include <cstdio>
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
#include "view/chart.hpp"
#include "view/picture.hpp"

using namespace imgpipe;

namespace {

// The whole evaluation from every rank's part: sums of the scores, the
// confusion counts and the sample and batch counts; the rows the
// regression and multi-label statistics read, on rank 0.
void add_up(nn::Collective& world, nn::Evaluation& eval, const std::vector<std::string>& score_names) {
    if (world.size() == 1) return;
    std::vector<std::string> states = world.gather(eval.state());
    for (size_t r = 1; r < states.size(); ++r) eval.merge(states[r]);
    std::vector<double> v = eval.scores.totals(score_names), counts = eval.confusion.totals();
    size_t n = v.size();
    v.insert(v.end(), counts.begin(), counts.end());
    v.push_back(double(eval.samples));
    v.push_back(double(eval.batches));
    v.push_back(eval.classification ? 0 : 1);  // a rank whose targets are not class labels
    world.sum(v);
    eval.scores.set_totals(score_names, std::vector<double>(v.begin(), v.begin() + ptrdiff_t(n)));
    eval.confusion.set_totals(std::vector<double>(v.begin() + ptrdiff_t(n), v.end() - 3));
    eval.samples = int64_t(v[v.size() - 3]);
    eval.batches = int64_t(v[v.size() - 2]);
    eval.classification = eval.classification && v.back() == 0;
}

// nneval --plot: predicted against true per target (regression), or
// precision, recall and F1 per class (multi-label).
void plot(const nn::Evaluation& eval, const std::string& path) {
    std::string svg;
    if (eval.regression) {
        const nn::SampleRows& rows = eval.numbers.rows();
        std::vector<Scatter> panels;
        for (int64_t c = 0; c < rows.width; ++c) {
            Scatter s;
            auto stats = eval.numbers.column(c);
            char title[160];  // R2 of a constant column is undefined: "-", as in the report
            std::snprintf(title, sizeof title, "%s: MAE %.4g, R2 %.4f", eval.numbers.targets()[size_t(c)].c_str(), stats.mae, stats.r2);
            s.title = std::isnan(stats.r2) ? std::string(title, std::strstr(title, ", R2") - title) + ", R2 -" : title;
            for (int64_t i = 0; i < rows.rows(); ++i) {
                s.truth.push_back(rows.truth[size_t(i * rows.width + c)]);
                s.predicted.push_back(rows.predicted[size_t(i * rows.width + c)]);
            }
            panels.push_back(std::move(s));
        }
        svg = scatter_svg(panels, 420, 420);
    } else {
        std::vector<std::vector<double>> values(3);
        for (size_t c = 0; c < eval.labels.classes().size(); ++c) {
            auto s = eval.labels.per_class(int64_t(c));
            values[0].push_back(s.precision), values[1].push_back(s.recall), values[2].push_back(s.f1);
        }
        char title[96];
        std::snprintf(title, sizeof title, "per class, predicted above %g", eval.labels.threshold());
        svg = bars_svg(title, eval.labels.classes(), {"precision", "recall", "F1"}, values, 320);
    }
    save_chart_png(svg, path);
}

}  // namespace

int main(int argc, char** argv) {
    App app("nneval", "Evaluates a trained model on a batch stream: loss, metrics, confusion matrix.");
    app.add_allow_skipped_option();
    app.add_threads_option();
    std::string model_path, weights, input = "-", output = "-", device = "cpu", profile, plot_path;
    bool as_json = false;
    double min_accuracy = -1, threshold = 0.5;
    int64_t steps = 0;
    auto& cli = app.cli();
    cli.add_option("-m,--model", model_path, "Model file written by nntrain, or a model trained in Keras (.h5, .keras, "
                                             "TF.js model.json)")->required();
    cli.add_option("--weights", weights, "The model's weights from FILE (a Keras .h5 or .weights.h5, a .keras, a TF.js model.json), "
                                         "--model being its architecture (JSON)");
    cli.add_option("stream", input, "Batch stream with targets (default: stdin)");
    cli.add_option("-o,--output", output, "Write the report to FILE (atomically) instead of stdout");
    cli.add_flag("--json", as_json, "Print one JSON object instead of text");
    cli.add_option("--min-accuracy", min_accuracy, "Exit 1 if the accuracy is below X (0 to 1)")->check(CLI::Range(0.0, 1.0));
    auto* threshold_option = cli.add_option("--threshold", threshold,
                                            "Multi-label: a class is predicted when its probability is above X (default 0.5)")
                                 ->check(CLI::Range(0.0, 1.0));
    cli.add_option("--plot", plot_path, "Draw the report as a PNG to FILE: predicted against true (regression), "
                                        "precision/recall/F1 per class (multi-label)");
    cli.add_option("--steps", steps, "Evaluate the first N batches (default: one epoch, or the whole stream)")
        ->check(CLI::PositiveNumber);
    cli.add_option("--device", device, "cpu or cuda")->check(CLI::IsMember({"cpu", "cuda"}));
    cli.add_option("--profile", profile, "Write a Chrome trace of the engine's work (each layer's forward pass) to FILE (rank 0)");
    nn::PlacementOptions place;
    nn::CollectiveOptions together;
    nn::add_world_options(cli, place, together);

    return app.main(argc, argv, [&] {
        std::unique_ptr<nn::Collective> world = nn::start_world(app, place, together, device);
        const bool root = world->rank() == 0;
        return world->run([&] {
            auto model = nn::Model::load(model_path, {}, weights);
            model->to_device(device, world->local_rank());
            nn::Digest same;  // the model and the batches to read: a rank that differs would mix two evaluations
            for (uint64_t v : {uint64_t(model->fingerprint()), uint64_t(steps)}) same.add(&v, sizeof v);
            if (!world->same_everywhere(same.value()))
                throw UsageError("the ranks were started with different models or --steps: every rank must evaluate the same model");
            nn::OutputKind kind = nn::output_kind(model->loss_name(), model->output_shape(), !model->classes().empty());
            int64_t k = nn::class_count(kind, model->output_shape());
            const std::string model_kind = nn::describe(kind, model->loss_name(), model->output_shape());
            if (threshold_option->count() && kind != nn::OutputKind::MultiLabel)
                throw UsageError("--threshold is for a multi-label model; " + model_path + " is " + model_kind);
            if (plot_path == "-") throw UsageError("--plot needs a file: standard output holds the report");
            if (!plot_path.empty() && kind != nn::OutputKind::MultiLabel && kind != nn::OutputKind::Regression)
                throw UsageError("--plot draws regression and multi-label reports; " + model_path + " is " + model_kind);
            nn::Evaluation eval;
            eval.start(kind, nn::class_names(model->classes(), k), threshold);
            bool has_accuracy = kind == nn::OutputKind::Binary || kind == nn::OutputKind::Categorical ||
                                kind == nn::OutputKind::Segmentation;
            std::vector<std::string> score_names = {"loss"};
            for (const auto& m : model->metric_names()) has_accuracy |= m == "accuracy", score_names.push_back(m);
            if (min_accuracy >= 0 && !has_accuracy)
                throw UsageError("--min-accuracy: the model is not a classifier and has no accuracy metric");

            nn::EvalStream in(input, steps, *world);
            std::unique_ptr<Output> out;
            if (root) out = std::make_unique<Output>(output, false);  // only rank 0 reports
            Progress progress(app.quiet || !root);
            if (in.shared()) progress.line(in.sharing());
            std::unique_ptr<nn::Profile> profiling = root ? nn::start_profile(profile) : nullptr;
            Frame batch;
            while (in.next(batch)) {
                const std::string where = in.where();
                nn::check_target_kind(kind, model->loss_name(), model->output_shape(), batch, where);
                nn::align_classes(batch, model->classes(), where);
                model->check_batch(batch, where, true);
                Tensor outputs;  // one forward pass: the scores (weighted by the frame's w), and the report from its outputs
                model->evaluate_batch(batch, eval.scores, eval.wants_outputs() ? &outputs : nullptr);
                if (eval.wants_outputs()) eval.add(batch, outputs, in.position(), where);
                eval.samples += batch.samples();
                ++eval.batches;
                progress.bar(in.batches(), in.expected(), eval.scores.keras_text());
            }
            in.finish();
            add_up(*world, eval, score_names);
            if (eval.batches == 0) throw DataError(in.name(), "no samples to evaluate");
            eval.seconds = progress.elapsed();
            if (root && (eval.classification || eval.multi_label)) {
                std::string note = eval.classification ? eval.confusion.absent_classes_note() : eval.labels.absent_classes_note();
                if (!note.empty()) app.warn(in.name(), note);
            }
            progress.line(app.tool() + ": " + std::to_string(eval.samples) + " samples in " + std::to_string(eval.batches) +
                          " batches" + (world->size() > 1 ? " on " + std::to_string(world->size()) + " ranks" : "") + " - " +
                          format_duration(eval.seconds) + eval.scores.keras_text());
            if (root) {
                if (!plot_path.empty()) {
                    if (!eval.regression && !eval.multi_label)
                        throw DataError(in.name(), "--plot: the stream's targets are class labels, not the numbers the "
                                                   "regression model predicts");
                    start_vips("nneval");
                    plot(eval, plot_path);
                }
                out->write(as_json ? eval.json() : eval.text());
                out->commit();
            }
            if (profiling) profiling->save();
            if (min_accuracy >= 0) {
                double a = eval.accuracy();
                if (std::isnan(a)) throw DataError(in.name(), "--min-accuracy: the stream's targets are not class labels");
                if (a < min_accuracy) {
                    char text[96];
                    std::snprintf(text, sizeof text, "accuracy %.4f is below --min-accuracy %.4f", a, min_accuracy);
                    if (root) app.warn(in.name(), text);
                    return int(kBelowBar);
                }
            }
            return 0;
        });
    });
}
