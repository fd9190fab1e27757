// Frozen convolutions with their BatchNormalization (and ReLU) folded into one
// convolution (lib/nn/fold.hpp): the same outputs and head gradients as the
// layers run one by one, within 1e-5; which chains fold; refolding when weights change.
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "nn/fold.hpp"
#include "nn/network.hpp"
#include "nn/spec.hpp"

// glog (through libtorch) defines CHECK too; Catch's is the one meant here.
#undef CHECK
#include <catch2/catch.hpp>
#include <torch/types.h>

using namespace imgpipe;
using namespace imgpipe::nn;

namespace {

// A MobileNetV2 block in Keras' JSON: a frozen base (ZeroPadding2D, Conv2D
// stride 2 without bias, BatchNormalization, ReLU6, DepthwiseConv2D "same",
// BatchNormalization, ReLU6, 1x1 Conv2D with a bias, BatchNormalization without
// center, Add), then a head that learns (Conv2D, BatchNormalization, ReLU,
// GlobalAveragePooling2D, Dense sigmoid).
const char* kBlock = R"JSON({"class_name": "Functional", "config": {"name": "m", "layers": [{"class_name": "InputLayer", "config": {"batch_input_shape": [null, 12, 12, 3], "name": "in"}, "name": "in", "inbound_nodes": []},
    {"class_name": "ZeroPadding2D", "config": {"padding": [[0, 1], [0, 1]], "trainable": false, "name": "pad"}, "name": "pad", "inbound_nodes": [[["in", 0, 0, {}]]]},
    {"class_name": "Conv2D", "config": {"filters": 8, "kernel_size": [3, 3], "strides": [2, 2], "padding": "valid", "use_bias": false, "trainable": false, "name": "c1"}, "name": "c1", "inbound_nodes": [[["pad", 0, 0, {}]]]},
    {"class_name": "BatchNormalization", "config": {"epsilon": 0.001, "trainable": false, "name": "bn1"}, "name": "bn1", "inbound_nodes": [[["c1", 0, 0, {}]]]},
    {"class_name": "ReLU", "config": {"max_value": 6.0, "trainable": false, "name": "r1"}, "name": "r1", "inbound_nodes": [[["bn1", 0, 0, {}]]]},
    {"class_name": "DepthwiseConv2D", "config": {"kernel_size": [3, 3], "strides": [1, 1], "padding": "same", "use_bias": false, "trainable": false, "name": "dw"}, "name": "dw", "inbound_nodes": [[["r1", 0, 0, {}]]]},
    {"class_name": "BatchNormalization", "config": {"epsilon": 0.001, "trainable": false, "name": "bn2"}, "name": "bn2", "inbound_nodes": [[["dw", 0, 0, {}]]]},
    {"class_name": "ReLU", "config": {"max_value": 6.0, "trainable": false, "name": "r2"}, "name": "r2", "inbound_nodes": [[["bn2", 0, 0, {}]]]},
    {"class_name": "Conv2D", "config": {"filters": 8, "kernel_size": [1, 1], "padding": "same", "use_bias": true, "trainable": false, "name": "pj"}, "name": "pj", "inbound_nodes": [[["r2", 0, 0, {}]]]},
    {"class_name": "BatchNormalization", "config": {"epsilon": 0.001, "center": false, "trainable": false, "name": "bn3"}, "name": "bn3", "inbound_nodes": [[["pj", 0, 0, {}]]]},
    {"class_name": "Add", "config": {"trainable": false, "name": "add"}, "name": "add", "inbound_nodes": [[["r1", 0, 0, {}], ["bn3", 0, 0, {}]]]},
    {"class_name": "Conv2D", "config": {"filters": 4, "kernel_size": [1, 1], "padding": "same", "use_bias": false, "name": "hc"}, "name": "hc", "inbound_nodes": [[["add", 0, 0, {}]]]},
    {"class_name": "BatchNormalization", "config": {"epsilon": 0.001, "name": "hbn"}, "name": "hbn", "inbound_nodes": [[["hc", 0, 0, {}]]]},
    {"class_name": "ReLU", "config": {"name": "hr"}, "name": "hr", "inbound_nodes": [[["hbn", 0, 0, {}]]]},
    {"class_name": "GlobalAveragePooling2D", "config": {"name": "gap"}, "name": "gap", "inbound_nodes": [[["hr", 0, 0, {}]]]},
    {"class_name": "Dense", "config": {"units": 1, "activation": "sigmoid", "use_bias": true, "name": "out"}, "name": "out", "inbound_nodes": [[["gap", 0, 0, {}]]]}], "input_layers": [["in", 0, 0]], "output_layers": [["out", 0, 0]]}})JSON";

// The layers' statistics and scales away from their initial 0 / 1, so a fold that got one wrong shows.
void randomize_norms(Network& net) {
    torch::NoGradGuard no_grad;
    torch::manual_seed(11);
    for (Parameter& p : net.parameters()) {
        std::string w = p.name.substr(p.name.find('.') + 1);
        if (p.name.rfind("bn", 0) != 0 && p.name.rfind("hbn", 0) != 0) continue;
        torch::Tensor r = torch::rand(p.value.sizes(), torch::kDouble).to(p.value.dtype());
        if (w == "running_var" || w == "weight") p.value.copy_(r * 1.5 + 0.25);
        else p.value.copy_((r - 0.5) * (w == "running_mean" ? 2 : 0.6));
    }
}

// Node index of a layer's (first) call.
size_t node_of(const Spec& s, const std::string& name) {
    for (size_t k = 0; k < s.nodes.size(); ++k)
        if (s.layers[s.nodes[k].layer].name == name) return k;
    FAIL("no layer " << name);
    return 0;
}

struct Run {
    torch::Tensor y;
    std::map<std::string, torch::Tensor> grads;  // every trainable weight's
};

// One training forward and backward of sum(y * r) on a fixed batch.
Run train_step(Network& net, torch::Dtype dtype, bool fold) {
    set_fold_frozen(fold);
    torch::manual_seed(5);
    torch::Tensor x = torch::randn({3, 12, 12, 3}, torch::kDouble).to(dtype);
    Run run;
    run.y = net.forward(x, true).y;
    torch::Tensor r = torch::rand_like(run.y);
    (run.y * r).sum().backward();
    for (Parameter& p : net.parameters())
        if (p.trainable) {
            run.grads[p.name] = p.value.grad().clone();
            p.value.mutable_grad() = torch::Tensor();
        }
    set_fold_frozen(true);
    return run;
}

double max_diff(const torch::Tensor& a, const torch::Tensor& b) {
    return (a.to(torch::kDouble) - b.to(torch::kDouble)).abs().max().item<double>();
}

}  // namespace

TEST_CASE("the frozen base folds into three convolutions, the head does not", "[fold]") {
    Spec spec = parse_spec(kBlock, "block.json");
    Network net(spec, 3);
    // Network's layer_params, worked out from the weights' names.
    std::vector<std::vector<size_t>> layer_params(spec.layers.size());
    for (size_t l = 0; l < spec.layers.size(); ++l)
        for (size_t p = 0; p < net.parameters().size(); ++p)
            if (net.parameters()[p].name.rfind(spec.layers[l].name + ".", 0) == 0) layer_params[l].push_back(p);
    Folding folding(spec, net.parameters(), layer_params);
    torch::Tensor x = torch::randn({2, 6, 6, 8}).permute({0, 3, 1, 2});
    std::vector<std::string> folded;
    for (size_t k = 0; k < spec.nodes.size(); ++k)
        if (const FoldedChain* c = folding.at(k, x, true, net.parameters()))
            folded.push_back(spec.layers[spec.nodes[k].layer].name + ".." +
                             spec.layers[spec.nodes[c->last].layer].name);
    CHECK(folded == std::vector<std::string>{"c1..r1", "dw..r2", "pj..bn3"});
    size_t c1 = node_of(spec, "c1");
    // Not when the input needs a gradient (a layer before learns), nor when switched off.
    CHECK(folding.at(c1, x.clone().set_requires_grad(true), true, net.parameters()) == nullptr);
    set_fold_frozen(false);
    CHECK(folding.at(c1, x, true, net.parameters()) == nullptr);
    set_fold_frozen(true);
    // A weight that learns (as --unfreeze would make it) keeps its chain unfolded.
    net.parameters()[layer_params[spec.nodes[c1].layer][0]].value.set_requires_grad(true);
    CHECK(folding.at(c1, x, true, net.parameters()) == nullptr);
}

TEST_CASE("folded frozen layers give the layers' outputs and the head's gradients within 1e-5", "[fold]") {
    Spec spec = parse_spec(kBlock, "block.json");
    for (torch::Dtype dtype : {torch::kFloat, torch::kDouble}) {
        INFO((dtype == torch::kFloat ? "float" : "double"));
        Network plain(spec, 3, dtype), folded(spec, 3, dtype);
        randomize_norms(plain);
        randomize_norms(folded);
        Run a = train_step(plain, dtype, false), b = train_step(folded, dtype, true);
        CHECK(a.y.sizes() == b.y.sizes());
        CHECK(max_diff(a.y, b.y) <= 1e-5);
        CHECK(a.grads.size() == 5);  // hc.weight, hbn.weight, hbn.bias, out.weight, out.bias
        for (auto& [name, g] : a.grads) {
            INFO(name);
            CHECK(max_diff(g, b.grads[name]) <= 1e-5 * (1 + g.abs().max().item<double>()));
        }
        // The head's BatchNormalization learns: its moving statistics moved alike.
        CHECK(max_diff(plain.find("hbn.running_mean")->value, folded.find("hbn.running_mean")->value) <= 1e-6);
        // Inference (nneval, nnpredict) folds too.
        torch::NoGradGuard no_grad;
        torch::Tensor x = torch::randn({4, 12, 12, 3}).to(dtype);
        set_fold_frozen(false);
        torch::Tensor p = plain.forward(x, false).y;
        set_fold_frozen(true);
        CHECK(max_diff(p, folded.forward(x, false).y) <= 1e-5);
    }
}

TEST_CASE("folded weights follow the frozen weights when they change", "[fold]") {
    Spec spec = parse_spec(kBlock, "block.json");
    Network plain(spec, 3), folded(spec, 3);
    randomize_norms(plain);
    randomize_norms(folded);
    torch::NoGradGuard no_grad;
    torch::manual_seed(8);
    torch::Tensor x = torch::randn({2, 12, 12, 3});
    auto agree = [&] {
        set_fold_frozen(false);
        torch::Tensor p = plain.forward(x, false).y;
        set_fold_frozen(true);
        return max_diff(p, folded.forward(x, false).y);
    };
    CHECK(agree() <= 1e-6);
    // Loaded weights (copy_), and a writer that goes through the bytes (no version change).
    for (Network* net : {&plain, &folded}) {
        net->find("bn1.running_var")->value.fill_(4);
        float* bytes = net->find("c1.weight")->value.data_ptr<float>();
        bytes[0] += 5;
        net->find("pj.bias")->value.data_ptr<float>()[3] = 2;
    }
    CHECK(agree() <= 1e-6);
    // A new dtype: the folded copies follow.
    plain.to(torch::kCPU, torch::kDouble);
    folded.to(torch::kCPU, torch::kDouble);
    x = x.to(torch::kDouble);
    CHECK(agree() <= 1e-12);
}
