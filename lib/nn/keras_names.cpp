// Keras' naming rules, shared by the readers (keras_file.cpp), nnexport's
// writer and the spec's default layer names (spec.cpp): torch-free and
// dependency-free, so the spec fuzz target links it alone (keras_file.hpp).
#include <cctype>
#include <map>
#include <string>

#include "nn/keras_file.hpp"

namespace imgpipe::nn::keras_detail {

std::string to_snake_case(const std::string& name) {
    // re.sub(r"\W+", "", name): word characters stay (bytes above 127 too: Python's \w is Unicode).
    std::string s;
    for (unsigned char c : name)
        if (std::isalnum(c) || c == '_' || c >= 128) s += char(c);
    auto up = [](char c) { return c >= 'A' && c <= 'Z'; };
    auto low = [](char c) { return c >= 'a' && c <= 'z'; };
    // re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name), left to right, no overlaps.
    std::string t;
    for (size_t i = 0; i < s.size();) {
        if (i + 2 < s.size() && up(s[i + 1]) && low(s[i + 2])) {
            size_t j = i + 3;
            while (j < s.size() && low(s[j])) j++;
            t += s[i];
            t += '_';
            t.append(s, i + 1, j - i - 1);
            i = j;
        } else {
            t += s[i++];
        }
    }
    // re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()
    std::string u;
    for (size_t i = 0; i < t.size();) {
        if (i + 1 < t.size() && low(t[i]) && up(t[i + 1])) {
            u += t[i];
            u += '_';
            u += t[i + 1];
            i += 2;
        } else {
            u += t[i++];
        }
    }
    for (char& c : u)
        if (up(c)) c = char(c - 'A' + 'a');
    return u;
}

std::string keras3_unique_name(std::string name, std::map<std::string, int>& used) {
    auto it = used.find(name);
    if (it == used.end())
        used[name] = 0;
    else
        name += "_" + std::to_string(++it->second);
    return name;
}

}  // namespace imgpipe::nn::keras_detail
