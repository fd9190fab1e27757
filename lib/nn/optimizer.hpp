// Keras' optimizers on libtorch (internal: lib/nn and tests/nn only). Every
// trainable parameter lives in one flat buffer (each Parameter's value is a view
// of it) and its gradient in a second one (each parameter's grad a view, into
// which autograd accumulates in place), so an update rule is a handful of
// operations over the whole buffer rather than a handful per parameter.
//
// The update rules are Keras 3's (keras/src/optimizers/*.py; Keras 2's
// optimizer_v2 agrees for adam, sgd and rmsprop): adam, adamw (adam after the
// decoupled weight decay w -= lr * weight_decay * w, which any optimizer with a
// weight_decay applies), nadam (Dozat's momentum schedule u_t = beta_1 * (1 -
// 0.5 * 0.96^t)), sgd (momentum, nesterov), rmsprop (momentum). The learning rate
// of a step is the schedule's at the iteration count before the step, as in Keras.
#pragma once
#include <ATen/ATen.h>
#include <torch/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "nn/compile.hpp"
#include "nn/network.hpp"

namespace imgpipe::nn {

class Optimizer {
public:
    explicit Optimizer(OptimizerSpec spec);

    // Gathers the trainable parameters into the flat buffers, on their device:
    // each one's value becomes a view of the value buffer (requiring grad), its
    // grad a view of the gradient buffer. Call it again whenever the parameters'
    // tensors were replaced (Network::to); values and optimizer state are kept.
    // copy_values false: the flat buffer's values are left unset, for a load that
    // writes every one next (a copy of 100 MB of weights about to be overwritten).
    // A parameter keeps its memory layout there, and its gradient and slots take
    // the same (a Dense kernel loaded from Keras is the transposed view of Keras'
    // [in, out] array, doc/design.md "Keras files in"): the update rules are
    // elementwise over the buffers, and the slots are saved in logical order.
    // `page_offsets`: for a parameter that a load is to copy from a mapped file,
    // the byte offset in a 4 KB page of its source; it is placed in the buffer at
    // the same offset, or the next float boundary (zeros between): glibc's memcpy
    // of 100 MB took 8.6 ms to a place 0 to 256 bytes past its source's offset in
    // a page, 12.4 ms to any other (bench/results/model_load.md).
    // Kept for later attaches: the buffers' layout must not change under the slots.
    void attach(std::vector<Parameter>& params, bool copy_values = true,
                const std::map<std::string, int64_t>& page_offsets = {});
    // The flat buffers: every trainable value, every gradient (in attach()'s order).
    torch::Tensor& values() { return values_; }
    torch::Tensor& gradients() { return grads_; }
    // Zeroes the gradient buffer; autograd then accumulates into it.
    void zero_grad();
    // One update of every trainable parameter from the gradient buffer.
    void step();

    const OptimizerSpec& spec() const { return spec_; }
    int64_t iterations() const { return iterations_; }
    // The rate of the next step: the schedule's at iterations(), or the constant.
    double learning_rate() const { return spec_.schedule ? spec_.schedule->at(iterations_) : lr_; }
    // UsageError with a schedule (Keras: "its learning rate is not settable").
    void set_learning_rate(double lr);

    // The slots as the model file names them: "optimizer.m.<parameter>" (adam,
    // adamw, nadam: first moment; sgd, rmsprop: momentum) and "optimizer.v.<parameter>"
    // (adam, adamw, nadam: second moment; rmsprop: mean square), each a view of
    // its flat buffer shaped like the parameter. Empty before the first step.
    std::vector<std::pair<std::string, torch::Tensor>> state() const;
    // Restores the iteration count and (without a schedule) the rate, and creates
    // the slots, zeroed, for the caller to fill through state(). Nadam's momentum
    // product is a function of the iteration count, recomputed here.
    void restore(int64_t iterations, double learning_rate);

private:
    struct Entry {
        std::string name;
        int64_t offset = 0, numel = 0;
        std::vector<int64_t> shape, strides;  // the parameter's layout in the buffers
        torch::Tensor in(const torch::Tensor& flat) const {  // its part of a flat buffer
            return flat.as_strided(shape, strides, flat.storage_offset() + offset);
        }
    };
    void create_slots();

    OptimizerSpec spec_;
    double lr_;
    int64_t iterations_ = 0;
    double u_product_ = 1;  // nadam: the product of u_1 ... u_t
    std::vector<Entry> entries_;
    std::map<std::string, int64_t> page_offsets_;  // attach's
    torch::Tensor values_, grads_;  // flat, float, on the parameters' device
    torch::Tensor m_, v_;           // flat slots; undefined until the first step or a restore
};

}  // namespace imgpipe::nn
