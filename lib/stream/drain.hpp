// A reader that stops early on purpose (imgsheet --max, imgsave --max) reads
// the rest of its pipe before it exits: otherwise its producer dies of SIGPIPE
// (status 141), and a pipeline under `set -o pipefail` fails after doing its job.
#pragma once
#include "cli/io.hpp"
#include "stream/frame.hpp"

namespace imgpipe {

// Discards the rest of `in` when it is a pipe and the stream has an end; a
// stream that says it has none ("epochs": "0", imgprep --epochs 0) is left
// alone, as a regular file is (it has no writer to end). `last` is the last
// frame read. Returns the bytes discarded.
uint64_t drain_rest(Input& in, const Frame& last);

}  // namespace imgpipe
