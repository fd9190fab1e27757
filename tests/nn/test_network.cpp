// The libtorch network: every layer's gradient against central finite
// differences in double precision, Keras' shapes, and the model file.
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <limits>

#include "cli/error.hpp"
#include "cli/io.hpp"
#include "nn/collective.hpp"
#include "nn/engine.hpp"
#include "stream/feed.hpp"
#include "nn/network.hpp"
#include "nn/spec.hpp"
#include "spec_text.hpp"

// glog (through libtorch) defines CHECK too; Catch's is the one meant here.
#undef CHECK
#include <catch2/catch.hpp>
#include <torch/types.h>

using namespace imgpipe;
using namespace imgpipe::nn;

namespace {

// Max |analytic - numeric| / (1 + |numeric|) over the input and every trainable
// weight, for the scalar sum(output * r) with a fixed random r.
double gradient_error(const std::string& spec_json, bool training = true, double input_offset = 0) {
    Spec spec = parse_spec(spec_json, "test");
    Network net(spec, 7, torch::kDouble);
    torch::manual_seed(3);
    std::vector<int64_t> shape = {2};
    shape.insert(shape.end(), spec.input_shape.begin(), spec.input_shape.end());
    torch::Tensor x = (torch::rand(shape, torch::kDouble) * 2 - 1 + input_offset).set_requires_grad(true);
    std::vector<int64_t> out_shape = {2};
    for (int64_t d : spec.output_shape()) out_shape.push_back(d);
    torch::Tensor r = torch::randn(out_shape, torch::kDouble);
    auto objective = [&]() { return (net.forward(x, training).y * r).sum(); };
    REQUIRE(net.forward(x, training).y.sizes().vec() == out_shape);
    objective().backward();
    std::vector<torch::Tensor> wrt = {x};
    for (Parameter& p : net.parameters())
        if (p.trainable) wrt.push_back(p.value);
    double worst = 0;
    torch::NoGradGuard no_grad;
    for (torch::Tensor& t : wrt) {
        torch::Tensor analytic = t.grad().clone();
        auto flat = t.view({-1});
        auto g = analytic.view({-1});
        for (int64_t i = 0; i < flat.numel(); ++i) {
            double old = flat[i].item<double>(), h = 1e-6;
            flat[i] = old + h;
            double up = objective().item<double>();
            flat[i] = old - h;
            double down = objective().item<double>();
            flat[i] = old;
            double numeric = (up - down) / (2 * h);
            worst = std::max(worst, std::fabs(g[i].item<double>() - numeric) / (1 + std::fabs(numeric)));
        }
    }
    return worst;
}

std::string temp_path(const std::string& name) {
    return std::string(std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp") + "/nn_test_" +
           std::to_string(::getpid()) + "_" + name;
}

Frame batch_of(int n, const std::vector<int64_t>& sample, DType dtype, int classes) {
    Frame f;
    std::vector<int64_t> shape = {n};
    shape.insert(shape.end(), sample.begin(), sample.end());
    Tensor x("x", dtype, shape);
    for (int64_t i = 0; i < x.elements(); ++i) {
        if (dtype == DType::U8) x.data[size_t(i)] = uint8_t((i * 37) % 256);
        else x.values<float>()[i] = float((i * 37) % 256) / 255.0f;
    }
    Tensor y("y", DType::I32, {n});
    for (int i = 0; i < n; ++i) y.values<int32_t>()[i] = i % classes;
    f.tensors = {x, y};
    f.metadata["format"] = kStreamFormat;
    std::vector<std::string> names;
    for (int c = 0; c < classes; ++c) names.push_back("class" + std::to_string(c));
    f.set_classes(names);
    return f;
}

const char* kSmallCnn = R"({"input_shape": [8, 8, 3], "layers": [
  {"type": "Lambda", "function": "x/255."},
  {"type": "Conv2D", "filters": 4, "kernel_size": 3, "padding": "same", "activation": "relu"},
  {"type": "BatchNormalization"},
  {"type": "MaxPooling2D"},
  {"type": "Flatten"},
  {"type": "Dense", "units": 3, "activation": "softmax"}],
  "loss": "categorical_crossentropy", "metrics": ["accuracy"]})";

}  // namespace

TEST_CASE("gradients of convolutions match finite differences", "[grad]") {
    CHECK(gradient_error(one_layer("[5, 6, 3]", R"({"type": "Conv2D", "filters": 2, "kernel_size": 3, "activation": "tanh"})")) < 1e-6);
    CHECK(gradient_error(one_layer("[5, 6, 2]", R"({"type": "Conv2D", "filters": 2, "kernel_size": [3, 2], "strides": 2, "padding": "same", "activation": "sigmoid"})")) < 1e-6);
    CHECK(gradient_error(one_layer("[4, 4, 2]", R"({"type": "Conv2D", "filters": 3, "kernel_size": 2, "use_bias": false, "activation": "elu"})")) < 1e-6);
    CHECK(gradient_error(one_layer("[3, 4, 2]", R"({"type": "Conv2DTranspose", "filters": 2, "kernel_size": 3, "strides": 2, "padding": "same"})")) < 1e-6);
    CHECK(gradient_error(one_layer("[3, 3, 2]", R"({"type": "Conv2DTranspose", "filters": 2, "kernel_size": 3, "strides": 2, "activation": "tanh"})")) < 1e-6);
    CHECK(gradient_error(one_layer("[3, 3, 1]", R"({"type": "Conv2DTranspose", "filters": 1, "kernel_size": 1, "strides": 2, "padding": "valid"})")) < 1e-6);
}

TEST_CASE("gradients of pooling, upsampling and reshaping layers match finite differences", "[grad]") {
    CHECK(gradient_error(one_layer("[6, 6, 2]", R"({"type": "MaxPooling2D"})")) < 1e-6);
    CHECK(gradient_error(one_layer("[5, 6, 2]", R"({"type": "MaxPooling2D", "pool_size": 3, "strides": 2, "padding": "same"})")) < 1e-6);
    CHECK(gradient_error(one_layer("[5, 5, 2]", R"({"type": "AveragePooling2D"})")) < 1e-6);
    CHECK(gradient_error(one_layer("[5, 4, 2]", R"({"type": "AveragePooling2D", "pool_size": 3, "strides": 2, "padding": "same"})")) < 1e-6);
    CHECK(gradient_error(one_layer("[3, 4, 2]", R"({"type": "GlobalAveragePooling2D"})")) < 1e-6);
    CHECK(gradient_error(one_layer("[2, 3, 2]", R"({"type": "UpSampling2D"})")) < 1e-6);
    CHECK(gradient_error(one_layer("[2, 3, 2]", R"({"type": "UpSampling2D", "size": [2, 3], "interpolation": "bilinear"})")) < 1e-6);
    CHECK(gradient_error(one_layer("[2, 3, 2]", R"({"type": "Flatten"}, {"type": "Dense", "units": 3, "activation": "softmax"})")) < 1e-6);
    CHECK(gradient_error(one_layer("[12]", R"({"type": "Reshape", "target_shape": [2, -1, 3]}, {"type": "Conv2D", "filters": 1, "kernel_size": 2})")) < 1e-6);
    CHECK(gradient_error(one_layer("[3, 2, 2]", R"({"type": "Rescaling", "scale": 0.5, "offset": -1}, {"type": "Activation", "activation": "softmax"})")) < 1e-6);
}

TEST_CASE("gradients of Dense, activations and batch normalization match finite differences", "[grad]") {
    for (const char* act : {"relu", "sigmoid", "softmax", "tanh", "linear", "elu", "leaky_relu"})
        CHECK(gradient_error(one_layer("[5]", std::string(R"({"type": "Dense", "units": 4, "activation": ")") + act + "\"}")) < 1e-6);
    CHECK(gradient_error(one_layer("[3, 3, 2]", R"({"type": "BatchNormalization"})")) < 1e-5);
    CHECK(gradient_error(one_layer("[4]", R"({"type": "BatchNormalization", "center": false})")) < 1e-5);
    CHECK(gradient_error(one_layer("[3, 3, 2]", R"({"type": "BatchNormalization"})"), false) < 1e-6);
    CHECK(gradient_error(one_layer("[4]", R"({"type": "Dropout", "rate": 0.5})"), false) < 1e-6);
}

TEST_CASE("gradients of Lambda expressions match finite differences", "[grad][lambda]") {
    for (const char* e : {"x**2", "x/255.", "(x-0.5)*2", "abs(x)", "tanh(x)", "sigmoid(x)", "relu(x)", "-x**3 + 2*x",
                          "clip(x, -0.5, 0.5)", "minimum(x, 0.25)", "maximum(x, x**2)", "square(x) - exp(x)", "2**x"})
        CHECK(gradient_error(one_layer("[2, 2, 1]", std::string(R"({"type": "Lambda", "function": ")") + e + "\"}")) < 1e-6);
    for (const char* e : {"log(x)", "sqrt(x)", "x**0.5 / (1 + x)"})  // positive inputs only
        CHECK(gradient_error(one_layer("[2, 2, 1]", std::string(R"({"type": "Lambda", "function": ")") + e + "\"}"), true, 2) < 1e-6);
}

TEST_CASE("Lambda values agree with the scalar evaluator", "[lambda]") {
    Expr e = parse_expr("clip((x-0.5)*2, -0.9, 0.9) + sqrt(abs(x)) - minimum(x, 0) * log(1 + x**2)");
    torch::Tensor x = torch::linspace(-2, 2, 41, torch::kDouble);
    torch::Tensor y = evaluate(e, x);
    for (int64_t i = 0; i < x.numel(); ++i) CHECK(y[i].item<double>() == Approx(eval_expr(e, x[i].item<double>())));
}

TEST_CASE("Flatten is channels-last, as Keras flattens", "[shape]") {
    Spec spec = parse_spec(one_layer("[2, 2, 3]", R"({"type": "Flatten"})"), "t");
    Network net(spec, 1);
    torch::Tensor x = torch::arange(12, torch::kFloat).reshape({1, 2, 2, 3});
    CHECK(torch::equal(net.forward(x, false).y, torch::arange(12, torch::kFloat).reshape({1, 12})));
}

TEST_CASE("Keras' initializers: Glorot uniform kernels within their limit, zero biases, seeded", "[init]") {
    Spec spec = parse_spec(one_layer("[10, 10, 3]", R"({"type": "Conv2D", "filters": 16, "kernel_size": 3})"), "t");
    Network a(spec, 42), b(spec, 42), c(spec, 43);
    torch::Tensor w = a.parameters()[0].value;
    double limit = std::sqrt(6.0 / (9 * 3 + 9 * 16));
    CHECK(w.abs().max().item<double>() <= limit);
    CHECK(w.abs().max().item<double>() > 0.9 * limit);
    CHECK(std::fabs(w.mean().item<double>()) < 0.02);
    CHECK(a.parameters()[1].value.abs().sum().item<double>() == 0);
    CHECK(torch::equal(w, b.parameters()[0].value));
    CHECK(!torch::equal(w, c.parameters()[0].value));
}

TEST_CASE("Dropout drops at its rate and rescales the survivors", "[shape]") {
    Spec spec = parse_spec(one_layer("[10000]", R"({"type": "Dropout", "rate": 0.3})"), "t");
    Network net(spec, 1);
    torch::Tensor x = torch::ones({1, 10000});
    torch::Tensor y = net.forward(x, true).y;
    double kept = (y > 0).to(torch::kFloat).mean().item<double>();
    CHECK(kept == Approx(0.7).margin(0.03));
    CHECK(y.max().item<double>() == Approx(1 / 0.7));
    CHECK(torch::equal(net.forward(x, false).y, x));
}

TEST_CASE("a model trains, saves atomically and loads back identical", "[model]") {
    Overrides none;
    auto model = Model::create(kSmallCnn, "small.json", none, 5);
    Frame batch = batch_of(12, {8, 8, 3}, DType::U8, 3);
    model->check_batch(batch, "b", true);
    Scores first, last;
    model->train_batch(batch, first);
    for (int i = 0; i < 30; ++i) {
        last.clear();
        model->train_batch(batch, last);
    }
    CHECK(last.mean("loss") < first.mean("loss"));
    CHECK(model->metric_names() == std::vector<std::string>{"accuracy"});
    CHECK(model->classes() == std::vector<std::string>{"class0", "class1", "class2"});
    std::string path = temp_path("m.model");
    model->save(path, R"({"epoch": 3})");
    auto loaded = Model::load(path);
    CHECK(loaded->state_json() == R"({"epoch": 3})");
    CHECK(loaded->classes() == model->classes());
    Tensor a = model->predict_batch(batch), b = loaded->predict_batch(batch);
    CHECK(a.shape == std::vector<int64_t>{12, 3});
    CHECK(a.data == b.data);
    // the optimizer state came back too: one more step is the same step
    Scores s1, s2;
    model->train_batch(batch, s1);
    loaded->train_batch(batch, s2);
    CHECK(s1.mean("loss") == Approx(s2.mean("loss")).epsilon(1e-6));
    CHECK(model->predict_batch(batch).data == loaded->predict_batch(batch).data);
    // the input dtype is now fixed: F32 is refused, naming both
    Frame floats = batch_of(2, {8, 8, 3}, DType::F32, 3);
    CHECK_THROWS_WITH(loaded->check_batch(floats, "val: frame 1", true),
                      Catch::Contains("x is F32 [2,8,8,3] but the model was trained on U8 [*,8,8,3]"));
    Frame wrong = batch_of(2, {8, 9, 3}, DType::U8, 3);
    CHECK_THROWS_WITH(loaded->check_batch(wrong, "s", true), Catch::Contains("x is U8 [2,8,9,3] but the model takes"));
    Frame labels = batch_of(2, {8, 8, 3}, DType::U8, 3);
    labels.get("y").values<int32_t>()[1] = 7;
    CHECK_THROWS_WITH(loaded->check_batch(labels, "s", true), Catch::Contains("label 7 is out of range"));
    std::remove(path.c_str());
}

TEST_CASE("a model file, a stream file and a pipe refuse the same damage in the same words", "[model][errors][feed]") {
    // One framing step (read_frame) under Model::load, BatchFeed's index and FrameReader.
    Overrides none;
    auto model = Model::create(kSmallCnn, "small.json", none, 5);
    std::string path = temp_path("framing.model");
    model->save(path, "{}");
    const std::vector<uint8_t> model_bytes = read_file(path);
    const std::vector<uint8_t> stream_bytes = encode_frame(batch_of(2, {8, 8, 3}, DType::U8, 3));
    auto error_of = [](const std::function<void()>& f) -> std::string {
        try {
            f();
        } catch (const DataError& e) {
            return e.what();
        }
        return "accepted";
    };
    auto pipe_words = [&](const std::vector<uint8_t>& bytes) {
        write_file_atomic(path, bytes.data(), bytes.size());
        return error_of([&] {
            Input in(path);
            FrameReader reader(in, false);
            Frame f;
            while (reader.read(f)) {
            }
        });
    };
    auto damaged = [](const std::vector<uint8_t>& good) {
        std::vector<std::vector<uint8_t>> out = {
            {good.begin(), good.begin() + 5},                // cut in the length prefix
            {'G', 'I', 'F', '8', '9', 'a', 0, 0, 0, 0},      // a foreign start
            {good.begin(), good.begin() + 8 + 40},           // cut in the header
            {good.begin(), good.end() - 7}};                 // cut in the data
        return out;
    };
    for (const std::vector<uint8_t>& bytes : damaged(model_bytes)) {
        std::string words = pipe_words(bytes);
        CHECK(words != "accepted");
        CHECK(error_of([&] { Model::load(path); }) == words);
    }
    for (const std::vector<uint8_t>& bytes : damaged(stream_bytes)) {
        std::string words = pipe_words(bytes);
        CHECK(error_of([&] { BatchFeed(path, FeedOptions{}); }) == words);
    }
    // After a whole frame, the same 3 bytes: a stream's second frame is cut, a model file padded.
    std::vector<uint8_t> padded = model_bytes;
    padded.insert(padded.end(), 3, 0);
    CHECK(pipe_words(padded) == "truncated frame (3 of 8 length bytes)");
    CHECK(error_of([&] { Model::load(path); }) == "3 trailing bytes after the frame");
    padded = stream_bytes;
    padded.insert(padded.end(), 3, 0);
    write_file_atomic(path, padded.data(), padded.size());
    CHECK(error_of([&] { BatchFeed(path, FeedOptions{}); }) == "truncated frame (3 of 8 length bytes)");
    std::remove(path.c_str());
}

TEST_CASE("bad model files are named errors", "[model][errors]") {
    Overrides none;
    auto model = Model::create(kSmallCnn, "small.json", none, 5);
    std::string path = temp_path("good.model");
    model->save(path, "{}");
    std::vector<uint8_t> bytes = read_file(path);
    auto expect = [&](const std::vector<uint8_t>& data, const std::string& message) {
        std::string p = temp_path("bad.model");
        write_file_atomic(p, data.data(), data.size());
        try {
            Model::load(p);
            FAIL("loaded a bad model file");
        } catch (const DataError& e) {
            CHECK_THAT(e.what(), Catch::Contains(message));
        }
        std::remove(p.c_str());
    };
    expect(std::vector<uint8_t>(bytes.begin(), bytes.begin() + bytes.size() / 2), "truncated frame (");
    expect(std::vector<uint8_t>{'G', 'I', 'F', '8', '9', 'a', 0, 0, 0, 0}, "not safetensors (starts with 'GIF89a\\x00\\x00')");
    std::string text(bytes.begin(), bytes.end());
    size_t at = text.find("imgpipe-model/1");
    REQUIRE(at != std::string::npos);
    std::vector<uint8_t> newer = bytes;
    newer[at + 14] = '2';
    expect(newer, "model format \"imgpipe-model/2\" is newer than this imgpipe reads");
    Frame other;
    other.tensors.push_back(Tensor("weight", DType::F32, {2}));
    other.metadata["format"] = "pt";
    std::vector<uint8_t> foreign = encode_frame(other);
    expect(foreign, "not an imgpipe model file");
    CHECK_THROWS_AS(Model::load(temp_path("missing.model")), NoInputError);
    std::remove(path.c_str());
}

TEST_CASE("the CUDA device is refused clearly when absent", "[model]") {
    if (cuda_available()) {
        WARN("skipped: CUDA is available here, so its absence cannot be seen");
        return;
    }
    Overrides none;
    auto model = Model::create(kSmallCnn, "small.json", none, 5);
    CHECK_THROWS_WITH(model->to_device("cuda"), Catch::Contains("CUDA is not available"));
}

TEST_CASE("targets: class indices, one-hot F32 rows and F32 columns give the same loss", "[model]") {
    const char* spec = R"({"input_shape": [4], "layers": [{"type": "Dense", "units": 3, "activation": "softmax"}],
                          "loss": "categorical_crossentropy"})";
    Frame labels = batch_of(6, {4}, DType::F32, 3);
    Frame onehot = labels;
    Tensor y("y", DType::F32, {6, 3});
    for (int i = 0; i < 6; ++i) y.values<float>()[i * 3 + i % 3] = 1;
    onehot.get("y") = y;
    for (const char* loss : {"categorical_crossentropy", "sparse_categorical_crossentropy"}) {
        Overrides o;
        o.loss = loss;
        auto model = Model::create(spec, "t", o, 3);
        Scores a, b;
        model->check_batch(labels, "l", true);
        model->check_batch(onehot, "o", true);
        model->evaluate_batch(labels, a);
        model->evaluate_batch(onehot, b);
        CHECK(a.mean("loss") == Approx(b.mean("loss")));
        CHECK(a.mean("accuracy") == Approx(b.mean("accuracy")));
    }
    const char* binary = R"({"input_shape": [4], "layers": [{"type": "Dense", "units": 1, "activation": "sigmoid"}]})";
    auto model = Model::create(binary, "t", {}, 3);
    CHECK(model->loss_name() == "binary_crossentropy");
    Frame ints = batch_of(6, {4}, DType::F32, 2);
    Frame floats = ints;
    Tensor yf("y", DType::F32, {6});
    for (int i = 0; i < 6; ++i) yf.values<float>()[i] = float(i % 2);
    floats.get("y") = yf;
    Scores a, b;
    model->check_batch(floats, "f", true);
    model->evaluate_batch(ints, a);
    model->evaluate_batch(floats, b);
    CHECK(a.mean("loss") == Approx(b.mean("loss")));
}

// From a batch of 16, Dense and Conv2DTranspose take another route through
// libtorch (oneDNN convolutions; Dense only without an optimized BLAS, both
// routes tried here); it must agree with the small-batch one.
TEST_CASE("large batches compute Dense and Conv2DTranspose as small ones do", "[grad][shape]") {
    const bool blas = optimized_blas();
    for (bool dense_blas : {false, true}) {
        set_dense_via_blas(dense_blas);
        for (const char* layer : {R"({"type": "Flatten"}, {"type": "Dense", "units": 5, "activation": "tanh"})",
                                  R"({"type": "Conv2DTranspose", "filters": 3, "kernel_size": 3, "strides": 2, "padding": "same"})",
                                  R"({"type": "Conv2DTranspose", "filters": 2, "kernel_size": [2, 3], "strides": [3, 1]})",
                                  R"({"type": "Conv2DTranspose", "filters": 2, "kernel_size": 1, "strides": 2})"}) {
            Spec spec = parse_spec(one_layer("[3, 4, 2]", layer), "t");
            Network net(spec, 9);
            torch::manual_seed(1);
            torch::Tensor x = torch::rand({20, 3, 4, 2});
            torch::Tensor whole = net.forward(x, true).y;
            for (int64_t i = 0; i < 20; i += 4)
                CHECK(torch::allclose(whole.narrow(0, i, 4), net.forward(x.narrow(0, i, 4), true).y, 1e-5, 1e-5));
            // and its gradients, in double (the same formula through libtorch's reference kernels)
            Network dnet(spec, 9, torch::kDouble);
            torch::Tensor xd = x.to(torch::kDouble).set_requires_grad(true);
            torch::Tensor r = torch::randn_like(whole).to(torch::kDouble);
            (dnet.forward(xd, true).y * r).sum().backward();
            torch::Tensor big = xd.grad().clone();
            torch::Tensor wbig = dnet.parameters()[0].value.grad().clone();
            xd.mutable_grad() = torch::Tensor();
            dnet.parameters()[0].value.mutable_grad() = torch::Tensor();
            for (int64_t i = 0; i < 20; i += 4)
                (dnet.forward(xd.narrow(0, i, 4), true).y * r.narrow(0, i, 4)).sum().backward();
            CHECK(torch::allclose(big, xd.grad(), 1e-10, 1e-10));
            CHECK(torch::allclose(wbig, dnet.parameters()[0].value.grad(), 1e-10, 1e-10));
        }
    }
    set_dense_via_blas(blas);
}

// Conv2D(relu) -> MaxPooling2D runs as conv, pooling, relu (a quarter of the
// values), and the pooling's backward sums the convolution's bias gradient:
// the outputs and the other gradients must be those of the written order,
// bitwise, and the bias's gradient the same sum in another order. Also with a
// linear convolution, on a batch for oneDNN, and through a padded pooling that
// libtorch runs (the bias's gradient through autograd there).
TEST_CASE("a ReLU and a bias gradient moved past the max pooling change no value and no gradient", "[grad]") {
    for (auto [activation, pool, batch] :
         {std::tuple{"relu", R"("pool_size": 2)", 5}, {"linear", R"("pool_size": 2)", 5},
          {"relu", R"("pool_size": 2)", 17}, {"relu", R"("pool_size": 2, "padding": "same")", 5}}) {
        INFO(activation << ", " << pool << ", batch " << batch);
        std::string layers = std::string(R"({"type": "Conv2D", "filters": 4, "kernel_size": 3, "activation": ")") +
                             activation + R"("}, {"type": "MaxPooling2D", )" + pool + "}";
        Spec spec = parse_spec(one_layer("[9, 8, 3]", layers), "t");
        Network net(spec, 3);
        torch::manual_seed(2);
        torch::Tensor x = torch::randn({batch, 9, 8, 3});
        torch::Tensor y = net.forward(x, true).y;
        torch::Tensor r = torch::randn_like(y);
        (y * r).sum().backward();
        torch::Tensor w = net.parameters()[0].value.detach().clone().set_requires_grad(true);
        torch::Tensor b = net.parameters()[1].value.detach().clone().set_requires_grad(true);
        torch::Tensor conv = torch::conv2d(x.permute({0, 3, 1, 2}), w, b);
        if (std::string(activation) == "relu") conv = torch::relu(conv);
        if (std::string(pool).find("same") != std::string::npos)  // 7x6: one row of -inf below
            conv = torch::constant_pad_nd(conv, {0, 0, 0, 1}, -std::numeric_limits<double>::infinity());
        torch::Tensor expected = torch::max_pool2d(conv, 2, 2).permute({0, 2, 3, 1}).contiguous();
        (expected * r).sum().backward();
        CHECK(torch::equal(y, expected));
        CHECK(torch::equal(net.parameters()[0].value.grad(), w.grad()));
        CHECK(torch::allclose(net.parameters()[1].value.grad(), b.grad(), 1e-5, 1e-5));
    }
}

// Two identical ranks, simulated: a part's sum over them is twice it. Records
// each part started, and whether the gradients before it in the flat buffer
// (the first layers', which backward computes last) were still zero then.
class TwinRanks final : public Collective {
public:
    TwinRanks() { placement_.size = 2; }
    void start_sum(const at::Tensor& part) override {
        at::Tensor before = part.as_strided({part.storage_offset()}, {1}, 0);
        parts.push_back({part.storage_offset(), part.numel(), before.abs().sum().item<double>() == 0});
        part.mul_(2);
    }
    void finish_average(at::Tensor& flat) override {
        finished_numel = flat.numel();
        flat.div_(2);
    }
    struct Part { int64_t offset, numel; bool before_zero; };
    std::vector<Part> parts;
    int64_t finished_numel = 0;
};

TEST_CASE("gradients are averaged in buckets that start during backward, last layers first", "[distributed]") {
    // 448 convolution parameters, then 524,288 + 128 + 387 of Dense: past the
    // first bucket's 1 MB, so the Dense layers' sum starts before the convolution's gradient exists.
    const char* spec = R"({"input_shape": [16, 16, 3], "layers": [
      {"type": "Lambda", "function": "x/255."},
      {"type": "Conv2D", "filters": 16, "kernel_size": 3, "padding": "same", "activation": "relu"},
      {"type": "Flatten"}, {"type": "Dense", "units": 128, "activation": "relu"},
      {"type": "Dense", "units": 3, "activation": "softmax"}], "loss": "sparse_categorical_crossentropy", "optimizer": "sgd"})";
    Frame batch = batch_of(4, {16, 16, 3}, DType::U8, 3);
    auto alone = Model::create(spec, "t", {}, 7);
    auto twin = Model::create(spec, "t", {}, 7);
    TwinRanks world;
    twin->join(world);
    for (int step = 0; step < 2; ++step) {
        world.parts.clear();
        Scores a, b;
        alone->train_batch(batch, a);
        twin->train_batch(batch, b);
        REQUIRE(world.parts.size() == 2);
        CHECK(world.parts[0].offset == 448);  // the Dense layers: started first...
        CHECK(world.parts[0].before_zero);     // ...while backward had not reached the convolution
        CHECK(world.parts[1].offset == 0);
        CHECK(world.parts[1].numel == 448);
        CHECK(world.parts[0].offset + world.parts[0].numel == world.finished_numel);
        // twice the sum, halved: the same step as one process, bit for bit
        CHECK(alone->fingerprint() == twin->fingerprint());
    }
}
