// Whether a batch fits a model (torch-free, so that it is tested without one):
// x's per-sample shape and dtype against the spec's input, y's kind against the
// output and the loss, the stream's classes against the model's. The model
// calls it for every batch (Model::check_batch); what it has learned of its
// input as training began (the dtype, the class names) is passed in.
#pragma once
#include <string>
#include <vector>

#include "nn/spec.hpp"
#include "stream/frame.hpp"

namespace imgpipe::nn {

// y holds class indices (I32 [n] or [n, 1]).
bool is_labels(const Tensor& y);

// What a model knows of the batches it takes.
struct BatchContract {
    const Spec& spec;
    const DType* trained_dtype;               // the input dtype it trained on; null before training
    const std::vector<std::string>& classes;  // its class names; empty before training
    bool loss_picked = false;                 // the loss is still to be picked from the stream (class_mode)
};

// A mask stream's ignore index (metadata ignore_index, a decimal 0..255), -1
// without one; DataError naming `where` for anything else.
int64_t ignore_index(const Frame& batch, const std::string& where);

// DataError naming `where` when the batch does not fit; `need_targets`: the
// batch must hold y (training, evaluation), else only x is checked (prediction).
void check_batch(const BatchContract& model, const Frame& batch, const std::string& where, bool need_targets);

}  // namespace imgpipe::nn
