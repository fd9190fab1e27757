// Scores: the running, sample-weighted means Keras shows in its progress bar.
// Torch-free, so that nneval and nnpredict can use it without the engine.
#include <cmath>
#include <cstdio>
#include <limits>

#include "nn/engine.hpp"

namespace imgpipe::nn {

void Scores::add(const std::string& name, double value, int64_t samples) {
    if (samples <= 0) return;
    for (Sum& s : sums_) {
        if (s.name == name) {
            s.total += value * double(samples);
            s.n += samples;
            return;
        }
    }
    sums_.push_back({name, value * double(samples), samples});
}

std::vector<std::pair<std::string, double>> Scores::means() const {
    std::vector<std::pair<std::string, double>> out;
    for (const Sum& s : sums_) out.emplace_back(s.name, s.total / double(s.n));
    return out;
}

double Scores::mean(const std::string& name) const {
    for (const Sum& s : sums_)
        if (s.name == name) return s.total / double(s.n);
    return std::numeric_limits<double>::quiet_NaN();
}

int64_t Scores::samples(const std::string& name) const {
    for (const Sum& s : sums_)
        if (s.name == name) return s.n;
    return 0;
}

std::vector<double> Scores::totals(const std::vector<std::string>& names) const {
    std::vector<double> out;
    for (const std::string& name : names) {
        const Sum* found = nullptr;
        for (const Sum& s : sums_)
            if (s.name == name) found = &s;
        out.push_back(found ? found->total : 0);
        out.push_back(found ? double(found->n) : 0);
    }
    return out;
}

void Scores::set_totals(const std::vector<std::string>& names, const std::vector<double>& totals) {
    sums_.clear();
    for (size_t i = 0; i < names.size() && 2 * i + 1 < totals.size(); ++i)
        if (totals[2 * i + 1] > 0) sums_.push_back({names[i], totals[2 * i], int64_t(totals[2 * i + 1])});
}

std::string Scores::keras_text(const std::string& prefix) const {
    std::string out;
    char buf[64];
    for (const Sum& s : sums_) {
        double v = s.total / double(s.n);
        // Keras prints 4 decimals, and switches to scientific notation for tiny values.
        if (v != 0 && std::fabs(v) < 1e-3) std::snprintf(buf, sizeof buf, "%.4e", v);
        else std::snprintf(buf, sizeof buf, "%.4f", v);
        out += " - " + prefix + s.name + ": " + buf;
    }
    return out;
}

}  // namespace imgpipe::nn
