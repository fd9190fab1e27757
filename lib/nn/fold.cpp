#include "nn/fold.hpp"

#include <ATen/core/grad_mode.h>

#include <cstdint>
#include <initializer_list>

#include "nn/network.hpp"

namespace imgpipe::nn {

namespace {
bool& fold_flag() {
    static bool on = true;
    return on;
}

// Index into params of "<layer>.<what>", or -1.
int64_t param(const std::vector<Parameter>& params, const std::vector<size_t>& mine, const LayerSpec& l,
              const char* what) {
    for (size_t i : mine)
        if (params[i].name == l.name + "." + what) return int64_t(i);
    return -1;
}
}  // namespace

void set_fold_frozen(bool on) { fold_flag() = on; }
bool fold_frozen() { return fold_flag(); }

Folding::Folding(const Spec& spec, const std::vector<Parameter>& params,
                 const std::vector<std::vector<size_t>>& layer_params) {
    const size_t n = spec.nodes.size();
    chain_at_.assign(n, -1);
    std::vector<int> readers(n, 0);
    for (const Node& node : spec.nodes)
        for (int i : node.inputs)
            if (i >= 0) ++readers[size_t(i)];
    // Node k + 1 alone reads node k, and node k is not the model's output.
    auto only_reader = [&](size_t k) {
        return k + 1 < n && readers[k] == 1 && spec.nodes[k + 1].inputs.size() == 1 &&
               spec.nodes[k + 1].inputs[0] == int(k);
    };
    auto frozen = [&](size_t layer) {  // none of the layer's weights learns
        for (size_t p : layer_params[layer])
            if (params[p].trainable) return false;
        return true;
    };
    for (size_t k = 0; k + 1 < n; ++k) {
        const LayerSpec& conv = spec.layers[spec.nodes[k].layer];
        const LayerSpec& norm = spec.layers[spec.nodes[k + 1].layer];
        const BatchNormOptions* bn = norm.find<BatchNormOptions>();
        if (!conv.kind().is(kFoldsNorm) || conv.activation != Activation::Linear || spec.nodes[k].inputs.size() != 1 ||
            !bn || !only_reader(k) || !frozen(spec.nodes[k].layer) ||
            !frozen(spec.nodes[k + 1].layer) || spec.nodes[k].output_shape.size() != 3)
            continue;
        FoldedChain c;
        c.first = k;
        c.last = k + 1;
        c.norm_trainable = norm.trainable;
        c.epsilon = bn->epsilon;
        const std::vector<size_t>& cp = layer_params[spec.nodes[k].layer];
        const std::vector<size_t>& np = layer_params[spec.nodes[k + 1].layer];
        struct Source {
            const std::vector<size_t>& mine;
            const LayerSpec& l;
            const char* what;
        };
        for (const Source& w : {Source{cp, conv, "weight"}, Source{cp, conv, "bias"}, Source{np, norm, "weight"},
                                Source{np, norm, "bias"}, Source{np, norm, "running_mean"}, Source{np, norm, "running_var"}}) {
            int64_t p = param(params, w.mine, w.l, w.what);
            c.sources.push_back(p < 0 ? SIZE_MAX : size_t(p));  // missing: no bias, or no center / scale
        }
        if (c.sources[0] == SIZE_MAX || c.sources[4] == SIZE_MAX || c.sources[5] == SIZE_MAX) continue;
        if (only_reader(k + 1)) {
            const ReluOptions* relu = spec.layers[spec.nodes[k + 2].layer].find<ReluOptions>();
            if (relu && relu->negative_slope == 0 && relu->threshold == 0) {
                c.relu = true;
                c.max_value = relu->max_value;
                c.last = k + 2;
            }
        }
        chain_at_[k] = int(chains_.size());
        chains_.push_back(std::move(c));
        k = chains_.back().last;
    }
}

const FoldedChain* Folding::at(size_t k, const torch::Tensor& input, bool training,
                               const std::vector<Parameter>& params) {
    if (!fold_frozen() || k >= chain_at_.size() || chain_at_[k] < 0) return nullptr;
    FoldedChain& c = chains_[size_t(chain_at_[k])];
    if (training && c.norm_trainable) return nullptr;  // a BatchNormalization that learns its statistics
    const bool grad = at::GradMode::is_enabled();
    if (grad && input.requires_grad()) return nullptr;
    std::vector<torch::Tensor> now;
    for (size_t p : c.sources) {
        now.push_back(p == SIZE_MAX ? torch::Tensor() : params[p].value);
        if (p != SIZE_MAX && grad && params[p].value.requires_grad()) return nullptr;
    }
    // Fold again when a source's value changed (loaded weights, a new device or
    // dtype). Compared by value: a writer may go through the tensor's bytes.
    bool same = c.seen.size() == now.size();
    for (size_t i = 0; same && i < now.size(); ++i)
        same = now[i].defined() == c.seen[i].defined() &&
               (!now[i].defined() || (now[i].sizes() == c.seen[i].sizes() && now[i].dtype() == c.seen[i].dtype() &&
                                      now[i].device() == c.seen[i].device() && torch::equal(now[i], c.seen[i])));
    if (!same) {
        at::NoGradGuard no_grad;
        // In double: the fold adds no rounding of its own beyond the final one.
        auto d = [](const torch::Tensor& t) { return t.to(torch::kDouble); };
        torch::Tensor w = now[0], mean = d(now[4]);
        torch::Tensor s = torch::rsqrt(d(now[5]) + c.epsilon);
        if (now[2].defined()) s = s * d(now[2]);
        torch::Tensor b = now[1].defined() ? d(now[1]) - mean : -mean;
        b = b * s;
        if (now[3].defined()) b = b + d(now[3]);
        c.weight = (d(w) * s.view({-1, 1, 1, 1})).to(w.dtype()).contiguous();
        c.bias = b.to(w.dtype());
        c.seen.clear();
        for (const torch::Tensor& t : now) c.seen.push_back(t.defined() ? t.detach().clone() : t);
    }
    return &c;
}

torch::Tensor Folding::finish(const FoldedChain& c, torch::Tensor x) {
    if (!c.relu) return x;
    return c.max_value >= 0 ? x.clamp_(0, c.max_value) : x.relu_();
}

}  // namespace imgpipe::nn
