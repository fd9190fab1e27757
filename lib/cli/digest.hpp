// A 20-bit digest (from 1 to 2^20 - 1) of bytes (FNV-1a), for the ranks of a
// data-parallel run to compare what they hold (Collective::same_everywhere):
// a stream file's content (BatchFeed::fingerprint), a model's weights. Torch-free,
// so that the data library's feed can use it.
#pragma once
#include <cstddef>
#include <cstdint>

namespace imgpipe {

class Digest {
public:
    void add(const void* data, size_t size) {
        const uint8_t* p = static_cast<const uint8_t*>(data);
        for (size_t i = 0; i < size; ++i) h_ = (h_ ^ p[i]) * 0x100000001b3ull;
    }
    uint32_t value() const { return uint32_t(h_ % ((1u << 20) - 1)) + 1; }

private:
    uint64_t h_ = 0xcbf29ce484222325ull;
};

}  // namespace imgpipe
