// nneval's and nnpredict's output. Torch-free: it sees the outputs as plain
// F32 tensors, so it compiles fast and is tested without a model.
#include "nn/report.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <numeric>

#include "cli/error.hpp"
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

}  // namespace

OutputKind output_kind(const std::string& loss, const std::vector<int64_t>& output_shape) {
    if (output_shape.size() != 1) return OutputKind::Values;
    if (loss == "binary_crossentropy" && output_shape[0] == 1) return OutputKind::Binary;
    if ((loss == "categorical_crossentropy" || loss == "sparse_categorical_crossentropy") && output_shape[0] >= 2)
        return OutputKind::Categorical;
    return OutputKind::Values;
}

int64_t class_count(OutputKind kind, const std::vector<int64_t>& output_shape) {
    switch (kind) {
        case OutputKind::Binary: return 2;
        case OutputKind::Categorical: return output_shape.at(0);
        case OutputKind::Values: return 0;
    }
    return 0;
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
    if (Tensor* y = batch.find("y"); y && y->dtype == DType::I32 && y->shape.size() == 1) {
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

double Evaluation::accuracy() const {
    double a = scores.mean("accuracy");
    if (!std::isnan(a)) return a;
    return classification ? confusion.accuracy() : kNaN;
}

std::string Evaluation::text() const {
    std::string line = scores.keras_text();
    if (line.rfind(" - ", 0) == 0) line.erase(0, 3);
    std::string out = line + "\n";
    if (classification) out += "\n" + confusion.text();
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
                                   std::vector<std::string> classes, int top_k)
    : format_(format), kind_(kind), output_shape_(std::move(output_shape)), classes_(std::move(classes)), top_k_(top_k) {
    if (format_ == PredictFormat::Stream) return;
    if (kind_ == OutputKind::Values) {
        if (output_shape_.size() != 1)
            throw UsageError("the model outputs " + shape_text(output_shape_) +
                             " per sample (an image), not classes; use --format stream");
        if (top_k_ > 1) throw UsageError("--top-k needs a classifier; this model outputs values");
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
        if (format_ == PredictFormat::Tsv) {
            out += tsv_field(path);
            if (kind_ == OutputKind::Values) {
                for (int64_t c = 0; c < width; ++c) out += "\t" + float_text(row[c]);
            } else {
                for (const auto& [c, p] : top_classes(row, width, kind_, top_k_))
                    out += "\t" + tsv_field(classes_[size_t(c)]) + "\t" + float_text(p);
            }
            out += "\n";
        } else {
            Json j = {{"path", path}};
            if (kind_ != OutputKind::Values) {
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
