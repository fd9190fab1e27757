// Keras' fit loop over batch streams (torch-free): epochs, validation,
// progress, history, and a clean stop on SIGINT/SIGTERM; it does what the
// callbacks of nn/callbacks.hpp decide (checkpoints, early stopping,
// learning-rate reduction on plateaus).
#pragma once
#include <cstdint>
#include <set>
#include <string>

#include "nn/collective.hpp"
#include "nn/engine.hpp"

namespace imgpipe::nn {

struct TrainOptions {
    std::string train = "-";  // file, FIFO or "-"
    std::string val;          // optional
    int64_t epochs = 1;
    // The options given on the command line, by their long names ("--epochs",
    // "--val", ...): a resumed run takes its recorded value for each option not
    // given, and a stream's own epoch count decides when "--epochs" is not given.
    std::set<std::string> given;
    std::string resumed_from;  // --resume FILE
    int64_t steps_per_epoch = 0, validation_steps = 0;
    int64_t batch_size = 0;   // unbatched streams only (default 32)
    bool shuffle = false;     // frame order of a training file, per pass
    uint64_t seed = 0;
    std::string output, checkpoint_dir, history;
    int64_t keep_checkpoints = -1;  // epoch files kept: -1 all, 0 none (best.model only)
    std::string monitor;      // default: val_loss with --val, else loss
    int64_t early_stopping = 0;  // patience; 0: off
    double min_delta = 0;
    bool reduce_lr = false;
    double lr_factor = 0.1, min_lr = 0;
    int64_t lr_patience = 10, lr_cooldown = 0;  // no option sets the cooldown yet
    bool quiet = false;
    // --class-weight: a JSON object of weights by class index or name (1 for a
    // class it omits), or "balanced" (n_samples / (n_classes * count), counted
    // from the training file before training); empty: none.
    std::string class_weight;
};

// Trains `model`; returns the exit status: 0, or 130/143 after SIGINT/SIGTERM
// (the step finished and a checkpoint saved). Errors are thrown. With a world
// of more than one (the model joined it), this process is one rank of a
// data-parallel run: it trains on its share of the data, every rank stops at
// the same step, epochs' scores are the whole world's, and only rank 0 writes.
int fit(Model& model, const TrainOptions& options, const std::string& tool, Collective* world = nullptr);

}  // namespace imgpipe::nn
