// Segmentation (class_mode mask): the per-pixel losses and their gradients
// against PyTorch, the mask metrics against numpy (the numbers of
// tests/nn/segmentation_reference.py, float64), what a mask batch is refused
// for, and nneval's pixel confusion and IoU.
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <vector>

#include "cli/error.hpp"
#include "nn/batch_check.hpp"
#include "nn/callbacks.hpp"
#include "nn/compile.hpp"
#include "nn/objective.hpp"
#include "nn/report.hpp"
#include "nn/spec.hpp"

#undef CHECK
#include <catch2/catch.hpp>

using namespace imgpipe;
using namespace imgpipe::nn;

namespace {

// segmentation_reference.py's output.
const std::vector<double> kCe = {1.6800155411381406};
const std::vector<double> kCeGrad = {-0.04892939828413518, 0.019044423878254023, 0.02988497440588116, 0.04497083810457724, -0.04591642548603458, 0.0009455873814573376, 0.0, 0.0, 0.0, -0.04878333444268551, 0.019381186797493753, 0.029402147645191754, 0.0450464386044007, -0.0459915753002263, 0.0009451366958255994, 0.005948169345460944, 0.008162378956869668, -0.014110548302330606, -0.04863104263480461, 0.019717184347821125, 0.028913858286983486, 0.0, 0.0, 0.0, 0.005675567543968063, 0.00805875471646696, -0.013734322260435028, -0.04847233052647738, 0.020051859755995403, 0.028420470770481977, 0.04518379591199212, -0.046130833797851316, 0.0009470378858591986, 0.005415939858277064, 0.007956363888987395, -0.01337230374726446, 0.0, 0.0, 0.0, 0.045245674339294176, -0.04619507347044316, 0.0009493991311489868, 0.005168826391582053, 0.007855388829033994, -0.013024215220616048, -0.04813487756382752, 0.02071492762733092, 0.027419949936496598, 0.04530309230330313, -0.04625580332443252, 0.0009527110211293976, 0.0, 0.0, 0.0, -0.047955755347665406, 0.02104212185664173, 0.026913633491023676, 0.04535609839911784, -0.04631308264654102, 0.0009569842474231854, 0.004710287183830972, 0.007658340487324695, -0.012368627671155662, -0.04776945140233881, 0.021365601011444812, 0.026403850390894008, 0.0, 0.0, 0.0, 0.004497934748068162, 0.007562558626490897, -0.012060493374559061};
const std::vector<double> kCeWeighted = {1.2301859479836732};
const std::vector<double> kCeWeightedGrad = {-0.02446469914206759, 0.009522211939127011, 0.01494248720294058, 0.08994167620915448, -0.09183285097206915, 0.0018911747629146753, 0.0, 0.0, 0.0, -0.024391667221342755, 0.009690593398746877, 0.014701073822595877, 0.0900928772088014, -0.0919831506004526, 0.0018902733916511987, 0.008922254018191416, 0.012243568435304502, -0.02116582245349591, -0.024315521317402305, 0.009858592173910562, 0.014456929143491743, 0.0, 0.0, 0.0, 0.008513351315952095, 0.01208813207470044, -0.020601483390652542, -0.02423616526323869, 0.010025929877997702, 0.014210235385240988, 0.09036759182398424, -0.09226166759570263, 0.0018940757717183971, 0.008123909787415595, 0.011934545833481093, -0.02005845562089669, 0.0, 0.0, 0.0, 0.022622837169647088, -0.02309753673522158, 0.0004746995655744934, 0.0019383098968432698, 0.002945770810887748, -0.004884080707731018, -0.00601685969547844, 0.002589365953416365, 0.0034274937420620748, 0.022651546151651564, -0.02312790166221626, 0.0004763555105646988, 0.0, 0.0, 0.0, -0.005994469418458176, 0.0026302652320802163, 0.0033642041863779595, 0.02267804919955892, -0.02315654132327051, 0.0004784921237115927, 0.0017663576939366144, 0.0028718776827467607, -0.004638235376683374, -0.005971181425292352, 0.0026707001264306015, 0.003300481298861751, 0.0, 0.0, 0.0, 0.0016867255305255608, 0.0028359594849340863, -0.004522685015459648};
const std::vector<double> kDice = {0.694149495608694};
const std::vector<double> kDiceGrad = {-0.0034417639625748215, 0.0013396120551400041, 0.002102151907434818, 0.005737735488884375, -0.005858381011741038, 0.00012064552285666188, 0.0, 0.0, 0.0, -0.003566873765707779, 0.0014170873624369006, 0.0021497864032708775, 0.005683061800900272, -0.005802300311625752, 0.00011923851072548119, 0.004353462647672655, 0.005974041733024614, -0.010327504380697265, -0.0036964547778616068, 0.001498706923390525, 0.002197747854471081, 0.0, 0.0, 0.0, 0.0041945161333951245, 0.005955805549212386, -0.01015032168260751, -0.0038305608097036086, 0.0015846126503249638, 0.0022459481593786455, 0.005580838485434998, -0.005697811072042429, 0.0001169725866074316, 0.0040398915832716206, 0.005934860495070532, -0.009974752078342156, 0.0, 0.0, 0.0, 0.005533256568587627, -0.005649362009723229, 0.00011610544113560155, 0.003889748141468541, 0.0059114935932091574, -0.009801241734677696, -0.004112515229396456, 0.0017698280260561598, 0.0023426872033402955, 0.005488004665027169, -0.00560341582710362, 0.00011541116207645084, 0.0, 0.0, 0.0, -0.004260420388116128, 0.0018693957444176656, 0.0023910246436984633, 0.005445064444811884, -0.005559951771628125, 0.00011488732681624118, 0.0036033511947290583, 0.005858600392640863, -0.009461951587369915, -0.00441296213239797, 0.0019737632614891918, 0.002439198870908778, 0.0, 0.0, 0.0, 0.003467235806606632, 0.0058296030351691844, -0.009296838841775821};
const std::vector<double> kCeDice = {2.3741650367468345};
const std::vector<double> kCeDiceGrad = {-0.05237116224671, 0.020384035933394027, 0.031987126313315975, 0.05070857359346162, -0.05177480649777562, 0.0010662329043139994, 0.0, 0.0, 0.0, -0.05235020820839329, 0.020798274159930654, 0.03155193404846263, 0.05072950040530097, -0.05179387561185205, 0.0010643752065510805, 0.010301631993133598, 0.014136420689894283, -0.024438052683027872, -0.05232749741266622, 0.02121589127121165, 0.031111606141454567, 0.0, 0.0, 0.0, 0.009870083677363188, 0.014014560265679345, -0.023884643943042537, -0.05230289133618098, 0.021636472406320367, 0.030666418929860623, 0.050764634397427115, -0.05182864486989375, 0.0010640104724666303, 0.009455831441548684, 0.013891224384057927, -0.023347055825606616, 0.0, 0.0, 0.0, 0.050778930907881804, -0.05184443548016639, 0.0010655045722845883, 0.009058574533050593, 0.013766882422243151, -0.022825456955293744, -0.052247392793223976, 0.02248475565338708, 0.029762637139836894, 0.0507910969683303, -0.05185921915153614, 0.0010681221832058484, 0.0, 0.0, 0.0, -0.052216175735781536, 0.022911517601059396, 0.02930465813472214, 0.05080116284392972, -0.051873034418169144, 0.0010718715742394265, 0.00831363837856003, 0.013516940879965557, -0.02183057925852558, -0.05218241353473678, 0.023339364272934003, 0.028843049261802787, 0.0, 0.0, 0.0, 0.007965170554674795, 0.01339216166166008, -0.02135733221633488};
const std::vector<double> kBce = {1.0805073848498221};
const std::vector<double> kBceGrad = {-0.020853619350910298, 0.042440956912335175, -0.0040867607755500305, 0.0, -0.03761640036831233, 0.0036653006566501932, -0.04065196627412894, 0.027253915988365518, -0.0050755526342040475, 0.04347996616438707, 0.0, 0.0097253202255405, -0.043968480968291646, 0.0071476448345479575, -0.01988054170433195, 0.04264156197078137, -0.004194550155717141, 0.0, -0.038162383982374294, 0.0036382505342708355, -0.040283962456731326, 0.028218689996081348, -0.004883757020916363, 0.04336579926388273};
const std::vector<double> kBinaryDice = {0.49179072756269726};
const std::vector<double> kBinaryDiceGrad = {-0.016820630299119503, 0.00225619238576766, -0.005361389078983748, 0.0, -0.011339105980073618, 0.0016539669089633518, -0.00853530538986737, 0.0056981967720952775, -0.0065073344361983925, 0.0018476277593628793, 0.0, 0.003783489601941522, -0.004837136807754182, 0.0029698364289645657, -0.0166187328127164, 0.0021790361194539264, -0.005489171752497128, 0.0, -0.010875771280689634, 0.0016427709176156493, -0.00890479590087322, 0.0056204086337102565, -0.006289662424731848, 0.001893605062112118};
const std::vector<double> kMetrics = {0.3157894736842105, 0.153846147534517, 0.305850504391306};
const std::vector<double> kConfusion = {0.0, 0.0, 7.0, 6.0, 0.0, 0.0, 0.0, 0.0, 6.0};

constexpr int64_t N = 2, H = 3, W = 4, C = 3;

// The reference's inputs, by its formulas.
torch::Tensor logits() {
    return (3 * torch::sin(0.7 * torch::arange(N * H * W * C, torch::kDouble) + 0.3)).to(torch::kFloat).view({N, H, W, C});
}
Tensor mask() {
    Tensor y("y", DType::U8, {N, H, W, 1});
    for (int64_t j = 0; j < N * H * W; ++j) y.data[size_t(j)] = j % 5 == 2 ? 255 : uint8_t((7 * j + 3) % 3);
    return y;
}
torch::Tensor binary_logits() {
    return (2.5 * torch::sin(0.9 * torch::arange(N * H * W, torch::kDouble) + 0.1)).to(torch::kFloat).view({N, H, W, 1});
}
Tensor binary_mask() {
    Tensor y("y", DType::U8, {N, H, W, 1});
    for (int64_t j = 0; j < N * H * W; ++j) y.data[size_t(j)] = j % 7 == 3 ? 255 : uint8_t((5 * j + 1) % 2);
    return y;
}

void check_close(const torch::Tensor& got, const std::vector<double>& want, double tol = 1e-5) {
    torch::Tensor g = got.detach().to(torch::kDouble).reshape({-1}).contiguous();
    REQUIRE(size_t(g.numel()) == want.size());
    double worst = 0;
    for (size_t i = 0; i < want.size(); ++i) worst = std::max(worst, std::fabs(g.data_ptr<double>()[i] - want[i]));
    CHECK(worst < tol);
}

struct Run {
    torch::Tensor loss, grad;
};

// The objective's loss and its gradient with respect to the logits, the output their softmax or sigmoid.
Run run(const std::string& loss, const torch::Tensor& z, const Tensor& y, const Frame* weighted = nullptr,
        std::vector<double> class_weights = {}) {
    torch::Tensor x = z.clone().requires_grad_(true);
    bool sigmoid = z.size(-1) == 1;
    Network::Output out{sigmoid ? torch::sigmoid(x) : torch::softmax(x, -1), x,
                        sigmoid ? Activation::Sigmoid : Activation::Softmax};
    Objective o(LossSpec(loss), {}, {H, W, z.size(-1)});
    o.set_mask(true, 255);
    o.set_class_weights(class_weights);
    torch::Tensor target = o.targets(y, torch::kCPU);
    torch::Tensor w;
    if (weighted) w = o.sample_weights(*weighted, target, true, torch::kCPU);
    torch::Tensor l = o.loss(out, target, w);
    l.backward();
    return {l, x.grad()};
}

Frame weighted_frame() {
    Frame f;
    Tensor w("w", DType::F32, {N});
    w.values<float>()[0] = 1.0f;
    w.values<float>()[1] = 0.25f;
    f.tensors.push_back(std::move(w));
    return f;
}

}  // namespace

TEST_CASE("sparse crossentropy over a mask equals PyTorch's CrossEntropyLoss(ignore_index=255), gradient too", "[segmentation]") {
    Run r = run("sparse_categorical_crossentropy", logits(), mask());
    check_close(r.loss, kCe);
    check_close(r.grad, kCeGrad);
    // Without logits (a final layer the objective cannot see through): Keras' clipped log of the probabilities.
    Objective o("sparse_categorical_crossentropy", {}, {H, W, C});
    o.set_mask(true, 255);
    check_close(o.loss({torch::softmax(logits(), -1), {}, Activation::Linear}, o.targets(mask(), torch::kCPU)), kCe);
}

TEST_CASE("per-pixel class weights and sample weights weigh each pixel, over the count of counted pixels", "[segmentation]") {
    Frame f = weighted_frame();
    Run r = run("sparse_categorical_crossentropy", logits(), mask(), &f, {0.5, 2.0, 1.5});
    check_close(r.loss, kCeWeighted);
    check_close(r.grad, kCeWeightedGrad);
    // Evaluation (training false): the stream's w only, one per sample.
    Objective o("sparse_categorical_crossentropy", {}, {H, W, C});
    o.set_mask(true, 255);
    o.set_class_weights({0.5, 2.0, 1.5});
    torch::Tensor t = o.targets(mask(), torch::kCPU);
    CHECK(o.sample_weights(f, t, false, torch::kCPU).sizes().vec() == std::vector<int64_t>{N});
    CHECK(o.sample_weights(f, t, true, torch::kCPU).sizes().vec() == std::vector<int64_t>{N, H, W});
}

TEST_CASE("dice is Keras' dice over the whole batch, ignored pixels out; ce_dice their sum", "[segmentation]") {
    Run d = run("dice", logits(), mask());
    check_close(d.loss, kDice);
    check_close(d.grad, kDiceGrad);
    Run cd = run("ce_dice", logits(), mask());
    check_close(cd.loss, kCeDice);
    check_close(cd.grad, kCeDiceGrad);
}

TEST_CASE("one sigmoid channel: binary crossentropy and dice per pixel", "[segmentation]") {
    Run b = run("binary_crossentropy", binary_logits(), binary_mask());
    check_close(b.loss, kBce);
    check_close(b.grad, kBceGrad);
    Run d = run("dice", binary_logits(), binary_mask());
    check_close(d.loss, kBinaryDice);
    check_close(d.grad, kBinaryDiceGrad);
}

TEST_CASE("mask metrics: pixel accuracy, Keras' MeanIoU and the Dice coefficient, over two batches as one", "[segmentation]") {
    Objective o("sparse_categorical_crossentropy", {"accuracy", "mean_iou", "dice"}, {H, W, C});
    o.set_mask(true, 255);
    torch::Tensor p = torch::softmax(logits(), -1), t = o.targets(mask(), torch::kCPU);
    Scores scores;
    // Each sample a batch of its own: the epoch's value comes from the summed counts.
    for (int64_t i = 0; i < N; ++i)
        o.report(torch::zeros({}), o.metric_values(p.narrow(0, i, 1), t.narrow(0, i, 1)), 1, scores);
    CHECK(std::fabs(scores.mean("accuracy") - kMetrics[0]) < 1e-6);
    CHECK(std::fabs(scores.mean("mean_iou") - kMetrics[1]) < 1e-6);
    CHECK(std::fabs(scores.mean("dice") - kMetrics[2]) < 1e-6);
    CHECK(std::fabs(scores.mean("dice") - (1 - kDice[0])) < 1e-6);  // the coefficient of one batch is 1 - the loss
}

TEST_CASE("Keras' MeanIoU docstring example from its sums", "[segmentation][scores]") {
    // m.update_state([0, 0, 1, 1], [0, 1, 0, 1]): 0.33333334; tp, fp, fn per class
    Scores s;
    s.add_sums("mean_iou", {1, 1, 1, 1, 1, 1}, 4);
    CHECK(s.mean("mean_iou") == Approx(1.0 / 3).epsilon(1e-6));
    // A class that no pixel is nor is predicted as leaves the mean.
    Scores t;
    t.add_sums("mean_iou", {2, 0, 0, 0, 0, 0}, 2);
    CHECK(t.mean("mean_iou") == Approx(1.0).epsilon(1e-6));
    Scores a;
    a.add_sums("accuracy", {3, 4}, 1);
    a.add_sums("accuracy", {0, 2}, 1);
    CHECK(a.mean("accuracy") == Approx(0.5));  // 3 of 6 pixels, not the batches' mean (0.375)
}

namespace {
const char* kSeg = R"({"input_shape": [3, 4, 3], "layers": [
  {"type": "Conv2D", "filters": 3, "kernel_size": 1, "activation": "softmax"}], "loss": "sparse_categorical_crossentropy"})";

Frame mask_frame(Tensor y, std::vector<std::string> classes = {"bg", "a", "b"}, std::string ignore = "255") {
    Frame f;
    f.tensors.emplace_back("x", DType::U8, std::vector<int64_t>{y.shape[0], 3, 4, 3});
    f.tensors.push_back(std::move(y));
    f.metadata["class_mode"] = "mask";
    if (!ignore.empty()) f.metadata["ignore_index"] = ignore;
    f.set_classes(classes);
    return f;
}

std::string refusal(const Spec& spec, const Frame& f, bool picked = false) {
    std::vector<std::string> none;
    try {
        check_batch({spec, nullptr, none, picked}, f, "t.bs: frame 1", true);
    } catch (const DataError& e) {
        CHECK(e.status() == kDataErr);
        return e.where() + ": " + e.what();
    }
    return "";
}
}  // namespace

TEST_CASE("a mask batch is checked against the model, its loss and its metrics", "[segmentation][batch_check]") {
    Spec spec = parse_spec(kSeg, "seg.json");
    CHECK(refusal(spec, mask_frame(mask())).empty());
    Tensor bad = mask();
    bad.data[0] = 7;
    CHECK(refusal(spec, mask_frame(bad)) ==
          "t.bs: frame 1: mask value 7 (1 pixels) is not a class of the model's 3 nor the ignore index 255");
    CHECK(refusal(spec, mask_frame(mask(), {"bg", "a", "b"}, "")) ==
          "t.bs: frame 1: mask value 255 (5 pixels) is not a class of the model's 3 (the stream has no ignore_index)");
    CHECK(refusal(spec, mask_frame(mask(), {"bg", "a", "b"}, "-1")) ==
          "t.bs: frame 1: metadata \"ignore_index\" is not a mask value 0 to 255: \"-1\"");
    CHECK(refusal(spec, mask_frame(mask(), {"bg", "a"})) ==
          "t.bs: frame 1: the stream has 2 classes but the model outputs 3 channels (one per class)");
    Spec mse = spec;
    mse.loss = "mse";
    CHECK(refusal(mse, mask_frame(mask())) ==
          "t.bs: frame 1: the loss mse does not take a mask of class indices (class_mode mask) against [*,3,4,3]; use "
          "sparse_categorical_crossentropy (3 softmax channels), dice or ce_dice");
    CHECK(refusal(mse, mask_frame(mask()), true).empty());  // a loss still to be picked from the stream
    Spec mae = spec;
    mae.metrics = {"accuracy", "mae"};
    CHECK(refusal(mae, mask_frame(mask())) ==
          "t.bs: frame 1: the metric mae does not apply to a mask (class_mode mask); its metrics are accuracy (of the "
          "pixels), mean_iou, iou (each class's) and dice");
    Frame wrong = mask_frame(mask());
    wrong.tensors[1] = Tensor("y", DType::U8, {N, 4, 3, 1});
    CHECK(refusal(spec, wrong) == "t.bs: frame 1: y is U8 [2,4,3,1] but the model's masks are U8 [*,3,4,1] (its output [*,3,4,3])");
    // Losses and metrics of masks on a stream of labels.
    Spec cnn = parse_spec(R"({"input_shape": [3, 4, 3], "layers": [{"type": "Flatten"},
      {"type": "Dense", "units": 3, "activation": "softmax"}], "loss": "dice"})", "c.json");
    Frame labels;
    labels.tensors.emplace_back("x", DType::U8, std::vector<int64_t>{1, 3, 4, 3});
    labels.tensors.emplace_back("y", DType::I32, std::vector<int64_t>{1});
    labels.tensors[1].values<int32_t>()[0] = 0;
    CHECK(refusal(cnn, labels) == "t.bs: frame 1: the loss dice is for masks of class indices (class_mode mask); "
                                  "this stream's targets are not masks");
}

TEST_CASE("nneval on masks: the pixel confusion matrix, IoU per class and their mean", "[segmentation][report]") {
    CHECK(output_kind("sparse_categorical_crossentropy", {3, 4, 3}) == OutputKind::Segmentation);
    CHECK(output_kind("ce_dice", {3, 4, 1}) == OutputKind::Segmentation);
    CHECK(output_kind("binary_crossentropy", {3, 4, 1}) == OutputKind::Values);  // an image-to-image model
    CHECK(output_kind("binary_crossentropy", {3, 4, 1}, true) == OutputKind::Segmentation);
    CHECK(output_kind("mse", {3, 4, 3}, true) == OutputKind::Values);
    CHECK(class_count(OutputKind::Segmentation, {3, 4, 1}) == 2);
    Evaluation e;
    e.start(OutputKind::Segmentation, {"bg", "a", "b"}, 0.5);
    CHECK(e.wants_outputs());
    torch::Tensor p = torch::softmax(logits(), -1).contiguous();
    Tensor out("y", DType::F32, {N, H, W, C});
    std::memcpy(out.data.data(), p.data_ptr<float>(), out.data.size());
    e.add(mask_frame(mask()), out, 0, "t.bs");
    for (int t = 0; t < C; ++t)
        for (int q = 0; q < C; ++q) CHECK(double(e.confusion.count(t, q)) == kConfusion[size_t(t * C + q)]);
    CHECK(std::fabs(e.mean_iou() - kMetrics[1]) < 1e-6);
    CHECK(std::isnan(e.iou(0)) == false);
    CHECK(e.accuracy() == Approx(kMetrics[0]));
    std::string text = e.text();
    CHECK(text.find("pixel confusion matrix (rows: true class, columns: predicted class):") != std::string::npos);
    CHECK(text.find("IoU per class:\n0 bg  0.0000\n1 a   0.0000\n2 b   0.4615\nmean IoU: 0.1538\n") != std::string::npos);
    nlohmann::json j = nlohmann::json::parse(e.json());
    CHECK(j["segmentation"]["confusion_matrix"] == nlohmann::json::parse("[[0,0,7],[6,0,0],[0,0,6]]"));
    CHECK(j["segmentation"]["pixels"] == 19);
    CHECK(j["segmentation"]["iou"]["b"].get<double>() == Approx(6.0 / 13));
    CHECK(j["segmentation"]["mean_iou"].get<double>() == Approx(2.0 / 13));
    // A stream of another kind is refused by name.
    Frame labels;
    labels.metadata["class_mode"] = "sparse";
    CHECK_THROWS_WITH(check_target_kind(OutputKind::Segmentation, "sparse_categorical_crossentropy", {3, 4, 3}, labels, "t.bs"),
                      "the stream's targets are not masks (class_mode sparse) but the model is a segmentation model (a "
                      "mask of 3 classes, output [3,4,3], sparse_categorical_crossentropy): evaluate it on targets of "
                      "the kind it was trained on");
}

TEST_CASE("Keras' Dice loss and MeanIoU metric are read by their class names; mean_iou and dice improve upwards",
          "[segmentation][compile]") {
    auto j = nlohmann::json::parse(R"({"module": "keras.losses", "class_name": "Dice", "config": {"name": "dice",
        "reduction": "sum_over_batch_size", "axis": null, "dtype": null}})");
    CHECK(parse_loss(j, "m.keras") == "dice");
    j["config"]["axis"] = nlohmann::json::array({1, 2});
    CHECK_THROWS_WITH(parse_loss(j, "m.keras"), Catch::Contains("the Dice sums over the whole batch"));
    CHECK(parse_loss("ce_dice", "s.json") == "ce_dice");
    auto m = nlohmann::json::parse(R"(["accuracy", {"module": "keras.metrics", "class_name": "MeanIoU",
        "config": {"num_classes": 2, "name": "mean_io_u", "ignore_class": null}}, "dice"])");
    CHECK(parse_metrics(m, "m.keras") == std::vector<std::string>{"accuracy", "mean_iou", "dice"});
    CHECK(improves_upwards("val_mean_iou", Mode::Auto));
    CHECK(improves_upwards("dice", Mode::Auto));
    CHECK_FALSE(improves_upwards("loss", Mode::Auto));
}

namespace {
Spec augmenting(const std::string& layers) {
    return parse_spec(R"({"input_shape": [9, 9, 1], "layers": [)" + layers + "]}", "aug.json");
}
}  // namespace

TEST_CASE("the augmentation layers move a mask with its image: the same draw, nearest, the fill its own", "[segmentation][preprocessing]") {
    torch::manual_seed(11);
    // Each pixel of x is its mask value + 1: a pixel of x and of the moved mask must still agree,
    // and where x got the fill (0), the mask gets its own (255).
    torch::Tensor mask = torch::randint(0, 4, {16, 9, 9}, torch::kLong);
    torch::Tensor x = (mask + 1).to(torch::kFloat).unsqueeze(3);
    Network net(augmenting(R"({"type": "RandomFlip"}, {"type": "RandomRotation", "factor": 0.2, "fill_mode": "constant",
        "interpolation": "nearest"}, {"type": "RandomZoom", "height_factor": [-0.3, 0.3], "fill_mode": "constant",
        "interpolation": "nearest"})"), 1);
    Network::Target t{mask, true, 255};
    torch::Tensor y = net.forward(x, true, &t).y.squeeze(3);
    REQUIRE(t.value.scalar_type() == torch::kLong);
    REQUIRE(t.value.sizes() == mask.sizes());
    CHECK(torch::equal(t.value, torch::where(y == 0, torch::full_like(t.value, 255), y.round().to(torch::kLong) - 1)));
    CHECK((y == 0).any().item<bool>());                 // some pixels were filled
    CHECK_FALSE(torch::equal(t.value, mask));           // and the masks moved
    // Not in training: neither moves.
    Network::Target still{mask, true, 255};
    CHECK(torch::equal(net.forward(x, false, &still).y.squeeze(3), x.squeeze(3)));
    CHECK(torch::equal(still.value, mask));
}

TEST_CASE("an image target moves with x through the augmentation layers as x does (bilinear, reflect)", "[segmentation][preprocessing]") {
    torch::manual_seed(12);
    torch::Tensor x = torch::rand({8, 9, 9, 1});
    Network net(augmenting(R"({"type": "RandomFlip", "mode": "horizontal"}, {"type": "RandomTranslation",
        "height_factor": 0.2, "width_factor": 0.2}, {"type": "RandomRotation", "factor": 0.1})"), 1);
    Network::Target t{x * 2 - 1, false, 0};  // reflect and bilinear are linear: the target stays 2x - 1
    torch::Tensor y = net.forward(x, true, &t).y;
    CHECK(torch::allclose(t.value, y * 2 - 1, 1e-5, 1e-5));
    CHECK_FALSE(torch::allclose(y, x, 1e-3, 1e-3));
    // A target of another size than the images a layer sees cannot move with them.
    Network::Target small{torch::rand({8, 5, 5, 1}), false, 0};
    CHECK_THROWS_WITH(net.forward(x, true, &small), Catch::Contains("layer random_flip transforms 9x9 but the target is 5x5"));
}
