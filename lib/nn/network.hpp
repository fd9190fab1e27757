// The libtorch side of the engine (internal: only lib/nn and tests/nn see it).
// A Network runs a resolved Spec: tensors are channels-last at its edges (as in
// the stream) and NCHW inside, where libtorch's convolutions want them; Flatten
// and Reshape go through channels-last so Dense weights line up with Keras'.
#pragma once
#include <ATen/ATen.h>
#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "nn/fold.hpp"
#include "nn/spec.hpp"
#include "stream/frame.hpp"

namespace imgpipe::nn {

struct Parameter {
    std::string name;  // "<layer>.weight", "<layer>.bias", "<layer>.running_mean", ...
    torch::Tensor value;
    bool trainable = true;
    double l1 = 0, l2 = 0;  // Keras' kernel/bias regularizer: l1 * sum|w| + l2 * sum(w^2) joins the loss
};

// One call of a layer (network.cpp) and the engine's function that runs it.
struct LayerCall;
using LayerForward = torch::Tensor (*)(const LayerCall&, const std::vector<torch::Tensor>&);

// Weights in PyTorch layouts (WeightSpec in spec.hpp), named "<layer>.<weight>".
class Network {
public:
    // Keras' default initializers, drawn from (seed, layer) so a seed gives the same model anywhere.
    // initialize false: the weights are left unset, for a load that overwrites every one
    // (drawing 25 million numbers took longer than reading a 100 MB model file).
    Network(const Spec& spec, uint64_t seed, torch::Dtype dtype = torch::kFloat, bool initialize = true);

    struct Output {
        torch::Tensor y;       // the model's output (channels-last for images)
        torch::Tensor logits;  // the output layer's input to a final sigmoid/softmax, else undefined
        Activation final_activation = Activation::Linear;
    };
    // A training target the augmentation layers (RandomFlip, RandomTranslation,
    // RandomRotation, RandomZoom) move with its image, by the image's own draw, as
    // Keras 3 transforms segmentation_masks: a mask Long [n,h,w] (nearest; where
    // nothing maps, constant fill takes mask_fill) or an image [n,h,w,c] (as the
    // layer transforms x). forward replaces `value` with the moved target.
    struct Target {
        torch::Tensor value;
        bool mask = false;
        double mask_fill = 0;
    };
    // x: [n, ...input_shape] channels-last, any floating dtype, or U8 pixels
    // (taken as floats). Runs the graph's calls in order; a value is dropped
    // after its last reader. `target` (training only): moved with x, above.
    Output forward(const torch::Tensor& x, bool training, Target* target = nullptr);

    std::vector<Parameter>& parameters() { return params_; }
    const std::vector<Parameter>& parameters() const { return params_; }
    Parameter* find(const std::string& name);
    void to(torch::Device device, torch::Dtype dtype);
    const Spec& spec() const { return spec_; }

private:
    Spec spec_;
    std::vector<Parameter> params_;
    std::vector<std::vector<size_t>> layer_params_;  // indices into params_, per layer
    std::vector<LayerForward> forward_;              // per layer, from the engine's table
    std::vector<size_t> last_reader_;                // per node: the last node that reads it
    // Per node: its ReLU activation moved past the max pooling that alone
    // reads it (deferred), and that pooling's node applying it (see forward).
    std::vector<char> relu_deferred_, relu_after_;
    // Per node: a convolution whose bias gradient that pooling sums instead
    // (deferred), and the pooling's node: index in params_ of that bias, or -1.
    std::vector<char> bias_deferred_;
    std::vector<int64_t> bias_after_;
    Folding folding_;  // frozen convolutions with their BatchNormalization folded in (lib/nn/fold.hpp)
    bool input_lambda_ = false;  // a Lambda alone reads the input: U8 pixels go to it as they are
};

// Whether the engine runs a layer type (every type the spec reads must be here).
bool has_forward(const std::string& type);
// A stream tensor's bytes seen as a torch tensor of its dtype (no copy).
torch::Tensor to_torch(const Tensor& t);

// Whether the BLAS libtorch calls (Debian's libtorch: whatever libblas.so.3 is)
// is an optimized one (OpenBLAS, BLIS, MKL) rather than the reference BLAS;
// and its threads (an optimized BLAS otherwise starts one a core, whatever
// -j says). Found by the functions such a library exports.
bool optimized_blas();
void set_blas_threads(int threads);
// Dense on a batch of 16 or more: BLAS matrix products on fixed blocks over
// -j threads (true; the default with an optimized BLAS) or a oneDNN 1x1
// convolution (the default without).
// The tests run both routes on any machine.
void set_dense_via_blas(bool blas);
torch::Tensor activate(Activation a, const torch::Tensor& x, double negative_slope);
torch::Tensor evaluate(const Expr& e, const torch::Tensor& x);

}  // namespace imgpipe::nn
