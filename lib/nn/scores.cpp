// Scores: the running, sample-weighted means Keras shows in its progress bar,
// and the epoch-level metrics computed from the epoch's sums as Keras' stateful
// metrics compute them. Torch-free, so that nneval and nnpredict can use it
// without the engine.
#include <cmath>
#include <cstdio>
#include <limits>

#include "nn/engine.hpp"

namespace imgpipe::nn {

namespace {

double ratio(double a, double b) { return b == 0 ? 0 : a / b; }  // Keras' divide_no_nan

// Masks' "iou": each class's IoU from its tp, fp, fn, as Keras' IoU(target_class_ids=[c])
// computes it, shown as iou_0, iou_1, ... (the epoch lines, the history, --monitor).
std::vector<std::pair<std::string, double>> class_ious(const std::vector<double>& v) {
    const double eps = 1e-7;
    size_t k = v.size() / 3;
    std::vector<std::pair<std::string, double>> out;
    for (size_t i = 0; i < k; ++i) {
        double d = v[i] + v[k + i] + v[2 * k + i];
        out.emplace_back("iou_" + std::to_string(i), v[i] / (d + eps) / (double(d > 1e-9) + eps));
    }
    return out;
}

}  // namespace

size_t Scores::sum_count(const std::string& name, int64_t outputs) {
    if (name == "precision" || name == "recall") return 2;  // true positives, false positives or negatives
    if (name == "f1_score") return 3 * size_t(outputs);     // per output: tp, fp, fn
    if (name == "r2_score") return 4 * size_t(outputs);     // per output: sum y, sum y^2, sum (y - p)^2, count
    if (name == "auc") return 400;                          // 200 buckets of positives, 200 of negatives
    if (name == "dice") return 3;                           // masks: sum y*p, sum y, sum p
    if (name == "mean_iou" || name == "iou") return 3 * size_t(outputs);  // masks: per class tp, fp, fn
    return 1;                                               // a mean (root_mean_squared_error: of the squares)
}

double Scores::value(const Sum& s) {
    const std::vector<double>& v = s.sums;
    if (s.name == "root_mean_squared_error") return std::sqrt(v[0] / double(s.n));
    if (s.name == "precision" || s.name == "recall") return ratio(v[0], v[0] + v[1]);
    // Masks (Objective: segmentation): pixel accuracy from the correct and the counted pixels.
    if (s.name == "accuracy" && v.size() == 2) return ratio(v[0], v[1]);
    if (s.name == "dice") return 2 * v[0] / (v[1] + v[2] + 1e-7);  // the Dice coefficient, 1 - Keras' dice loss
    if (s.name == "mean_iou") {
        // Keras' MeanIoU.result(): TP / (TP + FP + FN + eps) per class, summed over the
        // classes whose denominator is not 0, divided by their count (+ eps).
        const double eps = 1e-7;
        size_t k = v.size() / 3;
        double sum = 0, valid = 0;
        for (size_t i = 0; i < k; ++i) {
            double d = v[i] + v[k + i] + v[2 * k + i];
            valid += d > 1e-9;
            sum += v[i] / (d + eps);
        }
        return sum / (valid + eps);
    }
    if (s.name == "f1_score") {
        // Keras' F1Score(average="macro"): each output's F1 with its epsilons, then their mean.
        const double eps = 1e-7;
        size_t k = v.size() / 3;
        double sum = 0;
        for (size_t i = 0; i < k; ++i) {
            double tp = v[i], fp = v[k + i], fn = v[2 * k + i];
            double p = tp / (tp + fp + eps), r = tp / (tp + fn + eps);
            sum += 2 * p * r / (p + r + eps);
        }
        return sum / double(k);
    }
    if (s.name == "r2_score") {
        // Keras' R2Score(class_aggregation="uniform_average"): 1 - SSres/SStot per output (an
        // infinite one counts as 0), averaged.
        size_t k = v.size() / 4;
        double sum = 0;
        for (size_t i = 0; i < k; ++i) {
            double mean = v[i] / v[3 * k + i];
            double total = v[k + i] - v[i] * mean;
            double r2 = 1 - v[2 * k + i] / total;
            sum += std::isinf(r2) ? 0 : r2;
        }
        return sum / double(k);
    }
    if (s.name == "auc") {
        // Keras' AUC (ROC, interpolation): positives and negatives above each of the 200
        // thresholds (the buckets at or above it), then the trapezoids between them.
        double tp[200], fp[200], pos = 0, neg = 0;
        for (int i = 199; i >= 0; --i) {
            pos += v[size_t(i)];
            neg += v[size_t(200 + i)];
            tp[i] = pos;
            fp[i] = neg;
        }
        double area = 0;
        for (int i = 0; i < 199; ++i)
            area += (ratio(fp[i], neg) - ratio(fp[i + 1], neg)) * (ratio(tp[i], pos) + ratio(tp[i + 1], pos)) / 2;
        return area;
    }
    return v[0] / double(s.n);
}

void Scores::add(const std::string& name, double value, int64_t samples) {
    add_sums(name, {value * double(samples)}, samples);
}

void Scores::add_sums(const std::string& name, const std::vector<double>& sums, int64_t samples) {
    if (samples <= 0) return;
    for (Sum& s : sums_) {
        if (s.name == name) {
            for (size_t i = 0; i < s.sums.size() && i < sums.size(); ++i) s.sums[i] += sums[i];
            s.n += samples;
            return;
        }
    }
    sums_.push_back({name, sums, samples});
}

std::vector<std::pair<std::string, double>> Scores::means() const {
    std::vector<std::pair<std::string, double>> out;
    for (const Sum& s : sums_) {
        if (s.name != "iou") out.emplace_back(s.name, value(s));
        else for (auto& one : class_ious(s.sums)) out.push_back(std::move(one));
    }
    return out;
}

double Scores::mean(const std::string& name) const {
    for (const Sum& s : sums_) {
        if (s.name == name) return value(s);
        if (s.name == "iou" && name.rfind("iou_", 0) == 0)
            for (const auto& [n, v] : class_ious(s.sums))
                if (n == name) return v;
    }
    return std::numeric_limits<double>::quiet_NaN();
}

int64_t Scores::samples(const std::string& name) const {
    for (const Sum& s : sums_)
        if (s.name == name) return s.n;
    return 0;
}

std::vector<double> Scores::totals(const std::vector<std::string>& names, int64_t outputs) const {
    std::vector<double> out;
    for (const std::string& name : names) {
        const Sum* found = nullptr;
        for (const Sum& s : sums_)
            if (s.name == name) found = &s;
        size_t k = found ? found->sums.size() : sum_count(name, outputs);  // a caller that does not know the width
        for (size_t i = 0; i < k; ++i) out.push_back(found ? found->sums[i] : 0);
        out.push_back(found ? double(found->n) : 0);
    }
    return out;
}

void Scores::set_totals(const std::vector<std::string>& names, const std::vector<double>& totals, int64_t outputs) {
    std::vector<Sum> had;
    had.swap(sums_);
    size_t at = 0;
    for (const std::string& name : names) {
        size_t k = sum_count(name, outputs);
        for (const Sum& s : had)  // the sizes totals() gave
            if (s.name == name) k = s.sums.size();
        if (at + k >= totals.size()) break;
        if (totals[at + k] > 0)
            sums_.push_back({name, std::vector<double>(totals.begin() + ptrdiff_t(at), totals.begin() + ptrdiff_t(at + k)),
                             int64_t(totals[at + k])});
        at += k + 1;
    }
}

std::string Scores::keras_text(const std::string& prefix) const {
    std::string out;
    char buf[64];
    for (const auto& [name, v] : means()) {
        // Keras prints 4 decimals, and switches to scientific notation for tiny values.
        if (v != 0 && std::fabs(v) < 1e-3) std::snprintf(buf, sizeof buf, "%.4e", v);
        else std::snprintf(buf, sizeof buf, "%.4f", v);
        out += " - " + prefix + name + ": " + buf;
    }
    return out;
}

}  // namespace imgpipe::nn
