// nnpredict: a trained model's predictions for every sample of a batch stream,
// in stream order, joined to the source paths (Keras' predict_generator with
// shuffle=False, without its ordering pitfalls). See man/man1/nnpredict.1.
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
    App app("nnpredict", "Predicts with a trained model: one line per sample, or a batch stream of outputs.");
    app.add_allow_skipped_option();
    app.add_threads_option();
    std::string model_path, input = "-", output = "-", device = "cpu", format_name = "tsv";
    int top_k = 1;
    int64_t steps = 0;
    auto& cli = app.cli();
    cli.add_option("-m,--model", model_path, "Model file written by nntrain")->required();
    cli.add_option("stream", input, "Batch stream (default: stdin); labels, if any, are ignored");
    cli.add_option("-o,--output", output, "Write to FILE (atomically) instead of stdout");
    cli.add_option("-f,--format", format_name, "tsv, json (one object per line) or stream (outputs as a batch stream)")
        ->check(CLI::IsMember({"tsv", "json", "stream"}));
    cli.add_option("-k,--top-k", top_k, "Print the K most probable classes (classifiers)")->check(CLI::PositiveNumber);
    cli.add_option("--steps", steps, "Predict the first N batches (default: one epoch, or the whole stream)")
        ->check(CLI::PositiveNumber);
    cli.add_option("--device", device, "cpu or cuda")->check(CLI::IsMember({"cpu", "cuda"}));

    return app.main(argc, argv, [&] {
        nn::PredictFormat format;
        nn::parse_predict_format(format_name, format);
        nn::configure_runtime(app.thread_count());
        auto model = nn::Model::load(model_path);
        model->to_device(device);
        nn::OutputKind kind = nn::output_kind(model->loss_name(), model->output_shape());
        auto classes = nn::class_names(model->classes(), nn::class_count(kind, model->output_shape()));
        nn::PredictionWriter writer(format, kind, model->output_shape(), classes, top_k);

        Input in(input);
        FrameReader reader(in);
        Output out(output, format == nn::PredictFormat::Stream);
        Progress progress(app.quiet);
        nn::StepLimit limit(steps);
        int64_t samples = 0;
        Frame batch;
        while (reader.read(batch)) {
            if (!limit.take(batch, reader.began_epoch())) break;
            if (batch.samples() == 0) continue;
            model->check_batch(batch, reader.where(), false);
            Tensor outputs = model->predict_batch(batch);
            samples += batch.samples();
            try {
                if (format == nn::PredictFormat::Stream) write_frame(out, writer.frame(batch, std::move(outputs)));
                else out.write(writer.lines(batch, outputs));
            } catch (const DataError& e) {
                throw DataError(reader.where(), e.what());
            }
            progress.bar(limit.taken(), limit.expected());
        }
        limit.check_complete(in.name());
        if (samples == 0) throw DataError(in.name(), "no samples to predict");
        out.commit();
        progress.line(app.tool() + ": " + std::to_string(samples) + " samples in " + std::to_string(limit.taken()) + " batches - " +
                      format_duration(progress.elapsed()));
        return 0;
    });
}
