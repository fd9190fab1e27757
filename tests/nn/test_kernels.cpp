// Our kernels against libtorch. The max pooling (lib/nn/pool.cpp) against
// max_pool2d and relu: outputs and input gradients bitwise, with ties, NaNs
// and -inf, windows that leave rows and columns uncovered, channel counts off
// the vector width; the gradient of a bias before it. Dense on blocks (lib/nn/dense.cpp) against torch::linear,
// and the same bytes at any thread count. U8 pixels through the first
// Lambda's table (lib/nn/table.cpp) against converting, then evaluating.
#include <cstring>
#include <tuple>

#include "nn/dense.hpp"
#include "nn/network.hpp"
#include "nn/pool.hpp"
#include "nn/table.hpp"

// glog (through libtorch) defines CHECK too; Catch's is the one meant here.
#undef CHECK
#include <catch2/catch.hpp>
#include <torch/torch.h>

using namespace imgpipe::nn;

namespace {

bool same_bytes(const torch::Tensor& a, const torch::Tensor& b) {
    auto format = a.dim() == 4 ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
    torch::Tensor x = a.contiguous(format), y = b.contiguous(format);
    return x.sizes() == y.sizes() && std::memcmp(x.data_ptr(), y.data_ptr(), size_t(x.nbytes())) == 0;
}

// Values from a few levels, so that windows tie often; some NaN and -inf.
torch::Tensor tied_input(int64_t n, int64_t c, int64_t h, int64_t w) {
    torch::Tensor x = (torch::randint(-3, 4, {n, h, w, c}) / 2.0).to(torch::kFloat);
    x.view(-1).index_put_({torch::randint(0, x.numel(), {3})}, std::nanf(""));
    x.view(-1).index_put_({torch::randint(0, x.numel(), {3})}, -INFINITY);
    return x.permute({0, 3, 1, 2});  // channels-last storage, as the network's activations
}

}  // namespace

TEST_CASE("max pooling with its ReLU is libtorch's, values and gradients bitwise", "[grad]") {
    torch::manual_seed(3);
    for (auto [c, h, w, kh, kw] : {std::tuple{5, 7, 9, 2, 2}, {32, 8, 8, 2, 2}, {3, 9, 10, 3, 2}, {17, 4, 4, 1, 1},
                                   {8, 6, 6, 3, 3}}) {
        for (bool relu : {false, true}) {
            INFO("c " << c << " h " << h << " w " << w << " window " << kh << "x" << kw << " relu " << relu);
            torch::Tensor x = tied_input(4, c, h, w);
            REQUIRE(max_pool_relu_runs(x, kh, kw));
            torch::Tensor ours_in = x.detach().clone(at::MemoryFormat::ChannelsLast).set_requires_grad(true);
            torch::Tensor torch_in = x.detach().clone(at::MemoryFormat::ChannelsLast).set_requires_grad(true);
            torch::Tensor ours = max_pool_relu(ours_in, kh, kw, relu);
            torch::Tensor expected = torch::max_pool2d(torch_in, {kh, kw}, {kh, kw});
            if (relu) expected = torch::relu(expected);
            CHECK(same_bytes(ours, expected));
            // a gradient with a -0 in it: libtorch adds it to zero (+0)
            torch::Tensor r = torch::randn(expected.sizes());  // NCHW: the kernel takes any layout
            r.view(-1)[0] = -0.0f;
            ours.backward(r);
            expected.backward(r);
            CHECK(same_bytes(ours_in.grad(), torch_in.grad()));
            torch::NoGradGuard no_grad;  // inference: the same values without the argmax
            CHECK(same_bytes(max_pool_relu(x, kh, kw, relu), expected));
        }
    }
}

// The bias a convolution added before the pooling: its gradient is the sum of
// the input gradient per channel, summed in an order of its own (close, not
// bitwise), and the same bytes at any thread count.
TEST_CASE("max pooling sums the gradient of the bias before it", "[grad]") {
    const int threads = at::get_num_threads();
    torch::manual_seed(6);
    for (auto [n, c, h, w, kh, kw] : {std::tuple{4, 5, 7, 9, 2, 2}, {33, 32, 12, 12, 2, 2}, {3, 17, 9, 10, 3, 2}}) {
        for (bool relu : {false, true}) {
            INFO("n " << n << " c " << c << " h " << h << " w " << w << " window " << kh << "x" << kw << " relu " << relu);
            torch::Tensor b0 = torch::randn({c});  // x0: a convolution's output, the bias added
            torch::Tensor x0 = tied_input(n, c, h, w).nan_to_num(0, 0, 0) + b0.view({1, -1, 1, 1});
            torch::Tensor r = torch::randn({n, c, h / kh, w / kw});
            std::vector<torch::Tensor> runs;  // input gradient, bias gradient at 1 and 2 threads
            for (int t : {1, 2}) {
                at::set_num_threads(t);
                torch::Tensor x = x0.clone(at::MemoryFormat::ChannelsLast).set_requires_grad(true);
                torch::Tensor b = b0.clone().set_requires_grad(true);
                (max_pool_relu(x, kh, kw, relu, b) * r).sum().backward();
                runs.push_back(x.grad());
                runs.push_back(b.grad());
            }
            at::set_num_threads(threads);
            CHECK(same_bytes(runs[0], runs[2]));
            CHECK(same_bytes(runs[1], runs[3]));
            CHECK(torch::allclose(runs[1], runs[0].sum({0, 2, 3}), 1e-5, 1e-5));
            // libtorch's own route: the bias added (x0 + 0), then pooled
            torch::Tensor b = b0.clone().set_requires_grad(true);
            torch::Tensor y = torch::max_pool2d(x0 + (b - b0).view({1, -1, 1, 1}), {kh, kw}, {kh, kw});
            ((relu ? torch::relu(y) : y) * r).sum().backward();
            CHECK(torch::allclose(runs[1], b.grad(), 1e-5, 1e-5));
        }
    }
}

TEST_CASE("max pooling leaves to libtorch what its kernel does not run", "[grad]") {
    torch::Tensor nchw = torch::randn({2, 3, 4, 4});
    CHECK_FALSE(max_pool_relu_runs(nchw, 2, 2));  // not channels-last
    torch::Tensor x = nchw.contiguous(at::MemoryFormat::ChannelsLast);
    CHECK(max_pool_relu_runs(x, 2, 2));
    CHECK_FALSE(max_pool_relu_runs(x.to(torch::kDouble), 2, 2));
    CHECK_FALSE(max_pool_relu_runs(x, 5, 2));  // larger than the input
    CHECK_FALSE(max_pool_relu_runs(torch::randn({1, 1, 20, 20}), 16, 16));  // past the byte argmax
}

TEST_CASE("Dense on blocks is torch::linear, the same bytes at any thread count", "[grad]") {
    // Debian's libtorch cannot even load without the system BLAS's sgemm_; another
    // libtorch (make TORCH=) may keep its BLAS to itself. Then this kernel goes
    // untested, and that is a failure, not a pass.
    if (!dense_blocks_runs(torch::ones({2, 2}), torch::ones({2, 2})))
        FAIL("no sgemm_ in this process: Dense's blocked kernel cannot be tested (Debian's libtorch-dev exports "
             "libblas.so.3's; this libtorch hides its BLAS)");
    const int threads = at::get_num_threads();
    torch::manual_seed(4);
    for (auto [n, in, out, bias] : {std::tuple{33, 1600, 256, true}, {20, 70, 3, false}, {128, 1100, 130, true}}) {
        INFO("x [" << n << ", " << in << "], " << out << " units, bias " << bias);
        torch::Tensor x0 = torch::randn({n, in}), w0 = torch::randn({out, in}) / 30, b0 = torch::randn({out});
        torch::Tensor r = torch::randn({n, out});
        std::vector<torch::Tensor> runs;  // y, dx, dw, db at 1 and at 2 threads
        for (int t : {1, 2}) {
            at::set_num_threads(t);
            torch::Tensor x = x0.clone().set_requires_grad(true), w = w0.clone().set_requires_grad(true);
            torch::Tensor b = bias ? b0.clone().set_requires_grad(true) : torch::Tensor();
            torch::Tensor y = dense_blocks(x, w, b);
            (y * r).sum().backward();
            for (const torch::Tensor& v : {y, x.grad(), w.grad(), bias ? b.grad() : torch::zeros({1})}) runs.push_back(v);
        }
        at::set_num_threads(threads);
        for (size_t i = 0; i < 4; ++i) CHECK(same_bytes(runs[i], runs[i + 4]));
        torch::Tensor x = x0.clone().set_requires_grad(true), w = w0.clone().set_requires_grad(true);
        torch::Tensor b = bias ? b0.clone().set_requires_grad(true) : torch::Tensor();
        torch::Tensor y = torch::linear(x, w, b);
        (y * r).sum().backward();
        CHECK(torch::allclose(runs[0], y, 1e-4, 1e-4));
        CHECK(torch::allclose(runs[1], x.grad(), 1e-4, 1e-4));
        CHECK(torch::allclose(runs[2], w.grad(), 1e-4, 1e-4));
        if (bias) CHECK(torch::allclose(runs[3], b.grad(), 1e-4, 1e-4));
        torch::NoGradGuard no_grad;  // inference: the forward alone
        CHECK(same_bytes(dense_blocks(x0, w0, b), runs[0]));
    }
}

TEST_CASE("U8 pixels through the input Lambda's table are the bytes of converting, then evaluating", "[lambda]") {
    torch::manual_seed(5);
    torch::Tensor pixels = torch::randint(0, 256, {2, 5, 7, 3}).to(torch::kByte);
    pixels.view(-1).index_put_({torch::tensor({0, 1})}, torch::tensor({0, 255}).to(torch::kByte));
    auto spec_of = [](const std::string& expr, bool conv) {
        std::string layers = R"({"type": "Lambda", "function": ")" + expr + "\"}";
        if (conv) layers += R"(, {"type": "Conv2D", "filters": 4, "kernel_size": 3, "activation": "relu"},
                             {"type": "Flatten"}, {"type": "Dense", "units": 3})";
        return parse_spec(R"({"input_shape": [5, 7, 3], "layers": [)" + layers + "]}", "test");
    };
    for (const char* expr : {"x/255.", "(x/255. - 0.5)*2", "x*2 - 1", "sqrt(x)/16", "-x", "clip(x, 10, 200)/255", "2"})
        for (bool conv : {false, true}) {
            INFO(expr << (conv ? ", then a convolution and Dense" : ""));
            Network net(spec_of(expr, conv), 7);
            torch::Tensor from_bytes = net.forward(pixels, false).y, from_floats = net.forward(pixels.to(torch::kFloat), false).y;
            CHECK(same_bytes(from_bytes, from_floats));
        }
    // transcendental functions: the table's values come from the vectorized path
    Network net(spec_of("tanh(x/64) + exp(-x/50)", false), 7);
    CHECK(torch::allclose(net.forward(pixels, false).y, net.forward(pixels.to(torch::kFloat), false).y, 1e-6, 1e-6));
    // the look-up itself, any shape, any layout of the bytes
    torch::Tensor table = torch::arange(256, torch::kFloat).neg();
    torch::Tensor strided = pixels.permute({0, 3, 1, 2});
    CHECK(same_bytes(look_up_bytes(table, strided), strided.to(torch::kFloat).neg()));
}
