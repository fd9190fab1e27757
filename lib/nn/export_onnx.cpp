// ONNX writer (nnexport --format onnx). PLACEHOLDER of the base branch: replaced by its owner before merging.
#include "cli/error.hpp"
#include "nn/export.hpp"

namespace imgpipe::nn {
std::vector<uint8_t> write_onnx(const ExportModel&, const ExportOptions&) { throw UsageError("onnx: not written yet"); }
}  // namespace imgpipe::nn
