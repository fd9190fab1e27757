// Keras and TF.js writers. PLACEHOLDER of the base branch: replaced by its owner before merging.
#include "cli/error.hpp"
#include "nn/export.hpp"

namespace imgpipe::nn {
std::vector<uint8_t> write_keras(const ExportModel&) { throw UsageError("keras: not written yet"); }
std::vector<uint8_t> write_keras_h5(const ExportModel&) { throw UsageError("h5: not written yet"); }
TfjsFiles write_tfjs(const ExportModel&) { throw UsageError("tfjs: not written yet"); }
}  // namespace imgpipe::nn
