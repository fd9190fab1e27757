// A Dense kernel in Keras' layout (doc/design.md, "Keras files in"): the
// parameter [out, in] is the transposed view of a row-major [in, out] array.
// Dense's sgemm blocks read it as it lies and give its gradient in its layout;
// the optimizer's flat buffers keep it (values, gradients, slots), save its
// slots in logical order, and place it at a page offset a load asks for.
#include "nn/compile.hpp"
#include "nn/dense.hpp"
#include "nn/optimizer.hpp"

// glog (through libtorch) defines CHECK too; Catch's is the one meant here.
#undef CHECK
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include <cstring>

using namespace imgpipe::nn;

namespace {

bool same_bytes(const torch::Tensor& a, const torch::Tensor& b) {
    torch::Tensor x = a.contiguous(), y = b.contiguous();
    return x.sizes() == y.sizes() && std::memcmp(x.data_ptr(), y.data_ptr(), size_t(x.nbytes())) == 0;
}

// W's values in Keras' layout: a row-major [in, out] array, W its transposed view.
torch::Tensor keras_layout(const torch::Tensor& w) { return w.t().contiguous().t(); }

}  // namespace

TEST_CASE("Dense on blocks reads a kernel in Keras' layout as it lies, its gradient in that layout", "[grad][keras-layout]") {
    if (!dense_blocks_runs(torch::ones({2, 2}), torch::ones({2, 2})))
        FAIL("no sgemm_ in this process: Dense's blocked kernel cannot be tested");
    torch::manual_seed(7);
    for (auto [n, in, out, bias] : {std::tuple{33, 1600, 256, true}, {20, 70, 3, false}, {128, 300, 130, true}}) {
        INFO("x [" << n << ", " << in << "], " << out << " units, bias " << bias);
        torch::Tensor x0 = torch::randn({n, in}), w0 = torch::randn({out, in}) / 30, b0 = torch::randn({out});
        torch::Tensor r = torch::randn({n, out});
        torch::Tensor wk0 = keras_layout(w0);
        REQUIRE(!wk0.is_contiguous());
        REQUIRE(wk0.t().is_contiguous());
        std::vector<torch::Tensor> runs;  // y, dx, dW, db: row-major W, then W in Keras' layout
        for (const torch::Tensor& w_start : {w0, wk0}) {
            torch::Tensor x = x0.clone().set_requires_grad(true);
            torch::Tensor w = w_start.detach().clone(at::MemoryFormat::Preserve).set_requires_grad(true);
            REQUIRE(w.strides() == w_start.strides());
            torch::Tensor b = bias ? b0.clone().set_requires_grad(true) : torch::Tensor();
            torch::Tensor y = dense_blocks(x, w, b);
            std::vector<torch::Tensor> inputs = {x, w};
            if (bias) inputs.push_back(b);
            std::vector<torch::Tensor> g = torch::autograd::grad({(y * r).sum()}, inputs);
            // The kernel's gradient comes in the kernel's layout: autograd adds it
            // into the parameter's gradient (a view of the flat buffer) in memory order.
            CHECK(g[1].strides() == w.strides());
            runs.insert(runs.end(), {y, g[0], g[1], bias ? g[2] : torch::zeros({1})});
        }
        // The same products with the other trans flags: OpenBLAS gives the same bytes.
        CHECK(torch::allclose(runs[0], runs[4], 1e-6, 1e-6));
        CHECK(torch::allclose(runs[1], runs[5], 1e-6, 1e-6));
        CHECK(torch::allclose(runs[2], runs[6], 1e-6, 1e-6));
        CHECK(torch::allclose(runs[3], runs[7], 1e-6, 1e-6));
        torch::NoGradGuard no_grad;  // inference: the forward alone, W still as it lies
        CHECK(same_bytes(dense_blocks(x0, wk0, bias ? b0 : torch::Tensor()), runs[4]));
    }
}

TEST_CASE("the optimizer's flat buffers keep a kernel in Keras' layout, its slots saved in logical order", "[keras-layout][model]") {
    OptimizerSpec spec;
    parse_optimizer(nlohmann::json::parse(R"({"type": "adam", "learning_rate": 0.1})"), "spec.json", spec);
    torch::manual_seed(3);
    torch::Tensor a0 = torch::randn({3, 5}), k0 = torch::randn({7, 4}), b0 = torch::randn({7});
    // The same parameters, the second row-major in `plain` and in Keras' layout in `keras`.
    auto params = [&](bool keras) {
        std::vector<Parameter> p = {{"a.weight", a0.clone()}, {"k.weight", keras ? keras_layout(k0) : k0.clone()},
                                    {"k.bias", b0.clone()}};
        for (Parameter& q : p) q.value.set_requires_grad(true);
        return p;
    };
    std::vector<Parameter> plain = params(false), keras = params(true);
    Optimizer o_plain(spec), o_keras(spec);
    o_plain.attach(plain);
    // k.weight wants its first byte at 2000 in a page: 500 floats, after a.weight's 15 in the buffer.
    o_keras.attach(keras, true, {{"k.weight", 2000}});
    const torch::Tensor& k = keras[1].value;
    CHECK(!k.is_contiguous());
    CHECK(k.t().is_contiguous());  // still Keras' layout, now in the flat buffer
    CHECK(k.grad().strides() == k.strides());
    CHECK(k.storage_offset() - o_keras.values().storage_offset() == 500);
    CHECK(o_keras.values().numel() == 500 + 28 + 7);
    CHECK(torch::equal(k, k0));
    CHECK(torch::equal(plain[1].value, k0));
    // Two steps on the same loss: the same weights, and the slots (state()) in logical order.
    torch::Tensor x = torch::randn({4, 6});
    for (int step = 0; step < 2; ++step)
        for (auto* pair : {&plain, &keras}) {
            Optimizer& o = pair == &plain ? o_plain : o_keras;
            std::vector<Parameter>& p = *pair;
            o.zero_grad();
            torch::Tensor h = torch::tanh(torch::linear(x.narrow(1, 0, 4), p[1].value, p[2].value));
            (h.sum() + p[0].value.square().sum()).backward();
            o.step();
        }
    for (size_t i = 0; i < 3; ++i) CHECK(torch::allclose(plain[i].value, keras[i].value, 0, 1e-6));
    auto state_plain = o_plain.state(), state_keras = o_keras.state();
    REQUIRE(state_plain.size() == 6);
    REQUIRE(state_keras.size() == 6);
    for (size_t i = 0; i < 6; ++i) {
        INFO(state_plain[i].first);
        CHECK(state_plain[i].first == state_keras[i].first);
        CHECK(state_plain[i].second.sizes() == state_keras[i].second.sizes());
        CHECK(torch::allclose(state_plain[i].second, state_keras[i].second, 0, 1e-6));
        CHECK(state_keras[i].second.abs().sum().item<float>() > 0);  // the test would see a slot left at zero
    }
    // A later attach (a new device) keeps the layout and the page offset under the slots.
    torch::Tensor before = state_keras[2].second.clone();  // optimizer.m.k.weight
    o_keras.attach(keras);
    CHECK(keras[1].value.storage_offset() - o_keras.values().storage_offset() == 500);
    CHECK(keras[1].value.t().is_contiguous());
    CHECK(torch::equal(o_keras.state()[2].second, before));
    CHECK(torch::allclose(keras[1].value, plain[1].value, 0, 1e-6));
}

TEST_CASE("a kernel whose bytes lie off a float boundary goes to the next boundary in its page", "[keras-layout][model]") {
    OptimizerSpec spec;
    parse_optimizer(nlohmann::json::parse(R"({"type": "sgd"})"), "spec.json", spec);
    // A .keras' stored member may put a kernel 2 bytes past a float boundary; the
    // copy is fast to 0-250 bytes past the source's offset in a page, slow to 2
    // bytes before it (bench/copy_offset.cpp): 2998 goes to 3000, 4094 to 0.
    for (auto [offset, floats] : {std::pair<int64_t, int64_t>{2998, 750}, {4094, 1024}, {3000, 750}, {1, 1}}) {
        INFO(offset);
        std::vector<Parameter> p = {{"a.weight", torch::zeros({3, 5})}, {"k.weight", torch::zeros({4, 7}).t()}};
        Optimizer o(spec);
        o.attach(p, true, {{"k.weight", offset}});
        // a.weight's 15 floats come first; k.weight at the first place at or past `floats` in a page.
        const int64_t at = p[1].value.storage_offset() - o.values().storage_offset();
        CHECK(at == (floats < 15 ? floats + 1024 : floats));
    }
}
