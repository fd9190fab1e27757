// libFuzzer target: the TF.js model.json reader (lib/nn/keras_file.cpp
// read_tfjs). The input is the JSON, a NUL, then the shard bytes, which every
// path in the manifest names. Bad input must be an imgpipe::Error; weights that
// read must hold their shape's count of values, and their layer must be a part
// of their name.
#include <cstring>

#include "fuzz.hpp"
#include "nn/keras_file.hpp"

using namespace imgpipe;

namespace {
struct Blob : nn::keras_detail::ShardSource {
    std::string bytes;
    uint64_t size(const std::string&) override { return bytes.size(); }
    void read(const std::string&, uint64_t offset, char* to, uint64_t n) override {
        if (offset > bytes.size() || n > bytes.size() - offset) fuzz::finding("shard read", "past the shard's size");
        std::memcpy(to, bytes.data() + offset, size_t(n));
    }
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string all(reinterpret_cast<const char*>(data), size);
    const size_t nul = all.find('\0');
    Blob shards;
    if (nul != std::string::npos) shards.bytes = all.substr(nul + 1);
    fuzz::expect_clean([&] {
        nn::KerasFile f = nn::keras_detail::read_tfjs(all.substr(0, nul), shards, "model.json");
        for (const auto& l : f.layers)
            for (const auto& a : l.arrays) {
                size_t n = 1;
                for (int64_t d : a.shape) n *= size_t(d);
                if (n != a.values.size()) fuzz::finding("values", a.name);
                if (a.name.find(l.layer + "/") == std::string::npos) fuzz::finding("layer", l.layer + " vs " + a.name);
            }
    });
    return 0;
}
