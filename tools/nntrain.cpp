// nntrain: trains a network from batch streams (Keras' compile + fit_generator).
// See man/man1/nntrain.1. The loop lives in lib/nn/trainer.cpp.
#include <iostream>

#include "cli/app.hpp"
#include "cli/error.hpp"
#include "cli/io.hpp"
#include "nn/collective.hpp"
#include "nn/engine.hpp"
#include "nn/keras_file.hpp"
#include "nn/trainer.hpp"

using namespace imgpipe;

int main(int argc, char** argv) {
    nn::configure_runtime(0);  // the malloc settings first, before libtorch allocates
    App app("nntrain", "Trains a network described by a model spec on a batch stream.");
    app.add_allow_skipped_option();
    app.add_seed_option();
    app.add_threads_option();
    nn::TrainOptions o;
    nn::Overrides ov;
    std::string spec_path, weights, resume, device = "cpu", profile;
    bool summary = false;
    auto& cli = app.cli();
    cli.add_option("stream", o.train, "Training batch stream: a file (re-read every epoch), a FIFO, or - for stdin");
    cli.add_option("-m,--model", spec_path, "Model spec (JSON: compact, or Keras' model.to_json()), or a Keras model "
                                            "with its weights to train on (.h5, .keras, TF.js model.json)");
    cli.add_option("--weights", weights, "Start from the weights in FILE (a Keras .h5 or .weights.h5, a .keras, a TF.js model.json), "
                                         "--model being its architecture (JSON)");
    std::string init_from;
    bool skip_mismatch = false;
    cli.add_option("--init-from", init_from, "Fine-tuning: the layers of the same name start from FILE's weights (a model "
                                             "file, or a Keras .h5, .keras, TF.js model.json)");
    cli.add_flag("--skip-mismatch", skip_mismatch, "With --init-from: a layer whose weights differ in shape keeps its "
                                                   "initial values (else an error)");
    // One pattern per use (or comma-separated), so that the stream after it stays the stream.
    cli.add_option("--freeze", ov.freeze, "Freeze the layers whose names match PATTERN (fnmatch: 'block_[1-9]*')")
        ->delimiter(',')
        ->allow_extra_args(false);
    cli.add_option("--unfreeze", ov.unfreeze, "Then unfreeze the layers whose names match PATTERN")
        ->delimiter(',')
        ->allow_extra_args(false);
    cli.add_option("--resume", resume, "Continue training a model file (weights and optimizer state)");
    cli.add_option("-o,--output", o.output, "Write the trained model to FILE (atomically)");
    cli.add_option("--val", o.val, "Validation batch stream (a file is re-read every epoch)");
    cli.add_option("--epochs", o.epochs, "Epochs to train, counting those of a resumed model (default: the epochs a file holds, else 1)")
        ->check(CLI::PositiveNumber);
    cli.add_option("--steps-per-epoch", o.steps_per_epoch, "Batches per epoch (default: the stream's epochs)")
        ->check(CLI::PositiveNumber);
    cli.add_option("--validation-steps", o.validation_steps, "Validation batches per epoch (default: all)")
        ->check(CLI::PositiveNumber);
    cli.add_option("-b,--batch-size", o.batch_size, "Batch size for unbatched streams (default 32)")
        ->check(CLI::PositiveNumber);
    cli.add_flag("--shuffle", o.shuffle, "Read a training file's frames in a new random order every pass");
    cli.add_option("--device", device, "cpu or cuda (default cpu)")->check(CLI::IsMember({"cpu", "cuda"}));
    cli.add_option("--loss", ov.loss, "Override the spec's loss");
    cli.add_option("--optimizer", ov.optimizer, "Override the spec's optimizer: adam, adamw, nadam, sgd, rmsprop");
    cli.add_option("--lr", ov.lr, "Learning rate")->check(CLI::PositiveNumber);
    std::string metrics;  // one comma-separated value, so that the stream may follow it
    cli.add_option("--metrics", metrics,
                   "Metrics, comma-separated: accuracy, binary_accuracy, mae, mse, rmse, r2, precision, recall, f1, auc "
                   "(none: no metrics)");
    cli.add_option("--threshold", ov.threshold,
                   "Probability above which an output counts as a yes: binary_accuracy, precision, recall, f1 (default 0.5)")
        ->check(CLI::Range(0.0, 1.0));
    cli.add_option("--class-weight", o.class_weight,
                   "Weigh each training sample's loss by its class: a JSON map ({\"0\": 1, \"cat\": 5.5}) or balanced");
    cli.add_option("--history", o.history, "Write one JSON line per epoch to FILE (appended to when resuming)");
    cli.add_option("--checkpoint-dir", o.checkpoint_dir, "Save DIR/epoch-NNN.model every epoch and DIR/best.model");
    cli.add_option("--keep", o.keep_checkpoints,
                   "Keep only the newest N epoch files in --checkpoint-dir (0: best.model only, as Keras' save_best_only)")
        ->check(CLI::NonNegativeNumber);
    cli.add_option("--monitor", o.monitor, "Value for best.model and the callbacks (default val_loss, or loss)");
    cli.add_option("--early-stopping", o.early_stopping, "Stop after PATIENCE epochs without improvement")
        ->check(CLI::PositiveNumber);
    cli.add_option("--min-delta", o.min_delta, "Smallest change that counts as an improvement (early stopping)");
    cli.add_flag("--reduce-lr-on-plateau", o.reduce_lr, "Multiply the learning rate by --lr-factor on a plateau");
    cli.add_option("--lr-factor", o.lr_factor, "Factor for --reduce-lr-on-plateau (default 0.1)")
        ->check(CLI::Range(0.0, 1.0));
    cli.add_option("--lr-patience", o.lr_patience, "Epochs without improvement before reducing (default 10)")
        ->check(CLI::PositiveNumber);
    cli.add_option("--min-lr", o.min_lr, "Lower bound on the learning rate (default 0)")->check(CLI::NonNegativeNumber);
    cli.add_option("--profile", profile, "Write a Chrome trace of the engine's work (each layer, backward, optimizer) to FILE (rank 0)");
    cli.add_flag("--summary", summary, "Print the model's layers, output shapes and parameters, then exit");
    nn::PlacementOptions place;
    nn::CollectiveOptions together;
    nn::add_world_options(cli, place, together);

    return app.main(argc, argv, [&] {
        if (spec_path.empty() == resume.empty())
            throw UsageError(spec_path.empty() ? "give a model spec (--model SPEC) or a model to continue (--resume FILE)"
                                               : "--model and --resume exclude each other");
        if (!weights.empty() && !resume.empty()) throw UsageError("--weights and --resume exclude each other");
        if (!init_from.empty() && !resume.empty()) throw UsageError("--init-from and --resume exclude each other");
        if (skip_mismatch && init_from.empty()) throw UsageError("--skip-mismatch goes with --init-from FILE");
        if (cli.count("--metrics")) ov.metrics = {metrics.empty() ? "none" : metrics};
        nn::Placement placement = nn::find_placement(app, place);
        nn::configure_runtime(app.thread_count());
        std::unique_ptr<nn::Model> model;
        const std::string kind = resume.empty() ? nn::keras_file_kind(spec_path) : "";  // a spec, or a Keras model
        if (!resume.empty()) model = nn::Model::load(resume, ov);
        else if (!weights.empty() || (!kind.empty() && kind != "spec")) model = nn::Model::load(spec_path, ov, weights, app.seed);
        else {
            std::vector<uint8_t> text = read_file(spec_path);
            model = nn::Model::create(std::string(text.begin(), text.end()), spec_path, ov, app.seed);
        }
        if (!init_from.empty()) {
            std::string done = model->init_from(init_from, skip_mismatch);
            if (!app.quiet && placement.rank == 0)
                for (size_t start = 0; start < done.size();) {
                    size_t end = done.find('\n', start);
                    std::cerr << app.tool() << ": " << init_from << ": " << done.substr(start, end - start) << "\n";
                    start = end + 1;
                }
        }
        if (summary) {
            std::cout << model->summary() << std::flush;
            return 0;
        }
        model->to_device(device, placement.local_rank);
        together.device = device;
        catch_interrupts();  // before the rendezvous: a Ctrl-C while waiting stops cleanly too
        std::unique_ptr<nn::Collective> world = nn::join_world(placement, together);
        model->join(*world);
        o.seed = world->from_root(app.seed);  // a seed drawn from the clock: rank 0's
        for (const CLI::Option* option : cli.get_options())  // what a resumed run's recorded settings give way to
            if (option->count())
                for (const std::string& name : option->get_lnames()) o.given.insert("--" + name);
        o.resumed_from = resume;
        o.quiet = app.quiet;
        std::unique_ptr<nn::Profile> profiling = world->rank() == 0 ? nn::start_profile(profile) : nullptr;
        const int status = nn::fit(*model, o, app.tool(), world.get());
        if (profiling) profiling->save();
        return status;
    });
}
