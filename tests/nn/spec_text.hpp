// Spec texts for the nn tests: a model of one layer, and what parse_spec says
// of a spec it refuses.
#pragma once
#include <string>

#include "cli/error.hpp"
#include "nn/spec.hpp"

inline std::string one_layer(const std::string& input, const std::string& layer) {
    return R"({"input_shape": )" + input + R"(, "layers": [)" + layer + "]}";
}

// "where: message" of the refusal, or "" when the spec is taken.
inline std::string spec_error(const std::string& text, const std::string& where = "net.json") {
    try {
        imgpipe::nn::parse_spec(text, where);
    } catch (const imgpipe::DataError& e) {
        return e.where() + ": " + e.what();
    }
    return "";
}
