// The model spec: our compact form and Keras' JSON (2 and 3) resolve to the
// same layers; every mistake is named with the layer and the key.
#include <catch2/catch.hpp>

#include <cmath>

#include "cli/error.hpp"
#include "nn/engine.hpp"
#include "nn/expr.hpp"
#include "nn/spec.hpp"
#include "spec_text.hpp"

using namespace imgpipe;
using namespace imgpipe::nn;

namespace {
// The lecture's binary CNN (Lambda x/255., two Conv2D/MaxPooling2D, Dense 256, sigmoid).
const char* kLecture = R"({"input_shape": [64, 64, 3], "layers": [
  {"type": "Lambda", "function": "x/255."},
  {"type": "Conv2D", "filters": 32, "kernel_size": [3, 3], "strides": 1, "activation": "relu"},
  {"type": "MaxPooling2D", "pool_size": [2, 2]},
  {"type": "Conv2D", "filters": 64, "kernel_size": 3, "activation": "relu"},
  {"type": "MaxPooling2D"},
  {"type": "Flatten"},
  {"type": "Dense", "units": 256, "activation": "relu"},
  {"type": "Dense", "units": 1, "activation": "sigmoid"}],
  "loss": "binary_crossentropy", "optimizer": "adam", "metrics": ["accuracy"]})";

// What Keras 2.11's model.to_json() writes for the first layers of that model.
const char* kKeras2 = R"({"class_name": "Sequential", "config": {"name": "sequential", "layers": [
  {"class_name": "InputLayer", "config": {"batch_input_shape": [null, 64, 64, 3], "dtype": "float32", "sparse": false, "ragged": false, "name": "input_1"}},
  {"class_name": "Lambda", "config": {"name": "lambda", "trainable": true, "dtype": "float32", "function": "x/255.", "function_type": "lambda", "module": "__main__", "output_shape": null, "output_shape_type": "raw", "output_shape_module": null, "arguments": {}}},
  {"class_name": "Conv2D", "config": {"name": "conv2d", "trainable": true, "dtype": "float32", "filters": 32, "kernel_size": [3, 3], "strides": [1, 1], "padding": "valid", "data_format": "channels_last", "dilation_rate": [1, 1], "groups": 1, "activation": "relu", "use_bias": true, "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": null}}, "bias_initializer": {"class_name": "Zeros", "config": {}}, "kernel_regularizer": null, "bias_regularizer": null, "activity_regularizer": null, "kernel_constraint": null, "bias_constraint": null}},
  {"class_name": "MaxPooling2D", "config": {"name": "max_pooling2d", "trainable": true, "dtype": "float32", "pool_size": [2, 2], "padding": "valid", "strides": [2, 2], "data_format": "channels_last"}},
  {"class_name": "Flatten", "config": {"name": "flatten", "trainable": true, "dtype": "float32", "data_format": "channels_last"}},
  {"class_name": "Dense", "config": {"name": "dense", "trainable": true, "dtype": "float32", "units": 1, "activation": "sigmoid", "use_bias": true, "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": null}}, "bias_initializer": {"class_name": "Zeros", "config": {}}, "kernel_regularizer": null, "bias_regularizer": null, "activity_regularizer": null, "kernel_constraint": null, "bias_constraint": null}}]},
  "keras_version": "2.11.0", "backend": "tensorflow"})";

// Keras 3's shape: module/registered_name, batch_shape, dtype policies, compile_config.
const char* kKeras3 = R"({"module": "keras", "class_name": "Sequential", "config": {"name": "sequential", "trainable": true,
  "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": null},
  "layers": [
  {"module": "keras.layers", "class_name": "InputLayer", "config": {"batch_shape": [null, 28, 28, 1], "dtype": "float32", "sparse": false, "name": "input_layer"}, "registered_name": null},
  {"module": "keras.layers", "class_name": "Rescaling", "config": {"name": "rescaling", "trainable": true, "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": null}, "scale": 0.00392156862745098, "offset": 0.0}, "registered_name": null, "build_config": {"input_shape": [null, 28, 28, 1]}},
  {"module": "keras.layers", "class_name": "Conv2D", "config": {"name": "conv2d", "trainable": true, "dtype": "float32", "filters": 8, "kernel_size": [3, 3], "strides": [1, 1], "padding": "same", "data_format": "channels_last", "dilation_rate": [1, 1], "groups": 1, "activation": "relu", "use_bias": true, "kernel_initializer": {"module": "keras.initializers", "class_name": "GlorotUniform", "config": {"seed": null}, "registered_name": null}, "bias_initializer": {"module": "keras.initializers", "class_name": "Zeros", "config": {}, "registered_name": null}, "kernel_regularizer": null, "bias_regularizer": null, "activity_regularizer": null, "kernel_constraint": null, "bias_constraint": null}, "registered_name": null, "build_config": {"input_shape": [null, 28, 28, 1]}},
  {"module": "keras.layers", "class_name": "BatchNormalization", "config": {"name": "batch_normalization", "trainable": true, "dtype": "float32", "axis": -1, "momentum": 0.99, "epsilon": 0.001, "center": true, "scale": true, "beta_initializer": {"module": "keras.initializers", "class_name": "Zeros", "config": {}, "registered_name": null}, "gamma_initializer": {"module": "keras.initializers", "class_name": "Ones", "config": {}, "registered_name": null}, "moving_mean_initializer": {"module": "keras.initializers", "class_name": "Zeros", "config": {}, "registered_name": null}, "moving_variance_initializer": {"module": "keras.initializers", "class_name": "Ones", "config": {}, "registered_name": null}, "beta_regularizer": null, "gamma_regularizer": null, "beta_constraint": null, "gamma_constraint": null, "synchronized": false}, "registered_name": null},
  {"module": "keras.layers", "class_name": "GlobalAveragePooling2D", "config": {"name": "global_average_pooling2d", "trainable": true, "dtype": "float32", "data_format": "channels_last", "keepdims": false}, "registered_name": null},
  {"module": "keras.layers", "class_name": "Dense", "config": {"name": "dense", "trainable": true, "dtype": "float32", "units": 10, "activation": "softmax", "use_bias": true, "kernel_initializer": {"module": "keras.initializers", "class_name": "GlorotUniform", "config": {"seed": null}, "registered_name": null}, "bias_initializer": {"module": "keras.initializers", "class_name": "Zeros", "config": {}, "registered_name": null}, "kernel_regularizer": null, "bias_regularizer": null, "kernel_constraint": null, "bias_constraint": null}, "registered_name": null}],
  "build_input_shape": [null, 28, 28, 1]}, "registered_name": null, "build_config": {"input_shape": [null, 28, 28, 1]},
  "compile_config": {"optimizer": {"module": "keras.optimizers", "class_name": "RMSprop", "config": {"name": "rmsprop", "learning_rate": 0.0005, "weight_decay": null, "clipnorm": null, "global_clipnorm": null, "clipvalue": null, "use_ema": false, "ema_momentum": 0.99, "ema_overwrite_frequency": null, "loss_scale_factor": null, "gradient_accumulation_steps": null, "rho": 0.9, "momentum": 0.0, "epsilon": 1e-07, "centered": false}, "registered_name": null},
    "loss": "sparse_categorical_crossentropy", "loss_weights": null, "metrics": ["accuracy"], "weighted_metrics": null, "run_eagerly": false, "steps_per_execution": 1, "jit_compile": false}})";

}  // namespace

TEST_CASE("the lecture's CNN resolves to Keras' shapes and parameter counts", "[spec]") {
    Spec s = parse_spec(kLecture, "cnn.json");
    REQUIRE(s.layers.size() == 8);
    CHECK(s.layers[0].name == "lambda");
    CHECK(s.layers[1].name == "conv2d");
    CHECK(s.layers[3].name == "conv2d_1");
    CHECK(s.layers[1].output_shape == std::vector<int64_t>{62, 62, 32});
    CHECK(s.layers[4].output_shape == std::vector<int64_t>{14, 14, 64});
    CHECK(s.layers[5].output_shape == std::vector<int64_t>{12544});
    CHECK(s.layers[1].trainable_params == 896);
    CHECK(s.layers[3].trainable_params == 18496);
    CHECK(s.layers[6].trainable_params == 3211520);
    CHECK(s.trainable_params() == 3231169);
    CHECK(s.loss == "binary_crossentropy");
    CHECK(s.optimizer.name == "adam");
    CHECK(s.optimizer.learning_rate == 0.001);
    CHECK(s.optimizer.epsilon == 1e-7);
    std::string table = summary_table(s);
    CHECK(table.find("conv2d (Conv2D)             (None, 62, 62, 32)        896") != std::string::npos);
    CHECK(table.find("Total params: 3,231,169") != std::string::npos);
    CHECK(table.find("Non-trainable params: 0") != std::string::npos);
}

TEST_CASE("the resolved spec round-trips through its JSON", "[spec]") {
    Spec s = parse_spec(kLecture, "cnn.json");
    Spec t = parse_spec(s.to_json(), "model");
    CHECK(t.to_json() == s.to_json());
    CHECK(t.trainable_params() == s.trainable_params());
}

TEST_CASE("Keras 2 model.to_json() is accepted", "[spec]") {
    Spec s = parse_spec(kKeras2, "keras2.json");
    CHECK(s.input_shape == std::vector<int64_t>{64, 64, 3});
    REQUIRE(s.layers.size() == 5);
    CHECK(s.layers[0].type == "Lambda");
    CHECK(s.layers[0].get<LambdaOptions>().expression == "x/255.");
    CHECK(s.layers[4].activation == Activation::Sigmoid);
    CHECK(s.output_shape() == std::vector<int64_t>{1});
}

TEST_CASE("Keras 3 model.to_json() is accepted, compile_config included", "[spec]") {
    Spec s = parse_spec(kKeras3, "keras3.json");
    CHECK(s.input_shape == std::vector<int64_t>{28, 28, 1});
    REQUIRE(s.layers.size() == 5);
    CHECK(s.layers[0].get<RescalingOptions>().scale == Approx(1 / 255.0));
    CHECK(s.layers[1].get<ConvOptions>().same);
    CHECK(s.layers[2].trainable_params == 16);
    CHECK(s.layers[2].non_trainable_params == 16);
    CHECK(s.layers[3].output_shape == std::vector<int64_t>{8});
    CHECK(s.loss == "sparse_categorical_crossentropy");
    CHECK(s.optimizer.name == "rmsprop");
    CHECK(s.optimizer.learning_rate == Approx(0.0005));
    CHECK(s.metrics == std::vector<std::string>{"accuracy"});
}

TEST_CASE("hard_sigmoid is the function of the Keras that wrote the model", "[spec]") {
    // Keras 2's and tfjs-layers' is clip(0.2x + 0.5, 0, 1), Keras 3's (and ours) relu6(x + 3) / 6.
    auto act = [](const std::string& version) {
        std::string v = version.empty() ? "" : R"(, "keras_version": ")" + version + "\"";
        Spec s = parse_spec(R"({"class_name": "Sequential", "config": {"name": "m", "layers": [
            {"class_name": "InputLayer", "config": {"batch_input_shape": [null, 4]}},
            {"class_name": "Dense", "config": {"name": "d", "units": 2, "activation": "hard_sigmoid"}},
            {"class_name": "Activation", "config": {"name": "a", "activation": "hard_sigmoid"}}]})" + v + "}",
                            "m.json");
        CHECK(s.layers[0].activation == s.layers[1].activation);
        return s.layers[1].activation;
    };
    CHECK(act("2.6.0") == Activation::Keras2HardSigmoid);
    CHECK(act("2.11.0") == Activation::Keras2HardSigmoid);
    CHECK(act("1.2.2") == Activation::Keras2HardSigmoid);
    CHECK(act("tfjs-layers 1.3.1") == Activation::Keras2HardSigmoid);
    CHECK(act("3.3.3") == Activation::HardSigmoid);
    CHECK(act("") == Activation::HardSigmoid);
    CHECK(act("21.0") == Activation::HardSigmoid);
    // Ours by name, and a Keras 2 model's kept through our JSON (the model file's spec).
    Spec ours = parse_spec(R"({"input_shape": [4], "layers": [{"type": "Dense", "units": 2, "activation": "hard_sigmoid"},
        {"type": "Dense", "units": 2, "activation": "keras2_hard_sigmoid"}]})", "ours.json");
    CHECK(ours.layers[0].activation == Activation::HardSigmoid);
    CHECK(ours.layers[1].activation == Activation::Keras2HardSigmoid);
    CHECK(parse_spec(ours.to_json(), "model").layers[1].activation == Activation::Keras2HardSigmoid);
}

TEST_CASE("mistakes name the layer and the key, with a suggestion", "[spec][errors]") {
    std::string typo = R"({"input_shape": [8, 8, 1], "layers": [{"type": "Conv2D", "filter": 4, "kernel_size": 3}]})";
    CHECK(spec_error(typo, "cnn.json") == "cnn.json: layer 1 (Conv2D): unknown key \"filter\"; did you mean \"filters\"?");
    std::string layer = R"({"input_shape": [8, 8, 1], "layers": [{"type": "Conv2D"}, {"type": "Conv3D", "filters": 2}]})";
    CHECK_THAT(spec_error(layer, "cnn.json"), Catch::Contains("layer 1 (Conv2D): needs \"filters\""));
    std::string unknown = R"({"input_shape": [8, 8, 1], "layers": [{"type": "Conv3D", "filters": 2}]})";
    CHECK_THAT(spec_error(unknown, "cnn.json"), Catch::Contains("layer 1: unsupported layer \"Conv3D\"; did you mean \"Conv2D\"?"));
    std::string act = R"({"input_shape": [8], "layers": [{"type": "Dense", "units": 2, "activation": "softmaxx"}]})";
    CHECK_THAT(spec_error(act, "cnn.json"), Catch::Contains("unknown activation \"softmaxx\"; did you mean \"softmax\"?"));
    std::string top = R"({"input_shape": [8], "layer": []})";
    CHECK_THAT(spec_error(top, "cnn.json"), Catch::Contains("unknown key \"layer\"; did you mean \"layers\"?"));
    std::string reg = R"({"input_shape": [8], "layers": [{"type": "Dense", "units": 2, "kernel_constraint": "max_norm"}]})";
    CHECK_THAT(spec_error(reg, "cnn.json"), Catch::Contains("\"kernel_constraint\": \"max_norm\" is not supported"));
}

TEST_CASE("a missing input shape and a misfit shape are errors", "[spec][errors]") {
    CHECK_THAT(spec_error(R"({"layers": [{"type": "Flatten"}]})", "cnn.json"), Catch::Contains("no input shape"));
    std::string dense = R"({"input_shape": [8, 8, 1], "layers": [{"type": "Conv2D", "filters": 2, "kernel_size": 3},
                            {"type": "Dense", "units": 3}]})";
    CHECK(spec_error(dense, "cnn.json") == "cnn.json: layer 2 (dense, Dense): needs a flat input but gets (None, 6, 6, 2); add a "
                            "Flatten layer before it");
    std::string small = R"({"input_shape": [2, 2, 1], "layers": [{"type": "Conv2D", "filters": 2, "kernel_size": 3}]})";
    CHECK_THAT(spec_error(small, "cnn.json"), Catch::Contains("smaller than the 3x3 window"));
    CHECK_THAT(spec_error("{\"input_shape\": [8], ", "cnn.json"), Catch::Contains("not valid JSON"));
}

TEST_CASE("a Lambda holding Python bytecode is refused with the way out", "[spec][lambda]") {
    std::string k2 = R"({"class_name": "Sequential", "config": {"layers": [
      {"class_name": "InputLayer", "config": {"batch_input_shape": [null, 4, 4, 3]}},
      {"class_name": "Lambda", "config": {"name": "lambda", "function": ["4wEAAAAAAAAAAAAAAAEAAAACAAAAQwAAAHMIAAAAfABkARsAUwApAk7pAgAAAKkAKQHaAXhyAgAAAHICAAAA+h4", null, null], "function_type": "lambda"}}]}})";
    CHECK_THAT(spec_error(k2, "cnn.json"), Catch::Contains("layer 2 (lambda): the function is Python bytecode") &&
                                 Catch::Contains("\"function\": \"x/255.\""));
    std::string k3 = R"({"input_shape": [4], "layers": [{"type": "Lambda", "function": {"class_name": "__lambda__", "config": {"code": "4wEA"}}}]})";
    CHECK_THAT(spec_error(k3, "cnn.json"), Catch::Contains("Python bytecode"));
    std::string bad = R"j({"input_shape": [4], "layers": [{"type": "Lambda", "function": "__import__('os')"}]})j";
    CHECK_THAT(spec_error(bad, "cnn.json"), Catch::Contains("unknown name \"__import__\""));
}

TEST_CASE("command-line overrides replace the spec's choices", "[spec]") {
    Spec s = parse_spec(kLecture, "cnn.json");
    Overrides o;
    o.optimizer = "SGD";
    o.lr = 0.05;
    o.metrics = {"accuracy,mae"};
    o.loss = "mean_squared_error";
    apply_overrides(s, o);
    CHECK(s.optimizer.name == "sgd");
    CHECK(s.optimizer.learning_rate == 0.05);
    CHECK(s.loss == "mse");
    CHECK(s.metrics == std::vector<std::string>{"accuracy", "mae"});
    Overrides bad;
    bad.optimizer = "adagrad";
    CHECK_THROWS_AS(apply_overrides(s, bad), UsageError);
    CHECK(canonical_loss("categorical_crossentropy") == "categorical_crossentropy");
    CHECK_THROWS_WITH(canonical_loss("binary_crossentropi"), Catch::Contains("did you mean \"binary_crossentropy\""));
}

TEST_CASE("Lambda expressions parse as Python reads them", "[lambda]") {
    auto at = [](const char* text, double x) { return eval_expr(parse_expr(text), x); };
    CHECK(at("x**2", 3) == 9);
    CHECK(at("x/255.", 255) == 1);
    CHECK(at("(x-0.5)*2", 1) == 1);
    CHECK(at("-x**2", 3) == -9);      // ** binds tighter than unary minus
    CHECK(at("2**3**2", 0) == 512);   // right-associative
    CHECK(at("2**-1", 0) == 0.5);
    CHECK(at("lambda x: x * 2 + 1", 2) == 5);
    CHECK(at("clip(x, 0, 1)", 3) == 1);
    CHECK(at("minimum(x, 1) + maximum(x, 2)", 0) == 2);
    CHECK(at("sqrt(abs(x)) + exp(0) + log(1)", -4) == 3);
    CHECK(at("tanh(0) + sigmoid(0) + relu(-1)", 0) == 0.5);
    CHECK(at("1e-3 * x", 1000) == 1);
    CHECK(at(".5*x", 2) == 1);
    Expr e = parse_expr("(x - 0.5) * 2 / maximum(x, 1)");
    CHECK(eval_expr(parse_expr(expr_text(e)), 0.25) == eval_expr(e, 0.25));
    CHECK_THROWS_WITH(parse_expr("x +"), Catch::Contains("unexpected end"));
    CHECK_THROWS_WITH(parse_expr("clip(x, 1)"), Catch::Contains("clip takes 3 arguments, got 2"));
    CHECK_THROWS_WITH(parse_expr("y*2"), Catch::Contains("unknown name \"y\""));
    CHECK_THROWS_WITH(parse_expr("x ; 2"), Catch::Contains("column 3"));
}

TEST_CASE("Scores are sample-weighted means in insertion order", "[scores]") {
    Scores s;
    s.add("loss", 1.0, 3);
    s.add("accuracy", 0.5, 3);
    s.add("loss", 2.0, 1);
    s.add("accuracy", 1.0, 1);
    auto m = s.means();
    REQUIRE(m.size() == 2);
    CHECK(m[0].first == "loss");
    CHECK(m[0].second == Approx(1.25));
    CHECK(s.mean("accuracy") == Approx(0.625));
    CHECK(s.samples("loss") == 4);
    CHECK(std::isnan(s.mean("mae")));
    CHECK(s.keras_text() == " - loss: 1.2500 - accuracy: 0.6250");
    CHECK(s.keras_text("val_") == " - val_loss: 1.2500 - val_accuracy: 0.6250");
    s.clear();
    CHECK(s.means().empty());
}

TEST_CASE("layer types are Keras' class names, exactly, with Keras' own aliases", "[spec][errors]") {
    auto conv = [](const std::string& type) {
        return one_layer("[8, 8, 1]", R"({"type": ")" + type + R"(", "filters": 2, "kernel_size": 3})");
    };
    CHECK(spec_error(conv("Conv2D")).empty());
    CHECK(spec_error(conv("Convolution2D")).empty());  // keras.layers.Convolution2D is Conv2D
    CHECK(parse_spec(conv("Convolution2D"), "net.json").layers[0].type == "Conv2D");
    CHECK(spec_error(one_layer("[8, 8, 1]", R"({"type": "MaxPool2D"})")).empty());
    CHECK(spec_error(one_layer("[8, 8, 1]", R"({"type": "GlobalAvgPool2D"})")).empty());
    for (const char* near : {"Conv2d", "conv_2d", "CONV2D"})
        CHECK_THAT(spec_error(conv(near)), Catch::StartsWith(std::string("net.json: layer 1: unsupported layer \"") + near +
                                                             "\"; did you mean \"Conv2D\"? (layer types are Keras' class "
                                                             "names, case-sensitive; supported: InputLayer, Conv2D,"));
    CHECK_THAT(spec_error(one_layer("[4]", R"({"type": "DENSE", "units": 2})")),
               Catch::Contains("unsupported layer \"DENSE\"; did you mean \"Dense\"?"));
    // Not Keras' names: our old loose aliases are gone.
    CHECK_THAT(spec_error(one_layer("[8, 8, 1]", R"({"type": "maxpool2d"})")),
               Catch::Contains("unsupported layer \"maxpool2d\"; did you mean \"MaxPool2D\"?"));
}

namespace {
// A Keras 3 Sequential of one layer after an 8x8x4 input.
std::string keras3_layer(const std::string& class_name, const std::string& config) {
    return R"({"class_name": "Sequential", "config": {"name": "s", "layers": [
      {"class_name": "InputLayer", "config": {"batch_shape": [null, 8, 8, 4], "name": "in"}},
      {"class_name": ")" + class_name + R"(", "config": {"name": "l", )" + config + "}}]}}";
}
}  // namespace

TEST_CASE("Keras 3 layer arguments are honoured or refused with the reason, never unknown", "[spec][keras3]") {
    // Keras 3.0-3.5's RandomRotation wrote value_range, which no rotation reads.
    Spec rot = parse_spec(keras3_layer("RandomRotation", R"("factor": 0.1, "value_range": [0, 255], "fill_mode": "reflect",
        "fill_value": 0.0, "interpolation": "bilinear", "seed": null, "data_format": "channels_last")"), "m.json");
    CHECK(rot.layers[0].get<WarpOptions>().rotation == std::array<double, 2>{-0.1, 0.1});
    // null is Keras' "not set": the default, for every key a layer reads.
    CHECK(spec_error(keras3_layer("PReLU", R"("shared_axes": null)")).empty());
    CHECK(spec_error(keras3_layer("RandomFlip", R"("mode": "horizontal", "bounding_box_format": null)")).empty());
    CHECK(spec_error(keras3_layer("RandomFlip", R"("mode": "horizontal", "bounding_box_format": "xyxy")")) ==
          "net.json: layer 2 (l): \"bounding_box_format\": \"xyxy\" is not supported (bounding boxes are not supported)");
    CHECK(spec_error(keras3_layer("Conv2D", R"("filters": 2, "kernel_size": 3, "lora_rank": null, "lora_alpha": 8)")) ==
          "net.json: layer 2 (l): \"lora_alpha\": 8 is not supported (LoRA adapters are not implemented)");
    // BatchNormalization over a spatial axis is not per-channel: refused, not run per channel.
    CHECK(spec_error(keras3_layer("BatchNormalization", R"("axis": 3)")).empty());
    CHECK(spec_error(keras3_layer("BatchNormalization", R"("axis": 1)")) ==
          "net.json: layer 2 (l, BatchNormalization): \"axis\": 1 is not the channel axis of (None, 8, 8, 4) (-1 or 3); "
          "only per-channel normalization is implemented");
    CHECK(spec_error(one_layer("[6]", R"({"type": "BatchNormalization", "axis": 1})")).empty());
}

TEST_CASE("a TF.js model.json is told apart, with the way to its architecture", "[spec][errors]") {
    CHECK(spec_error(R"({"format": "layers-model", "generatedBy": "keras v2.11.0", "modelTopology": {"keras_version": "2.11.0",
        "model_config": {"class_name": "Sequential", "config": {"layers": []}}}, "weightsManifest": []})", "model.json") ==
          "model.json: a TF.js model.json is not read yet; its architecture alone is Keras JSON, which nntrain reads: jq "
          ".modelTopology.model_config model.json > spec.json");
}

TEST_CASE("the graph checks find augmentation, raw-pixel and byte-scaling layers", "[spec][checks]") {
    Spec lecture = parse_spec(kLecture, "net.json");
    CHECK(augmentation_layer(lecture) == nullptr);
    CHECK(raw_input_layer(lecture) == nullptr);  // the Lambda scales first
    std::array<double, 2> to{};
    REQUIRE(byte_scaling_layer(lecture, &to) == &lecture.layers[0]);
    CHECK(to == std::array<double, 2>{0, 1});

    Spec raw = parse_spec(R"({"input_shape": [8, 8, 1], "layers": [{"type": "RandomFlip"}, {"type": "MaxPooling2D"},
        {"type": "Conv2D", "filters": 2, "kernel_size": 3}, {"type": "Lambda", "function": "x/255."}]})", "net.json");
    REQUIRE(augmentation_layer(raw) == &raw.layers[0]);
    REQUIRE(raw_input_layer(raw) == &raw.layers[2]);  // the Lambda comes after it
    CHECK(byte_scaling_layer(raw) == nullptr);        // the Conv2D changes the values first

    Spec centred = parse_spec(R"({"input_shape": [8, 8, 1], "layers": [{"type": "Dropout", "rate": 0.1},
        {"type": "Rescaling", "scale": 0.00784313725490196, "offset": -1}, {"type": "Conv2D", "filters": 2, "kernel_size": 3}]})",
                              "net.json");
    CHECK(raw_input_layer(centred) == nullptr);
    REQUIRE(byte_scaling_layer(centred, &to) == &centred.layers[1]);
    CHECK(to[0] == Approx(-1));
    CHECK(to[1] == Approx(1));
    // A Lambda that is not a scaling of bytes (x**2, x*2) is no byte scaling.
    for (const char* f : {"x**2", "x*2", "log(x+1)"}) {
        Spec other = parse_spec(one_layer("[4]", std::string(R"({"type": "Lambda", "function": ")") + f + "\"}"), "net.json");
        CHECK(byte_scaling_layer(other) == nullptr);
    }
    Spec normed = parse_spec(R"({"input_shape": [4], "layers": [{"type": "BatchNormalization"}, {"type": "Dense", "units": 2}]})",
                             "net.json");
    CHECK(raw_input_layer(normed) == nullptr);
}
