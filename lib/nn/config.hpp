// Reading a JSON object the way a user wants it read: every key used or named
// as unknown ("did you mean ..."), every value checked with the key and the
// place in the errors. Shared by the model spec and the compile settings.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <initializer_list>
#include <set>
#include <string>
#include <vector>

#include "cli/error.hpp"

namespace imgpipe::nn {

std::string lower_alnum(const std::string& s);
std::string join(const std::vector<std::string>& items, const std::string& sep = ", ");
std::string shape_tuple(const std::vector<int64_t>& shape);  // "(None, 64, 64, 3)"
// The closest of `choices` to `word`, or "" if none is close.
std::string did_you_mean(const std::string& word, const std::vector<std::string>& choices);
// The choice `name` spells (case and punctuation aside) or an alias's, else UsageError naming the choices.
std::string pick(const std::string& what, const std::string& name, const std::vector<std::string>& choices,
                 const std::vector<std::pair<std::string, std::string>>& aliases);

// One JSON object's keys: every key must be used, or the layer names the stray one.
class Config {
public:
    Config(const nlohmann::json& object, std::string context, std::string where)
        : j_(object), context_(std::move(context)), where_(std::move(where)) {
        if (!j_.is_object()) fail("config is not a JSON object");
    }

    [[noreturn]] void fail(const std::string& message) const { throw DataError(where_, context_ + ": " + message); }
    // A required key is absent: a misspelt key is the likelier story, so name that first.
    [[noreturn]] void missing(const std::string& key, const std::string& detail = "") const {
        for (auto& [given, value] : j_.items())
            if (!used_.count(given) && !allowed_.count(given) && did_you_mean(given, {key}) == key)
                fail("unknown key \"" + given + "\"; did you mean \"" + key + "\"?");
        fail("needs \"" + key + "\"" + detail);
    }

    bool has(const std::string& key) {
        allowed_.insert(key);
        return j_.contains(key) && !j_[key].is_null();
    }
    const nlohmann::json& raw(const std::string& key) {
        allowed_.insert(key);
        used_.insert(key);
        return j_.at(key);
    }
    void ignore(std::initializer_list<const char*> keys) {
        for (const char* k : keys) {
            allowed_.insert(k);
            used_.insert(k);
        }
    }
    // Keys Keras writes that we accept only at their default (null, false, 0, ...).
    void require_default(const std::string& key, const nlohmann::json& fine, const std::string& why) {
        allowed_.insert(key);
        used_.insert(key);
        if (!j_.contains(key) || j_[key].is_null() || j_[key] == fine) return;
        fail("\"" + key + "\": " + j_[key].dump() + " is not supported (" + why + ")");
    }

    double number(const std::string& key, double fallback) {
        if (!has(key)) return used(key), fallback;
        const nlohmann::json& v = raw(key);
        if (!v.is_number()) fail("\"" + key + "\" must be a number, not " + v.dump());
        return v.get<double>();
    }
    int64_t integer(const std::string& key, int64_t fallback, int64_t min = 1) {
        if (!has(key)) return used(key), fallback;
        const nlohmann::json& v = raw(key);
        if (!v.is_number_integer() || v.get<int64_t>() < min)
            fail("\"" + key + "\" must be an integer >= " + std::to_string(min) + ", not " + v.dump());
        return v.get<int64_t>();
    }
    bool boolean(const std::string& key, bool fallback) {
        if (!has(key)) return used(key), fallback;
        const nlohmann::json& v = raw(key);
        if (!v.is_boolean()) fail("\"" + key + "\" must be true or false, not " + v.dump());
        return v.get<bool>();
    }
    std::string string(const std::string& key, const std::string& fallback) {
        if (!has(key)) return used(key), fallback;
        const nlohmann::json& v = raw(key);
        if (!v.is_string()) fail("\"" + key + "\" must be a string, not " + v.dump());
        return v.get<std::string>();
    }
    // One of a few strings; a mistake is told with the choices in the order given.
    std::string choice(const std::string& key, const std::string& fallback, const std::vector<std::string>& choices) {
        std::string s = string(key, fallback);
        std::string list;
        for (size_t i = 0; i < choices.size(); ++i) {
            if (s == choices[i]) return s;
            list += (i == 0 ? "" : i + 1 == choices.size() ? " or " : ", ") + ("\"" + choices[i] + "\"");
        }
        fail("\"" + key + "\" must be " + list + ", not \"" + s + "\"");
    }
    // An int or a pair of ints (kernel_size, strides, pool_size, size).
    bool pair(const std::string& key, int64_t out[2]) {
        if (!has(key)) return used(key), false;
        const nlohmann::json& v = raw(key);
        if (v.is_number_integer() && v.get<int64_t>() >= 1) {
            out[0] = out[1] = v.get<int64_t>();
            return true;
        }
        if (v.is_array() && v.size() == 2 && v[0].is_number_integer() && v[1].is_number_integer() &&
            v[0].get<int64_t>() >= 1 && v[1].get<int64_t>() >= 1) {
            out[0] = v[0].get<int64_t>();
            out[1] = v[1].get<int64_t>();
            return true;
        }
        fail("\"" + key + "\" must be a positive integer or a pair of them, not " + v.dump());
    }
    // [64, 64, 3] or Keras' [null, 64, 64, 3] (batch shapes).
    std::vector<int64_t> shape(const std::string& key, bool batch) {
        const nlohmann::json& v = raw(key);
        if (!v.is_array() || v.empty()) fail("\"" + key + "\" must be a list of sizes, not " + v.dump());
        std::vector<int64_t> s;
        for (size_t i = 0; i < v.size(); ++i) {
            if (batch && i == 0) {
                if (!v[0].is_null() && !v[0].is_number_integer()) fail("\"" + key + "\": bad batch size " + v[0].dump());
                continue;
            }
            if (!v[i].is_number_integer() || v[i].get<int64_t>() < 1)
                fail("\"" + key + "\" must hold positive sizes (every dimension known), not " + v.dump());
            s.push_back(v[i].get<int64_t>());
        }
        if (s.empty()) fail("\"" + key + "\" holds no per-sample dimension: " + v.dump());
        return s;
    }

    void finish() const {
        for (auto& [key, value] : j_.items()) {
            if (used_.count(key)) continue;
            if (value.is_null() && allowed_.count(key)) continue;  // Keras' null: the key's default
            std::vector<std::string> choices(allowed_.begin(), allowed_.end());
            std::string hint = did_you_mean(key, choices);
            fail("unknown key \"" + key + "\"" + (hint.empty() ? "" : "; did you mean \"" + hint + "\"?"));
        }
    }

private:
    void used(const std::string& key) { used_.insert(key); }
    const nlohmann::json& j_;
    std::string context_, where_;
    std::set<std::string> allowed_, used_;
};

}  // namespace imgpipe::nn
