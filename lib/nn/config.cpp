#include "nn/config.hpp"

#include <algorithm>
#include <cctype>

#include "cli/error.hpp"

namespace imgpipe::nn {

std::string lower_alnum(const std::string& s) {
    std::string out;
    for (char c : s)
        if (std::isalnum(static_cast<unsigned char>(c))) out += char(std::tolower(static_cast<unsigned char>(c)));
    return out;
}


static size_t edit_distance(const std::string& a, const std::string& b) {
    std::vector<size_t> row(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= b.size(); ++j) {
            size_t up = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (std::tolower(a[i - 1]) == std::tolower(b[j - 1]) ? 0 : 1)});
            diag = up;
        }
    }
    return row[b.size()];
}

std::string join(const std::vector<std::string>& items, const std::string& sep) {
    std::string s;
    for (size_t i = 0; i < items.size(); ++i) s += (i ? sep : "") + items[i];
    return s;
}

std::string shape_tuple(const std::vector<int64_t>& shape) {
    std::string s = "(None";
    for (int64_t d : shape) s += ", " + std::to_string(d);
    return s + ")";
}


std::string did_you_mean(const std::string& word, const std::vector<std::string>& choices) {
    std::string best;
    size_t best_d = std::string::npos;
    for (const std::string& c : choices) {
        size_t d = edit_distance(word, c);
        if (lower_alnum(word) == lower_alnum(c)) d = 0;
        if (d < best_d) best_d = d, best = c;
    }
    size_t limit = std::max<size_t>(2, word.size() / 3);
    return best_d <= limit ? best : "";
}

std::string pick(const std::string& what, const std::string& name, const std::vector<std::string>& choices,
                 const std::vector<std::pair<std::string, std::string>>& aliases) {
    std::string n = lower_alnum(name);
    for (const std::string& c : choices)
        if (lower_alnum(c) == n) return c;
    for (auto& [alias, choice] : aliases)
        if (alias == n) return choice;
    std::string hint = did_you_mean(name, choices);
    throw UsageError("unknown " + what + " \"" + name + "\"" + (hint.empty() ? "" : "; did you mean \"" + hint + "\"?") +
                     " (choices: " + join(choices) + ")");
}

}  // namespace imgpipe::nn
