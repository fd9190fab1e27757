// nneval's and nnpredict's output. Torch-free: it sees the outputs as plain
// F32 tensors, so it compiles fast and is tested without a model.
#include "nn/report.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <numeric>

#include "cli/error.hpp"
#include "nn/batch_check.hpp"
#include "stream/feed.hpp"

namespace imgpipe::nn {

using Json = nlohmann::ordered_json;

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string fixed4(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.4f", v);
    return buf;
}

// Shortest text that reads back as the same float: probabilities in TSV.
std::string float_text(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.6g", v);
    return buf;
}

Json number_or_null(double v) { return std::isfinite(v) ? Json(v) : Json(nullptr); }

std::string dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

int64_t row_width(const Tensor& t) { return t.rows() ? t.elements() / t.rows() : 0; }

// The rest of a state after its rows: what a report adds to SampleRows::bytes().
std::string after_rows(const std::string& state) {
    int64_t header[2];
    std::memcpy(header, state.data(), sizeof header);
    return state.substr(sizeof header + size_t(2 * header[0] * header[1] + header[1]) * sizeof(float));
}

}  // namespace

OutputKind output_kind(const std::string& loss, const std::vector<int64_t>& output_shape, bool has_classes) {
    if (output_shape.size() == 3) {
        bool masks = loss == "sparse_categorical_crossentropy" || loss == "dice" || loss == "ce_dice" ||
                     (loss == "binary_crossentropy" && output_shape[2] == 1 && has_classes);
        return masks ? OutputKind::Segmentation : OutputKind::Values;
    }
    if (output_shape.size() != 1) return OutputKind::Values;
    if (loss == "binary_crossentropy") return output_shape[0] == 1 ? OutputKind::Binary : OutputKind::MultiLabel;
    if ((loss == "categorical_crossentropy" || loss == "sparse_categorical_crossentropy") && output_shape[0] >= 2)
        return OutputKind::Categorical;
    return OutputKind::Regression;
}

int64_t class_count(OutputKind kind, const std::vector<int64_t>& output_shape) {
    switch (kind) {
        case OutputKind::Binary: return 2;
        case OutputKind::Categorical:
        case OutputKind::MultiLabel: return output_shape.at(0);
        case OutputKind::Segmentation: return std::max<int64_t>(output_shape.at(2), 2);
        case OutputKind::Regression:
        case OutputKind::Values: return 0;
    }
    return 0;
}

std::string describe(OutputKind kind, const std::string& loss, const std::vector<int64_t>& output_shape) {
    std::string units = output_shape.size() == 1 ? std::to_string(output_shape[0]) : shape_text(output_shape);
    switch (kind) {
        case OutputKind::Binary: return "a binary classifier (one sigmoid unit, " + loss + ")";
        case OutputKind::Categorical: return "a classifier of one class per image (" + units + " units, " + loss + ")";
        case OutputKind::MultiLabel: return "a multi-label classifier (" + units + " sigmoid units, " + loss + ")";
        case OutputKind::Regression: return "a regression model (" + units + " numbers, loss " + loss + ")";
        case OutputKind::Values: return "a model of image outputs (" + units + ", loss " + loss + ")";
        case OutputKind::Segmentation:
            return "a segmentation model (a mask of " + std::to_string(class_count(kind, output_shape)) + " classes, output " +
                   units + ", " + loss + ")";
    }
    return "";
}

void check_target_kind(OutputKind kind, const std::string& loss, const std::vector<int64_t>& output_shape,
                       const Frame& batch, const std::string& where) {
    auto it = batch.metadata.find("class_mode");
    if (it == batch.metadata.end()) return;
    const std::string& mode = it->second;
    std::string what;
    if (mode == "raw" && kind != OutputKind::Regression) what = "numbers (class_mode raw, regression)";
    else if (mode == "multi_label" && kind != OutputKind::MultiLabel) what = "several classes per image (class_mode multi_label)";
    else if (mode == "sparse" && kind == OutputKind::MultiLabel) what = "one class per image (class_mode sparse)";
    else if (mode == "mask" && kind != OutputKind::Segmentation) what = "masks of class indices (class_mode mask)";
    else if (mode != "mask" && kind == OutputKind::Segmentation) what = "not masks (class_mode " + mode + ")";
    if (what.empty()) return;
    throw DataError(where, "the stream's targets are " + what + " but the model is " + describe(kind, loss, output_shape) +
                               ": evaluate it on targets of the kind it was trained on");
}

std::vector<std::string> class_names(const std::vector<std::string>& known, int64_t count) {
    if (int64_t(known.size()) == count) return known;
    std::vector<std::string> names;
    for (int64_t i = 0; i < count; ++i) names.push_back(std::to_string(i));
    return names;
}

void align_classes(Frame& batch, const std::vector<std::string>& model_classes, const std::string& where) {
    if (model_classes.empty() || !batch.metadata.count("classes")) return;
    std::vector<std::string> names = batch.classes();
    if (names.empty() || names == model_classes) return;
    std::vector<int32_t> to_model(names.size());
    for (size_t i = 0; i < names.size(); ++i) {
        auto it = std::find(model_classes.begin(), model_classes.end(), names[i]);
        if (it == model_classes.end())
            throw DataError(where, "the stream's class \"" + names[i] + "\" is not one of the model's " +
                                       json_list(model_classes));
        to_model[i] = int32_t(it - model_classes.begin());
    }
    Tensor* y = batch.find("y");
    auto mode = batch.metadata.find("class_mode");
    if (y && mode != batch.metadata.end() && mode->second == "multi_label") {
        // Several classes per image: the columns move to the model's places, its other classes 0.
        if (y->dtype != DType::F32 || y->shape.size() != 2 || y->shape[1] != int64_t(names.size()))
            throw DataError(where, "y is " + std::string(dtype_name(y->dtype)) + " " + shape_text(y->shape) + ", not F32 [n," +
                                       std::to_string(names.size()) + "] multi-hot rows for the stream's " +
                                       std::to_string(names.size()) + " classes");
        int64_t n = y->shape[0], from = y->shape[1], to = int64_t(model_classes.size());
        Tensor moved("y", DType::F32, {n, to});
        std::fill(moved.values<float>(), moved.values<float>() + n * to, 0.0f);
        for (int64_t i = 0; i < n; ++i)
            for (int64_t c = 0; c < from; ++c) moved.values<float>()[i * to + to_model[size_t(c)]] = y->values<float>()[i * from + c];
        *y = std::move(moved);
    } else if (y && y->dtype == DType::I32 && y->shape.size() == 1) {
        int32_t* v = y->values<int32_t>();
        for (int64_t i = 0; i < y->elements(); ++i) {
            if (v[i] < 0 || size_t(v[i]) >= names.size())
                throw DataError(where, "label " + std::to_string(v[i]) + " is out of range for the stream's " +
                                           std::to_string(names.size()) + " classes");
            v[i] = to_model[size_t(v[i])];
        }
    }
    batch.set_classes(model_classes);
}

std::vector<std::pair<int, double>> top_classes(const float* row, int64_t width, OutputKind kind, int k) {
    std::vector<std::pair<int, double>> out;
    if (kind == OutputKind::Binary) {
        double p = row[0];
        if (p >= 0.5) out = {{1, p}, {0, 1 - p}};
        else out = {{0, 1 - p}, {1, p}};
    } else {
        std::vector<int> order(static_cast<size_t>(width));
        std::iota(order.begin(), order.end(), 0);
        size_t keep = std::min(size_t(std::max(k, 0)), order.size());
        std::partial_sort(order.begin(), order.begin() + long(keep), order.end(), [&](int a, int b) {
            return row[a] > row[b] || (row[a] == row[b] && a < b);
        });
        for (size_t i = 0; i < keep; ++i) out.emplace_back(order[i], row[order[i]]);
    }
    if (int(out.size()) > k) out.resize(size_t(std::max(k, 0)));
    return out;
}

std::vector<int> true_classes(const Tensor& y, int64_t classes, const std::string& where) {
    std::vector<int> truth;
    int64_t n = y.rows();
    int64_t width = row_width(y);
    auto check = [&](double v, int64_t i) {
        if (v < 0 || v >= double(classes) || v != std::floor(v))
            throw DataError(where, "sample " + std::to_string(i) + ": label " + float_text(v) + " is not a class index below " +
                                       std::to_string(classes));
        return int(v);
    };
    if (y.shape.empty() || y.shape.size() > 2) return truth;
    if (width == 1) {
        for (int64_t i = 0; i < n; ++i) {
            double v = y.dtype == DType::I32 ? y.values<int32_t>()[i]
                       : y.dtype == DType::F32 ? y.values<float>()[i]
                                               : y.values<uint8_t>()[i];
            truth.push_back(check(v, i));
        }
    } else if (y.dtype == DType::F32 && y.shape.size() == 2 && width == classes) {  // one-hot
        for (int64_t i = 0; i < n; ++i) {
            const float* row = y.values<float>() + i * width;
            truth.push_back(int(std::max_element(row, row + width) - row));
        }
    }
    return truth;
}

ConfusionMatrix::ConfusionMatrix(std::vector<std::string> classes)
    : classes_(std::move(classes)), counts_(classes_.size() * classes_.size(), 0) {}

void ConfusionMatrix::add(int truth, int predicted) {
    size_t k = classes_.size();
    if (truth < 0 || predicted < 0 || size_t(truth) >= k || size_t(predicted) >= k)
        throw Error(kSoftware, "", "confusion matrix: class out of range");
    ++counts_[size_t(truth) * k + size_t(predicted)];
}

void ConfusionMatrix::add_batch(const Tensor& outputs, OutputKind kind, const std::vector<int>& truth) {
    int64_t width = row_width(outputs);
    for (int64_t i = 0; i < outputs.rows() && i < int64_t(truth.size()); ++i) {
        auto top = top_classes(outputs.values<float>() + i * width, width, kind, 1);
        add(truth[size_t(i)], top.at(0).first);
    }
}

void ConfusionMatrix::set_totals(const std::vector<double>& totals) {
    for (size_t i = 0; i < counts_.size() && i < totals.size(); ++i) counts_[i] = int64_t(totals[i]);
}

int64_t ConfusionMatrix::count(int truth, int predicted) const {
    return counts_[size_t(truth) * classes_.size() + size_t(predicted)];
}

int64_t ConfusionMatrix::total() const { return std::accumulate(counts_.begin(), counts_.end(), int64_t(0)); }

int64_t ConfusionMatrix::correct() const {
    int64_t c = 0;
    for (size_t i = 0; i < classes_.size(); ++i) c += count(int(i), int(i));
    return c;
}

double ConfusionMatrix::accuracy() const { return total() ? double(correct()) / double(total()) : kNaN; }

int64_t ConfusionMatrix::class_total(int truth) const {
    int64_t n = 0;
    for (size_t p = 0; p < classes_.size(); ++p) n += count(truth, int(p));
    return n;
}

double ConfusionMatrix::class_accuracy(int truth) const {
    int64_t n = class_total(truth);
    return n ? double(count(truth, truth)) / double(n) : kNaN;
}

std::vector<std::string> ConfusionMatrix::classes_without_samples() const {
    std::vector<std::string> out;
    for (size_t t = 0; t < classes_.size(); ++t)
        if (class_total(int(t)) == 0) out.push_back(classes_[t]);
    return out;
}

// Scoring a test set that lacks a class is legitimate (a Keras user's
// evaluate() does it quietly); said once, since that class's row is empty.
std::string ConfusionMatrix::absent_classes_note() const {
    std::vector<std::string> absent = classes_without_samples();
    if (absent.empty()) return "";
    std::string names;
    for (const std::string& c : absent) names += (names.empty() ? "\"" : ", \"") + c + "\"";
    bool one = absent.size() == 1;
    return "no sample of " + std::string(one ? "class " : std::to_string(absent.size()) + " classes: ") + names + " (of the model's " +
           std::to_string(classes_.size()) + "): " + (one ? "its row is" : "their rows are") +
           " 0/0, per-class accuracy \"-\" (null with --json); the accuracy is over the classes present";
}

std::string ConfusionMatrix::text() const {
    size_t k = classes_.size();
    size_t name_width = 0, cell = 1;
    for (const auto& c : classes_) name_width = std::max(name_width, c.size());
    for (int64_t v : counts_) cell = std::max(cell, std::to_string(v).size());
    cell = std::max(cell, std::to_string(k - 1).size()) + 1;
    size_t index_width = std::to_string(k ? k - 1 : 0).size();
    auto pad_left = [](const std::string& s, size_t w) { return std::string(w > s.size() ? w - s.size() : 0, ' ') + s; };
    auto pad_right = [](const std::string& s, size_t w) { return s + std::string(w > s.size() ? w - s.size() : 0, ' '); };

    std::string out = "confusion matrix (rows: true class, columns: predicted class):\n";
    out += std::string(index_width + 1 + name_width, ' ');
    for (size_t p = 0; p < k; ++p) out += pad_left(std::to_string(p), cell);
    out += "\n";
    for (size_t t = 0; t < k; ++t) {
        out += pad_left(std::to_string(t), index_width) + " " + pad_right(classes_[t], name_width);
        for (size_t p = 0; p < k; ++p) out += pad_left(std::to_string(count(int(t), int(p))), cell);
        out += "\n";
    }
    out += "\nper-class accuracy:\n";
    for (size_t t = 0; t < k; ++t) {
        double a = class_accuracy(int(t));
        out += pad_left(std::to_string(t), index_width) + " " + pad_right(classes_[t], name_width) + "  " +
               (std::isnan(a) ? std::string("     -") : fixed4(a)) + "  (" + std::to_string(count(int(t), int(t))) + "/" +
               std::to_string(class_total(int(t))) + ")\n";
    }
    return out;
}

std::vector<float> sample_weights(const Frame& batch, const std::string& where) {
    int64_t n = batch.samples();
    const Tensor* w = batch.find("w");
    if (!w) return std::vector<float>(size_t(n), 1.0f);
    if (w->dtype != DType::F32 || w->shape != std::vector<int64_t>{n})
        throw DataError(where, "w is " + std::string(dtype_name(w->dtype)) + " " + shape_text(w->shape) +
                                   ", not the samples' weights F32 [" + std::to_string(n) + "]");
    std::vector<float> out(w->values<float>(), w->values<float>() + n);
    for (int64_t i = 0; i < n; ++i)
        if (!std::isfinite(out[size_t(i)]) || out[size_t(i)] < 0)
            throw DataError(where, "sample " + std::to_string(i) + ": weight " + float_text(out[size_t(i)]) +
                                       " is not a finite number >= 0");
    return out;
}

double roc_auc(const std::vector<float>& scores, const std::vector<uint8_t>& truth, const std::vector<float>& weights) {
    std::vector<size_t> order(scores.size());
    std::iota(order.begin(), order.end(), size_t(0));
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] > scores[b]; });
    double tp = 0, fp = 0, area = 0;
    for (size_t i = 0; i < order.size();) {
        double tp0 = tp, fp0 = fp;
        size_t j = i;
        for (; j < order.size() && scores[order[j]] == scores[order[i]]; ++j)  // one point per distinct score
            (truth[order[j]] ? tp : fp) += weights[order[j]];
        area += (fp - fp0) * (tp + tp0) / 2;
        i = j;
    }
    return tp > 0 && fp > 0 ? area / (tp * fp) : kNaN;
}

std::string SampleRows::bytes() const {
    int64_t header[2] = {width, rows()};
    std::string out(reinterpret_cast<const char*>(header), sizeof header);
    for (const std::vector<float>* v : {&truth, &predicted, &weight})
        out.append(reinterpret_cast<const char*>(v->data()), v->size() * sizeof(float));
    return out;
}

void SampleRows::append_bytes(const std::string& bytes) {
    int64_t header[2];
    if (bytes.size() < sizeof header) throw Error(kSoftware, "", "evaluation rows: short state");
    std::memcpy(header, bytes.data(), sizeof header);
    size_t values = size_t(header[0] * header[1]), n = size_t(header[1]);
    if (n == 0) return;  // a rank that read no batch
    if (bytes.size() < sizeof header + (2 * values + n) * sizeof(float) || (rows() && header[0] != width))
        throw Error(kSoftware, "", "evaluation rows: the ranks' states differ");
    width = header[0];
    const float* f = reinterpret_cast<const float*>(bytes.data() + sizeof header);
    truth.insert(truth.end(), f, f + values);
    predicted.insert(predicted.end(), f + values, f + 2 * values);
    weight.insert(weight.end(), f + 2 * values, f + 2 * values + n);
}

void RegressionReport::add_batch(const Frame& batch, const Tensor& outputs, int64_t position, const std::string& where) {
    const Tensor& y = batch.get("y");
    int64_t n = outputs.rows(), k = row_width(outputs);
    if (y.dtype != DType::F32 || y.elements() != n * k)
        throw DataError(where, "y is " + std::string(dtype_name(y.dtype)) + " " + shape_text(y.shape) + ", not F32 [" +
                                   std::to_string(n) + "," + std::to_string(k) + "]: the model's " + std::to_string(k) +
                                   " numbers per sample");
    if (targets_.empty()) {
        auto it = batch.metadata.find("targets");
        if (it != batch.metadata.end()) targets_ = parse_json_list(it->second, "metadata \"targets\"");
        if (int64_t(targets_.size()) != k) targets_ = class_names({}, k);
        rows_.width = k;
    }
    std::vector<float> w = sample_weights(batch, where);
    weighted_ |= batch.find("w") != nullptr;
    std::vector<std::string> paths = batch.paths();
    const float* t = y.values<float>();
    const float* p = outputs.values<float>();
    rows_.truth.insert(rows_.truth.end(), t, t + n * k);
    rows_.predicted.insert(rows_.predicted.end(), p, p + n * k);
    rows_.weight.insert(rows_.weight.end(), w.begin(), w.end());
    for (int64_t i = 0; i < n; ++i) {
        Residual r;
        r.path = int64_t(paths.size()) == n ? paths[size_t(i)] : std::to_string(position + i);
        double largest = -1;
        for (int64_t c = 0; c < k; ++c) {
            double e = std::fabs(double(p[i * k + c]) - double(t[i * k + c]));
            if (e > largest) largest = e, r.target = c, r.truth = t[i * k + c], r.predicted = p[i * k + c];
        }
        keep(std::move(r));
    }
}

void RegressionReport::keep(Residual r) {
    if (worst_.size() == keep_worst_ && std::fabs(r.residual()) <= std::fabs(worst_.back().residual())) return;
    auto at = std::upper_bound(worst_.begin(), worst_.end(), r,
                               [](const Residual& a, const Residual& b) { return std::fabs(a.residual()) > std::fabs(b.residual()); });
    worst_.insert(at, std::move(r));
    if (worst_.size() > keep_worst_) worst_.pop_back();
}

RegressionReport::Stats RegressionReport::column(int64_t c) const {
    const int64_t k = rows_.width, n = rows_.rows();
    double sw = 0, swy = 0, sae = 0, sse = 0;
    for (int64_t i = 0; i < n; ++i) {
        double w = rows_.weight[size_t(i)], t = rows_.truth[size_t(i * k + c)], e = rows_.predicted[size_t(i * k + c)] - t;
        sw += w, swy += w * t, sae += w * std::fabs(e), sse += w * e * e;
    }
    double mean = swy / sw, sst = 0;
    for (int64_t i = 0; i < n; ++i) {
        double d = rows_.truth[size_t(i * k + c)] - mean;
        sst += rows_.weight[size_t(i)] * d * d;
    }
    // R2 of a constant column is undefined (scikit-learn: 1.0 if the predictions are exact, else 0.0; here NaN).
    return {sae / sw, std::sqrt(sse / sw), sst > 0 ? 1 - sse / sst : kNaN};
}

RegressionReport::Stats RegressionReport::overall() const {
    Stats all{0, 0, 0};
    int64_t k = rows_.width;
    for (int64_t c = 0; c < k; ++c) {
        Stats s = column(c);
        all.mae += s.mae / double(k);
        all.rmse += s.rmse * s.rmse / double(k);
        all.r2 += s.r2 / double(k);
    }
    all.rmse = std::sqrt(all.rmse);
    return all;
}

std::string RegressionReport::state() const {
    Json worst = Json::array();
    for (const Residual& r : worst_) worst.push_back({r.path, r.target, r.truth, r.predicted});
    return rows_.bytes() + dump(Json{{"targets", targets_}, {"weighted", weighted_}, {"worst", worst}});
}

void RegressionReport::merge(const std::string& state) {
    rows_.append_bytes(state);
    Json j = Json::parse(after_rows(state));
    if (targets_.empty()) targets_ = j["targets"].get<std::vector<std::string>>();
    if (rows_.width == 0) rows_.width = int64_t(targets_.size());
    weighted_ |= j["weighted"].get<bool>();
    for (const Json& r : j["worst"])
        keep({r[0].get<std::string>(), r[1].get<int64_t>(), r[2].get<double>(), r[3].get<double>()});
}

namespace {
std::string pad_left(const std::string& s, size_t w) { return std::string(w > s.size() ? w - s.size() : 0, ' ') + s; }
std::string pad_right(const std::string& s, size_t w) { return s + std::string(w > s.size() ? w - s.size() : 0, ' '); }
std::string cell(double v) { return pad_left(std::isnan(v) ? std::string("-") : fixed4(v), 10); }
}  // namespace

std::string RegressionReport::text() const {
    size_t name_width = std::string("overall").size();
    for (const std::string& t : targets_) name_width = std::max(name_width, t.size());
    std::string out = std::string(weighted_ ? "regression, samples weighted by w" : "regression") + ":\n" +
                      pad_right("", name_width) + pad_left("mae", 10) + pad_left("rmse", 10) + pad_left("r2", 10) + "\n";
    auto line = [&](const std::string& name, Stats s) { return pad_right(name, name_width) + cell(s.mae) + cell(s.rmse) + cell(s.r2) + "\n"; };
    for (size_t c = 0; c < targets_.size(); ++c) out += line(targets_[c], column(int64_t(c)));
    if (targets_.size() > 1) out += line("overall", overall());
    out += "\nworst residuals (predicted - true):\n";
    out += pad_left("residual", 12) + pad_left("true", 12) + pad_left("predicted", 12) + "  " + pad_right("target", name_width) + "  path\n";
    for (const Residual& r : worst_)
        out += pad_left(float_text(r.residual()), 12) + pad_left(float_text(r.truth), 12) + pad_left(float_text(r.predicted), 12) +
               "  " + pad_right(targets_[size_t(r.target)], name_width) + "  " + tsv_field(r.path) + "\n";
    return out;
}

void MultiLabelReport::add_batch(const Frame& batch, const Tensor& outputs, const std::string& where) {
    const Tensor& y = batch.get("y");
    int64_t n = outputs.rows(), k = row_width(outputs);
    if (y.dtype != DType::F32 || y.shape != std::vector<int64_t>{n, k})
        throw DataError(where, "y is " + std::string(dtype_name(y.dtype)) + " " + shape_text(y.shape) + ", not F32 [" +
                                   std::to_string(n) + "," + std::to_string(k) + "] multi-hot rows for the model's " +
                                   std::to_string(k) + " classes");
    const float* t = y.values<float>();
    for (int64_t i = 0; i < n * k; ++i)
        if (t[i] != 0.0f && t[i] != 1.0f)
            throw DataError(where, "sample " + std::to_string(i / k) + ": y[" + std::to_string(i % k) + "] is " +
                                       float_text(t[i]) + ", not 0 or 1 (a multi-hot row)");
    std::vector<float> w = sample_weights(batch, where);
    weighted_ |= batch.find("w") != nullptr;
    rows_.width = k;
    rows_.truth.insert(rows_.truth.end(), t, t + n * k);
    rows_.predicted.insert(rows_.predicted.end(), outputs.values<float>(), outputs.values<float>() + n * k);
    rows_.weight.insert(rows_.weight.end(), w.begin(), w.end());
}

void MultiLabelReport::merge(const std::string& state) {
    rows_.append_bytes(state);
    weighted_ |= after_rows(state) == "w";
}

namespace {
double ratio(double a, double b) { return b > 0 ? a / b : kNaN; }
void finish(MultiLabelReport::Stats& s) {
    s.precision = ratio(s.tp, s.tp + s.fp);
    s.recall = ratio(s.tp, s.tp + s.fn);
    s.f1 = ratio(2 * s.tp, 2 * s.tp + s.fp + s.fn);
}
}  // namespace

MultiLabelReport::Stats MultiLabelReport::per_class(int64_t c) const {
    Stats s{0, 0, 0, 0, 0, 0, 0, 0};
    const int64_t k = rows_.width, n = rows_.rows();
    std::vector<float> scores(size_t(n), 0.0f);
    std::vector<uint8_t> truth(size_t(n), 0);
    for (int64_t i = 0; i < n; ++i) {
        bool shown = rows_.truth[size_t(i * k + c)] == 1.0f, predicted = rows_.predicted[size_t(i * k + c)] > float(threshold_);
        double w = rows_.weight[size_t(i)];
        s.support += shown;
        if (shown && predicted) s.tp += w;
        else if (predicted) s.fp += w;
        else if (shown) s.fn += w;
        scores[size_t(i)] = rows_.predicted[size_t(i * k + c)];
        truth[size_t(i)] = shown;
    }
    finish(s);
    s.auc = roc_auc(scores, truth, rows_.weight);
    return s;
}

MultiLabelReport::Stats MultiLabelReport::micro() const {
    Stats s{0, 0, 0, 0, 0, 0, 0, 0};
    for (int64_t c = 0; c < rows_.width; ++c) {
        Stats one = per_class(c);
        s.tp += one.tp, s.fp += one.fp, s.fn += one.fn, s.support += one.support;
    }
    finish(s);
    // Every (sample, class) score as one binary problem, each weighted by its sample's weight.
    std::vector<uint8_t> truth(rows_.truth.size());
    std::vector<float> weights(rows_.truth.size());
    for (size_t i = 0; i < truth.size(); ++i) truth[i] = rows_.truth[i] == 1.0f, weights[i] = rows_.weight[i / size_t(rows_.width)];
    s.auc = roc_auc(rows_.predicted, truth, weights);
    return s;
}

MultiLabelReport::Stats MultiLabelReport::macro() const {
    Stats s{0, 0, 0, 0, 0, 0, 0, 0};
    int64_t with_auc = 0;
    auto zero = [](double v) { return std::isnan(v) ? 0.0 : v; };
    for (int64_t c = 0; c < rows_.width; ++c) {
        Stats one = per_class(c);
        s.precision += zero(one.precision), s.recall += zero(one.recall), s.f1 += zero(one.f1), s.support += one.support;
        s.tp += one.tp, s.fp += one.fp, s.fn += one.fn;
        if (!std::isnan(one.auc)) s.auc += one.auc, ++with_auc;
    }
    double k = double(std::max<int64_t>(rows_.width, 1));
    s.precision /= k, s.recall /= k, s.f1 /= k;
    s.auc = with_auc ? s.auc / double(with_auc) : kNaN;
    return s;
}

// As the confusion matrix's note: a test set may lack a class, said once.
std::string MultiLabelReport::absent_classes_note() const {
    std::string names;
    int64_t absent = 0;
    for (int64_t c = 0; c < rows_.width; ++c)
        if (per_class(c).support == 0) names += (absent++ ? ", \"" : "\"") + classes_[size_t(c)] + "\"";
    if (!absent) return "";
    return "no image shows " + std::string(absent == 1 ? "class " : std::to_string(absent) + " classes: ") + names +
           " (of the model's " + std::to_string(classes_.size()) + "): " + (absent == 1 ? "its" : "their") +
           " recall and AUC are \"-\" (null with --json), 0 in the macro average";
}

std::string MultiLabelReport::text() const {
    size_t name_width = std::string("macro average").size(), index_width = std::to_string(classes_.size()).size();
    for (const std::string& c : classes_) name_width = std::max(name_width, index_width + 1 + c.size());
    std::string out = "multi-label, a class predicted above " + float_text(threshold_) +
                      (weighted_ ? ", samples weighted by w" : "") + ":\n" + pad_right("", name_width) +
                      pad_left("precision", 10) + pad_left("recall", 10) + pad_left("f1", 10) + pad_left("support", 10) +
                      pad_left("auc", 10) + "\n";
    auto line = [&](const std::string& name, const Stats& s) {
        return pad_right(name, name_width) + cell(s.precision) + cell(s.recall) + cell(s.f1) +
               pad_left(std::to_string(s.support), 10) + cell(s.auc) + "\n";
    };
    for (size_t c = 0; c < classes_.size(); ++c) out += line(pad_left(std::to_string(c), index_width) + " " + classes_[c], per_class(int64_t(c)));
    out += line("micro average", micro());
    out += line("macro average", macro());
    return out;
}

void Evaluation::start(OutputKind k, const std::vector<std::string>& classes, double threshold) {
    kind = k;
    classification = kind == OutputKind::Binary || kind == OutputKind::Categorical;
    multi_label = kind == OutputKind::MultiLabel;
    regression = kind == OutputKind::Regression;
    segmentation = kind == OutputKind::Segmentation;
    confusion = ConfusionMatrix(classification || segmentation ? classes : std::vector<std::string>{});
    labels = MultiLabelReport(multi_label ? classes : std::vector<std::string>{}, threshold);
}

void Evaluation::add(const Frame& batch, const Tensor& outputs, int64_t position, const std::string& where) {
    const Tensor& y = batch.get("y");
    if (classification) {
        std::vector<int> truth = true_classes(y, int64_t(confusion.classes().size()), where);
        if (truth.empty()) classification = false;  // y is not class labels
        else confusion.add_batch(outputs, kind, truth);
    }
    if (regression) {
        if (y.dtype == DType::F32) numbers.add_batch(batch, outputs, position, where);
        else regression = false;  // class labels under a regression loss: the loss alone, as before
    }
    if (multi_label) labels.add_batch(batch, outputs, where);
    if (segmentation) {
        // Each pixel's class (the highest of C channels; one sigmoid channel: 1 above 0.5, as the
        // accuracy metric) against the mask's, the ignore index left out.
        const int64_t K = int64_t(confusion.classes().size()), ignore = ignore_index(batch, where);
        const int64_t pixels = y.elements(), C = pixels ? outputs.elements() / pixels : 0;
        if (y.dtype != DType::U8 || outputs.dtype != DType::F32 || C < 1 || C * pixels != outputs.elements())
            throw DataError(where, "y is " + std::string(dtype_name(y.dtype)) + " " + shape_text(y.shape) +
                                       ", not a U8 mask of the outputs' " + shape_text(outputs.shape));
        const uint8_t* truth = y.values<uint8_t>();
        const float* p = outputs.values<float>();
        for (int64_t i = 0; i < pixels; ++i) {
            if (truth[i] == ignore) continue;
            const float* row = p + i * C;
            int predicted = C == 1 ? int(row[0] > 0.5f) : int(std::max_element(row, row + C) - row);
            if (truth[i] >= K)
                throw DataError(where, "mask value " + std::to_string(truth[i]) + " is not a class index below " +
                                           std::to_string(K));
            confusion.add(truth[i], predicted);
        }
    }
}

double Evaluation::iou(int c) const {
    int64_t tp = confusion.count(c, c), fp = -tp, fn = confusion.class_total(c) - tp;
    for (size_t t = 0; t < confusion.classes().size(); ++t) fp += confusion.count(int(t), c);
    int64_t d = tp + fp + fn;
    return d ? double(tp) / double(d) : kNaN;
}

double Evaluation::mean_iou() const {
    double sum = 0;
    int n = 0;
    for (size_t c = 0; c < confusion.classes().size(); ++c)
        if (double v = iou(int(c)); !std::isnan(v)) sum += v, ++n;
    return n ? sum / n : kNaN;
}

std::string Evaluation::state() const {
    if (regression) return numbers.state();
    if (multi_label) return labels.state();
    return "";
}

void Evaluation::merge(const std::string& state) {
    if (state.empty()) return;  // a rank that read no batch
    if (regression) numbers.merge(state);
    if (multi_label) labels.merge(state);
}

double Evaluation::accuracy() const {
    double a = scores.mean("accuracy");
    if (!std::isnan(a)) return a;
    return classification || segmentation ? confusion.accuracy() : kNaN;
}

std::string Evaluation::text() const {
    std::string line = scores.keras_text();
    if (line.rfind(" - ", 0) == 0) line.erase(0, 3);
    std::string out = line + "\n";
    if (classification) out += "\n" + confusion.text();
    if (regression) out += "\n" + numbers.text();
    if (multi_label) out += "\n" + labels.text();
    if (segmentation) {
        out += "\npixel " + confusion.text();  // the pixels' confusion matrix, and each class's recall
        size_t name_width = 0, index_width = std::to_string(confusion.classes().size() - 1).size();
        for (const auto& c : confusion.classes()) name_width = std::max(name_width, c.size());
        out += "\nIoU per class:\n";
        for (size_t c = 0; c < confusion.classes().size(); ++c) {
            const std::string& name = confusion.classes()[c];
            std::string index = std::to_string(c);
            double v = iou(int(c));
            out += std::string(index_width - index.size(), ' ') + index + " " + name +
                   std::string(name_width - name.size(), ' ') + "  " + (std::isnan(v) ? std::string("     -") : fixed4(v)) +
                   "\n";
        }
        double m = mean_iou();
        out += "mean IoU: " + (std::isnan(m) ? std::string("-") : fixed4(m)) + "\n";
    }
    return out;
}

std::string Evaluation::json() const {
    Json j = Json::object();
    for (const auto& [name, value] : scores.means()) j[name] = number_or_null(value);
    j["samples"] = samples;
    j["batches"] = batches;
    j["seconds"] = seconds;
    if (classification) {
        const auto& names = confusion.classes();
        j["classes"] = names;
        Json matrix = Json::array(), per_class = Json::object();
        for (size_t t = 0; t < names.size(); ++t) {
            Json row = Json::array();
            for (size_t p = 0; p < names.size(); ++p) row.push_back(confusion.count(int(t), int(p)));
            matrix.push_back(row);
            per_class[names[t]] = number_or_null(confusion.class_accuracy(int(t)));
        }
        j["confusion_matrix"] = matrix;
        j["per_class_accuracy"] = per_class;
    }
    if (regression) {
        auto stats = [](RegressionReport::Stats s) {
            return Json{{"mae", number_or_null(s.mae)}, {"rmse", number_or_null(s.rmse)}, {"r2", number_or_null(s.r2)}};
        };
        Json per_target = Json::object(), worst = Json::array();
        for (size_t c = 0; c < numbers.targets().size(); ++c) per_target[numbers.targets()[c]] = stats(numbers.column(int64_t(c)));
        for (const Residual& r : numbers.worst())
            worst.push_back({{"path", r.path}, {"target", numbers.targets()[size_t(r.target)]}, {"true", r.truth},
                             {"predicted", r.predicted}, {"residual", r.residual()}});
        j["regression"] = {{"targets", numbers.targets()}, {"weighted", numbers.weighted()}, {"per_target", per_target},
                           {"overall", stats(numbers.overall())}, {"worst", worst}};
    }
    if (multi_label) {
        auto stats = [](const MultiLabelReport::Stats& s) {
            return Json{{"precision", number_or_null(s.precision)}, {"recall", number_or_null(s.recall)},
                        {"f1", number_or_null(s.f1)}, {"support", s.support}, {"auc", number_or_null(s.auc)}};
        };
        Json per_class = Json::object();
        for (size_t c = 0; c < labels.classes().size(); ++c) per_class[labels.classes()[c]] = stats(labels.per_class(int64_t(c)));
        j["multi_label"] = {{"classes", labels.classes()}, {"threshold", labels.threshold()}, {"weighted", labels.weighted()},
                            {"per_class", per_class}, {"micro", stats(labels.micro())}, {"macro", stats(labels.macro())}};
    }
    if (segmentation) {
        const auto& names = confusion.classes();
        Json matrix = Json::array(), per_class = Json::object(), iou_of = Json::object();
        for (size_t t = 0; t < names.size(); ++t) {
            Json row = Json::array();
            for (size_t p = 0; p < names.size(); ++p) row.push_back(confusion.count(int(t), int(p)));
            matrix.push_back(row);
            per_class[names[t]] = number_or_null(confusion.class_accuracy(int(t)));
            iou_of[names[t]] = number_or_null(iou(int(t)));
        }
        j["segmentation"] = {{"classes", names}, {"pixels", confusion.total()},
                             {"pixel_accuracy", number_or_null(confusion.accuracy())}, {"confusion_matrix", matrix},
                             {"per_class_accuracy", per_class}, {"iou", iou_of}, {"mean_iou", number_or_null(mean_iou())}};
    }
    return dump(j) + "\n";
}

bool StepLimit::take(const Frame& frame, bool began_epoch) {
    if (steps_ > 0) {
        if (taken_ == 0) expected_ = steps_;
        if (taken_ >= steps_) return false;
    } else if (began_epoch) {
        if (epochs_++ > 0) return false;  // one epoch: stop where the next begins
    }
    if (steps_ == 0 && taken_ == 0 && frame.samples() > 0) {
        int64_t size = frame.meta_int("epoch_size", 0), n = frame.samples();
        if (size > 0) expected_ = (size + n - 1) / n;
    }
    if (frame.samples() > 0) ++taken_;
    return true;
}

void StepLimit::check_complete(const std::string& input) const {
    if (steps_ > 0 && taken_ < steps_)
        throw DataError(input, "the stream ended after " + std::to_string(taken_) + " batches; --steps asked for " +
                                   std::to_string(steps_));
}

EvalStream::EvalStream(const std::string& path, int64_t steps, Collective& world)
    : in_(path), reader_(in_), limit_(steps), rank_(world.rank()), ranks_(world.size()) {
    if (ranks_ == 1) return;
    uint32_t layout = 0;  // a file's frame layout, from its headers; 0 for a pipe
    if (in_.seekable()) {
        FeedOptions headers;
        headers.role = "evaluation";
        layout = BatchFeed(path, headers).fingerprint();
    }
    shared_ = world.same_everywhere(layout);
}

std::string EvalStream::sharing() const {
    if (!shared_) return "";
    return in_.name() + ": shared by " + std::to_string(ranks_) + " ranks (rank 0 reads its batches 1, " +
           std::to_string(1 + ranks_) + ", " + std::to_string(1 + 2 * ranks_) + ", ...)";
}

bool EvalStream::next(Frame& batch) {
    while (!over_ && reader_.read(batch)) {
        if (!limit_.take(batch, reader_.began_epoch())) break;
        int64_t n = batch.samples();
        if (n == 0) continue;
        position_ += n;
        last_rows_ = n;
        if (!shared_ || (limit_.taken() - 1) % ranks_ == rank_) return true;
    }
    over_ = true;
    return false;
}

bool parse_predict_format(const std::string& text, PredictFormat& out) {
    if (text == "tsv") out = PredictFormat::Tsv;
    else if (text == "json") out = PredictFormat::Json;
    else if (text == "stream") out = PredictFormat::Stream;
    else return false;
    return true;
}

PredictionWriter::PredictionWriter(PredictFormat format, OutputKind kind, std::vector<int64_t> output_shape,
                                   std::vector<std::string> classes, int top_k, double threshold)
    : format_(format), kind_(kind), output_shape_(std::move(output_shape)), classes_(std::move(classes)), top_k_(top_k),
      threshold_(threshold) {
    if (format_ == PredictFormat::Stream) return;
    if (kind_ == OutputKind::Values || kind_ == OutputKind::Segmentation)
        throw UsageError("the model outputs " + shape_text(output_shape_) +
                         " per sample (an image), not classes; use --format stream");
    if (kind_ == OutputKind::Regression || kind_ == OutputKind::MultiLabel) {
        if (top_k_ > 1)
            throw UsageError(kind_ == OutputKind::Regression
                                 ? "--top-k needs a classifier; this model outputs values"
                                 : "--top-k is for a classifier of one class per image; this multi-label model's lines "
                                   "hold the classes above --threshold and every class's probability");
        return;
    }
    int64_t k = int64_t(classes_.size());
    if (top_k_ < 1 || top_k_ > k)
        throw UsageError("--top-k " + std::to_string(top_k_) + " is out of range: the model has " + std::to_string(k) +
                         " classes");
}

std::string tsv_field(const std::string& s) {
    std::string out;
    out.reserve(s.size());
    for (char c : s) {
        switch (c) {
            case '\\': out += "\\\\"; break;
            case '\t': out += "\\t"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            default: out += c;
        }
    }
    return out;
}

std::string PredictionWriter::lines(const Frame& input, const Tensor& outputs) {
    std::vector<std::string> paths = input.paths();
    int64_t n = outputs.rows(), width = row_width(outputs);
    if (!paths.empty() && int64_t(paths.size()) != n)
        throw DataError("", "metadata \"paths\" names " + std::to_string(paths.size()) + " samples, the frame holds " +
                                std::to_string(n));
    std::string out;
    for (int64_t i = 0; i < n; ++i, ++position_) {
        std::string path = paths.empty() ? std::to_string(position_) : paths[size_t(i)];
        const float* row = outputs.values<float>() + i * width;
        std::vector<std::string> above;  // a multi-label model's classes
        if (kind_ == OutputKind::MultiLabel)
            for (int64_t c = 0; c < width; ++c)
                if (row[c] > float(threshold_)) above.push_back(classes_[size_t(c)]);
        if (format_ == PredictFormat::Tsv) {
            out += tsv_field(path);
            if (kind_ == OutputKind::Regression) {
                for (int64_t c = 0; c < width; ++c) out += "\t" + float_text(row[c]);
            } else if (kind_ == OutputKind::MultiLabel) {
                std::string names;
                for (const std::string& a : above) names += (names.empty() ? "" : "|") + a;
                out += "\t" + tsv_field(names);
                for (int64_t c = 0; c < width; ++c) out += "\t" + float_text(row[c]);
            } else {
                for (const auto& [c, p] : top_classes(row, width, kind_, top_k_))
                    out += "\t" + tsv_field(classes_[size_t(c)]) + "\t" + float_text(p);
            }
            out += "\n";
        } else {
            Json j = {{"path", path}};
            if (kind_ == OutputKind::MultiLabel) {
                j["classes"] = above;
                Json p = Json::object();
                for (int64_t c = 0; c < width; ++c) p[classes_[size_t(c)]] = row[c];
                j["probabilities"] = p;
            } else if (kind_ != OutputKind::Regression) {
                auto top = top_classes(row, width, kind_, top_k_);
                j["class"] = classes_[size_t(top[0].first)];
                j["probability"] = top[0].second;
                if (top_k_ > 1) {
                    Json list = Json::array();
                    for (const auto& [c, p] : top) list.push_back({{"class", classes_[size_t(c)]}, {"probability", p}});
                    j["top"] = list;
                }
            }
            j["output"] = std::vector<float>(row, row + width);
            out += dump(j) + "\n";
        }
    }
    return out;
}

Frame PredictionWriter::frame(const Frame& input, Tensor outputs) const {
    Frame out;
    outputs.name = "x";
    out.tensors.push_back(std::move(outputs));
    out.metadata = input.metadata;
    out.metadata.erase("class_mode");  // it described the y this frame no longer has
    out.metadata["format"] = kStreamFormat;
    return out;
}

}  // namespace imgpipe::nn
