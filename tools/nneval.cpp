// nneval: a trained model's loss and metrics on a batch stream (Keras'
// evaluate_generator), with the confusion matrix and per-class accuracy for
// classifiers. See man/man1/nneval.1.
#include <cmath>
#include <cstdio>

#include "cli/app.hpp"
#include "cli/error.hpp"
#include "cli/io.hpp"
#include "cli/progress.hpp"
#include "nn/engine.hpp"
#include "nn/report.hpp"
#include "stream/frame.hpp"

using namespace imgpipe;

int main(int argc, char** argv) {
    nn::exec_with_passive_openmp(argv);
    App app("nneval", "Evaluates a trained model on a batch stream: loss, metrics, confusion matrix.");
    app.add_allow_skipped_option();
    app.add_threads_option();
    std::string model_path, input = "-", output = "-", device = "cpu";
    bool as_json = false;
    double min_accuracy = -1;
    int64_t steps = 0;
    auto& cli = app.cli();
    cli.add_option("-m,--model", model_path, "Model file written by nntrain")->required();
    cli.add_option("stream", input, "Batch stream with targets (default: stdin)");
    cli.add_option("-o,--output", output, "Write the report to FILE (atomically) instead of stdout");
    cli.add_flag("--json", as_json, "Print one JSON object instead of text");
    cli.add_option("--min-accuracy", min_accuracy, "Exit 1 if the accuracy is below X (0 to 1)")->check(CLI::Range(0.0, 1.0));
    cli.add_option("--steps", steps, "Evaluate the first N batches (default: one epoch, or the whole stream)")
        ->check(CLI::PositiveNumber);
    cli.add_option("--device", device, "cpu or cuda")->check(CLI::IsMember({"cpu", "cuda"}));

    return app.main(argc, argv, [&] {
        nn::configure_runtime(app.thread_count());
        auto model = nn::Model::load(model_path);
        model->to_device(device);
        nn::OutputKind kind = nn::output_kind(model->loss_name(), model->output_shape());
        int64_t k = nn::class_count(kind, model->output_shape());
        nn::Evaluation eval;
        eval.classification = k > 0;
        eval.confusion = nn::ConfusionMatrix(nn::class_names(model->classes(), k));
        bool has_accuracy = k > 0;
        for (const auto& m : model->metric_names()) has_accuracy |= m == "accuracy";
        if (min_accuracy >= 0 && !has_accuracy)
            throw UsageError("--min-accuracy: the model is not a classifier and has no accuracy metric");

        Input in(input);
        FrameReader reader(in);
        Output out(output, false);
        Progress progress(app.quiet);
        nn::StepLimit limit(steps);
        Frame batch;
        while (reader.read(batch)) {
            if (!limit.take(batch, reader.began_epoch())) break;
            if (batch.samples() == 0) continue;
            const std::string where = reader.where();
            nn::align_classes(batch, model->classes(), where);
            model->check_batch(batch, where, true);
            model->evaluate_batch(batch, eval.scores);
            if (eval.classification) {
                std::vector<int> truth = nn::true_classes(batch.get("y"), k, where);
                if (truth.empty()) eval.classification = false;  // y is not class labels
                else eval.confusion.add_batch(model->predict_batch(batch), kind, truth);
            }
            eval.samples += batch.samples();
            ++eval.batches;
            progress.bar(eval.batches, limit.expected(), eval.scores.keras_text());
        }
        limit.check_complete(in.name());
        if (eval.batches == 0) throw DataError(in.name(), "no samples to evaluate");
        eval.seconds = progress.elapsed();
        progress.line(app.tool() + ": " + std::to_string(eval.samples) + " samples in " + std::to_string(eval.batches) + " batches - " +
                      format_duration(eval.seconds) + eval.scores.keras_text());

        out.write(as_json ? eval.json() : eval.text());
        out.commit();
        if (min_accuracy >= 0) {
            double a = eval.accuracy();
            if (std::isnan(a)) throw DataError(in.name(), "--min-accuracy: the stream's targets are not class labels");
            if (a < min_accuracy) {
                char text[96];
                std::snprintf(text, sizeof text, "accuracy %.4f is below --min-accuracy %.4f", a, min_accuracy);
                app.warn(in.name(), text);
                return int(kBelowBar);
            }
        }
        return 0;
    });
}
