// libFuzzer target: Keras 3's naming walk (lib/nn/keras_file.cpp keras3_paths)
// over an architecture JSON. Bad input must be an imgpipe::Error; the paths it
// gives must be distinct, each under layers/, each one a snake_case name.
#include <set>

#include "fuzz.hpp"
#include "nn/keras_file.hpp"

using namespace imgpipe;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    fuzz::expect_clean([&] {
        std::vector<std::string> groups;
        auto paths = nn::keras_detail::keras3_paths(text, "config.json", &groups);
        std::set<std::string> seen(groups.begin(), groups.end());
        if (seen.size() != groups.size()) fuzz::finding("paths", "a nested model's group twice");
        for (const auto& p : paths) {
            if (!seen.insert(p.path).second) fuzz::finding("paths", "twice: " + p.path);
            if (p.path.compare(0, 7, "layers/") != 0) fuzz::finding("paths", p.path);
            for (char c : p.path)
                if (c >= 'A' && c <= 'Z') fuzz::finding("upper case", p.path);
        }
    });
    // to_snake_case on any text: lower case, no character it did not have but '_'.
    std::string s = nn::keras_detail::to_snake_case(text.substr(0, 300));
    for (char c : s)
        if ((c >= 'A' && c <= 'Z') || !(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || static_cast<unsigned char>(c) >= 128))
            fuzz::finding("snake case", s);
    return 0;
}
