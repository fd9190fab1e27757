// The images of a list, prepared epoch after epoch in a fixed order, decoded
// on N threads. The order (and so every output byte) does not depend on the
// thread count: sample k of epoch e is list entry permutation(n, seed, e)[k]
// with shuffling, entry k without.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "cli/error.hpp"
#include "image/image.hpp"
#include "image/label_map.hpp"
#include "list/list.hpp"

namespace imgpipe {

struct SourceOptions {
    int threads = 1;      // decoding threads; 1 decodes in the calling thread
    int64_t epochs = 1;   // 0: forever
    bool shuffle = false;
    uint64_t seed = 0;
    bool keep_going = false;  // skip bad files instead of stopping at the first
    // Segmentation pairs: each entry's mask (ListEntry::mask) is decoded with
    // these options beside its image. Null: images alone.
    std::shared_ptr<const MaskOptions> masks;
    // Runs on the decoding thread after each image is decoded (augmentation):
    // (pixels, mask or null, epoch, position). Must depend on nothing else, so -j does not change bytes.
    std::function<void(uint8_t*, uint8_t*, int64_t, int64_t)> after_decode;
};

struct Sample {
    int64_t epoch = 0;
    int64_t position = 0;  // place in the epoch's order of the list (gaps where files were skipped)
    size_t entry = 0;      // index into the list's entries
    const uint8_t* pixels = nullptr;  // PrepOptions::sample_bytes(); valid until the next call
    const uint8_t* mask = nullptr;    // pairs: width x height class indices, likewise
};

class SampleSource {
public:
    // Called once for each bad file when keep_going (a file found bad is not
    // tried again in later epochs).
    using SkipHandler = std::function<void(const Error&)>;

    SampleSource(const ImageList& list, const PrepOptions& prep, const SourceOptions& options, SkipHandler on_skip);
    ~SampleSource();
    SampleSource(const SampleSource&) = delete;
    SampleSource& operator=(const SampleSource&) = delete;

    // The next sample in order; false at the end (also when every file of the
    // list proved bad). Without keep_going, throws the first bad file's error
    // (in output order, so every sample before it has been returned).
    bool next(Sample& sample);
    int64_t skipped() const;  // distinct bad files so far
    // The samples passed over as bad since the last call, in output order
    // (pixels null): the producer records them in the stream.
    std::vector<Sample> take_skipped();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace imgpipe
