// A counter-based random generator: every draw is a pure function of
// (seed, epoch, index, purpose, counter), so results do not depend on the
// thread that computes a sample or on the order samples are processed in.
#pragma once
#include <cstdint>
#include <vector>

namespace imgpipe {

// What a draw is for, so that shuffling and augmentation never share numbers.
enum class Purpose : uint64_t { Shuffle = 1, Split = 2, Augment = 3, Mask = 4, ShuffleBuffer = 5, Init = 6 };

// SplitMix64's finalizer: a bijective mix of 64 bits.
inline uint64_t mix64(uint64_t z) {
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

class Random {
public:
    Random(uint64_t seed, uint64_t epoch, uint64_t index, Purpose purpose)
        : key_(mix64(mix64(mix64(mix64(seed) ^ epoch) ^ index) ^ uint64_t(purpose))) {}

    uint64_t next() { return mix64(key_ ^ mix64(counter_++)); }
    // Uniform in [0, 1).
    double uniform() { return double(next() >> 11) * 0x1.0p-53; }
    double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
    // Uniform integer in [0, n), without modulo bias.
    uint64_t below(uint64_t n);
    bool coin() { return next() & 1; }

private:
    uint64_t key_;
    uint64_t counter_ = 0;
};

// The permutation of [0, n) for one epoch (Fisher-Yates driven by Random).
std::vector<uint64_t> permutation(uint64_t n, uint64_t seed, uint64_t epoch);

// A seed for runs that did not ask for one (from the clock and the pid).
uint64_t fresh_seed();

}  // namespace imgpipe
