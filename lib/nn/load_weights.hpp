// Keras' weights onto a spec's layers (doc/design.md, "Keras files in"): each
// layer of the spec that has weights takes the arrays a Keras, Keras 3 or TF.js
// file holds for the layer of the same name, in Keras' get_weights() order,
// checked against the Keras shapes its table entry gives (the engine turns them
// into our layouts: WeightSpec::keras_perm). Torch-free.
#pragma once
#include <string>
#include <vector>

#include "nn/keras_file.hpp"
#include "nn/spec.hpp"
#include "stream/frame.hpp"

namespace imgpipe::nn {

struct ImportOptions {
    // Keras' load_weights(by_name=True): a layer the file lacks keeps its initial
    // values, and the file's layers the model lacks are passed over (else both are errors).
    bool by_name = false;
    // Keras' skip_mismatch: a layer whose weights differ in count or shape keeps its
    // initial values (else an error naming the layer and both shapes).
    bool skip_mismatch = false;
};

// What became of each layer with weights, by name.
struct ImportReport {
    std::vector<std::string> loaded, skipped, fresh;  // taken; mismatched (skip_mismatch); not in the file (by_name)
    std::vector<std::string> notes;                   // one line per skipped layer: why
};

// A weight the file gives, under its model-file name, and the file's array it
// comes from, in Keras' layout (`keras`) or ours. The arrays are the KerasFile's:
// it must outlive the result.
struct MatchedWeight {
    std::string name;  // "<layer>.<weight>"
    WeightSpec weight;
    const KerasArray* array;
    bool keras;
};
// Matches the file's layers to the spec's by name, each array's count and shape
// checked (Keras' shapes when `keras`, else ours). Throws DataError(path, "layer 3
// (conv2d_1, Conv2D): ...").
std::vector<MatchedWeight> match_weights(const Spec& spec, const KerasFile& file, const std::string& path, bool keras,
                                         const ImportOptions& options = {}, ImportReport* report = nullptr);
// Whether a matched weight is a Keras matrix that our layout transposes (Dense's
// kernel: Keras' [in, out], our [out, in]): a loader may keep Keras' array as it
// lies and make the parameter its transposed view (read_weight's `as_stored`),
// instead of paying a transposing copy (doc/design.md, "Keras files in").
bool keeps_keras_layout(const MatchedWeight& m);
// The byte offset in a 4 KB page at which a deferred weight's bytes start in
// the mapped file, or -1 (values in memory, or across pieces): a copy runs
// faster into a place at that offset or a few bytes past it (Optimizer::attach's
// page_offsets).
int64_t source_page_offset(const MatchedWeight& m);
// A matched weight's values into `to` (its count of floats, our layout): from
// the file's bytes where the array is deferred (read_keras_file's `defer`), Keras'
// layout turned into ours on the way (a Dense kernel transposed tile by tile),
// with no array of the whole size between. `as_stored`: the file's values in the
// file's order, a plain copy (keeps_keras_layout). The bytes were checked to be there.
void read_weight(const MatchedWeight& m, float* to, bool as_stored = false);
// Our own model file's weights ("<layer>.<weight>", our layouts) as the layers
// match_weights reads (with keras = false).
KerasFile model_file_layers(const Spec& spec, const Frame& file, const std::string& path);
// "loaded 12 layers: conv1, ...; skipped 1: ...; new 1: dense_2", one part a line.
std::string import_summary(const ImportReport& report);

// The architecture `arch` (the file's model_config, or the JSON given beside a
// weights-only file) as parse_spec is to read it: the file's keras_version put
// in where the JSON says none (a .h5's model_config; always for TF.js, whose
// functions are tfjs-layers' whatever Keras wrote it), and, with `training`,
// Keras 2's training_config (its loss and metrics) made the compile_config.
std::string keras_architecture(const KerasFile& file, const std::string& arch, bool training);

// A model trained in Keras, as every tool takes it: `path` a Keras file (known by
// its bytes: keras_file_kind), or, `weights` given, the architecture JSON at `path`
// with its weights in the file `weights`. The spec is parsed, not yet resolved
// against overrides. `defer`: read_keras_file's.
struct KerasModel {
    KerasFile file;
    Spec spec;
    std::string source;  // the file the weights come from
};
KerasModel read_keras_model(const std::string& path, const std::string& weights, bool defer);

// Our model file (imgpipe-model(5)), torch-free: the format must be ours
// ("imgpipe-model/1") and the spec present, or a DataError naming `path`; a
// batch stream is named as one (refuse_stream, given the first frame).
extern const char* const kModelFormat;
void check_model_frame(const Frame& f, const std::string& path);
void refuse_stream(const Frame& first, const std::string& path);
// The whole file's one frame, checked.
Frame read_model_file(const std::string& path);

// The class names a file gives for the model's outputs, or none: Teachable
// Machine's metadata.json beside a TF.js model.json ("labels"), when there is one
// name per output.
std::vector<std::string> keras_class_names(const KerasFile& file, const std::string& path, const Shape& output);

}  // namespace imgpipe::nn
