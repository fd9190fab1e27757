#include "cli/random.hpp"

#include <unistd.h>

#include <chrono>

namespace imgpipe {

uint64_t Random::below(uint64_t n) {
    if (n <= 1) return 0;
    // Lemire's method would do; plain rejection keeps it obviously right.
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    for (;;) {
        uint64_t r = next();
        if (r < limit) return r % n;
    }
}

std::vector<uint64_t> permutation(uint64_t n, uint64_t seed, uint64_t epoch) {
    std::vector<uint64_t> order(n);
    for (uint64_t i = 0; i < n; ++i) order[i] = i;
    Random rng(seed, epoch, 0, Purpose::Shuffle);
    for (uint64_t i = n; i > 1; --i) std::swap(order[i - 1], order[rng.below(i)]);
    return order;
}

uint64_t fresh_seed() {
    auto now = std::chrono::steady_clock::now().time_since_epoch().count();
    return mix64(uint64_t(now) ^ (uint64_t(::getpid()) << 32));
}

}  // namespace imgpipe
