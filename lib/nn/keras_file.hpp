// Reading Keras and TF.js model files (the containers), into a neutral structure:
// names, Keras shapes and float32 values as the file holds them, with no torch and
// no knowledge of our layouts (doc/design.md, "Keras files in", says where each
// fact of the formats comes from). A model file from the internet is hostile
// input: every refusal is a DataError (exit 65) naming the file and the layer or
// dataset, and no array is allocated before the file is shown to hold its bytes.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace imgpipe::nn {

// The files (mapped read-only) and memory that deferred arrays are read from.
struct KerasSource;
struct KerasArray {
    std::string name;            // as stored: "conv2d_1/kernel:0" (Keras 2), "vars/0" (Keras 3), "conv2d_1/kernel" (TF.js)
    std::vector<int64_t> shape;  // Keras' shape
    std::vector<float> values;   // row-major, dequantized / converted to float32; empty when deferred
    // Deferred (read_keras_file's `defer`): the array's little-endian float32 bytes,
    // in order, as pieces of files `source` keeps mapped (TF.js: across shards),
    // checked to lie inside them. Read with keras_read, or in place with keras_span.
    struct Piece {
        const char* bytes;
        uint64_t size;
        uint64_t offset;  // of its first byte in the array's
    };
    std::vector<Piece> pieces;
    std::shared_ptr<const KerasSource> source;
};
// How many values an array holds (or has deferred).
uint64_t keras_count(const KerasArray& a);
// Values [first, first + n) of `a` as float32 bytes: a pointer into its values or
// its file when they lie in one piece (any alignment), else copied into `buffer`.
// While a KerasSource lives, a mapped file that shrinks under us ends the process
// with "tool: FILE: the file shrank while it was read" (74) rather than SIGBUS.
const char* keras_span(const KerasArray& a, uint64_t first, uint64_t n, std::vector<char>& buffer);
struct KerasLayerWeights {
    std::string layer;               // the Keras layer's own name (config "name"), inner name for nested models
    std::vector<KerasArray> arrays;  // in Keras' get_weights() order for that layer
};
struct KerasFile {
    std::string format;           // "keras2-h5", "keras3", "tfjs" (weights-only: "keras2-weights-h5", "keras3-weights-h5")
    std::string model_config;     // the architecture JSON as Keras' model.to_json() writes it (TF.js: modelTopology's model_config, or modelTopology itself)
    std::string training_config;  // Keras 2's training_config / TF.js's, "" if none (Keras 3: config.json's compile_config is inside model_config)
    std::string keras_version;    // an HDF5 file's root keras_version ("2.6.0"), "tfjs-layers" for TF.js (whose functions it runs), else ""
    std::vector<KerasLayerWeights> layers;  // every layer that has weights, in the file's layer order
};

// What a path holds, by its first bytes (HDF5 signature, zip "PK\3\4", JSON with
// "weightsManifest" or "modelTopology"): "keras2-h5" (any HDF5 file), "keras3",
// "tfjs", "spec" (other JSON naming "layers" or "class_name": an architecture,
// which read_keras_file refuses as a trained model, by name), or "" (anything
// else: our model file).
std::string keras_file_kind(const std::string& path);

// Reads a Keras/TF.js file. `config_path` gives the architecture JSON for a
// weights-only file (Keras 2 save_weights .h5, Keras 3 .weights.h5); it is needed
// to name Keras 3's layers/<name> paths. Throws DataError naming the file and
// what is wrong (NoInputError when the file cannot be opened). `defer`: plain
// float32 arrays (every Keras file's, TF.js' unquantized ones) are left in the
// file, mapped (KerasArray::pieces), for the loader to copy once, straight into
// its parameters; else every array's values are read.
KerasFile read_keras_file(const std::string& path, const std::string& config_path = "", bool defer = false);

// The parts, for the fuzz targets and the tests; `where` names the file in errors.
namespace keras_detail {

// Keras 3's saving walk (keras/src/saving/saving_lib.py): each layer that can hold
// weights in the architecture JSON `model_config`, with the group its variables
// are at ("layers/conv2d_1") and its own name; `groups` gets every group the walk
// names, nested models' included.
struct Keras3Path {
    std::string path;
    std::string layer;
};
std::vector<Keras3Path> keras3_paths(const std::string& model_config, const std::string& where,
                                     std::vector<std::string>* groups = nullptr);
// Keras' naming.to_snake_case.
std::string to_snake_case(const std::string& class_name);
// Keras 3's name for the weights of the next layer whose snake-case class name is
// `name`: itself the first time, then name_1, name_2, ... (saving_lib._get_unique_name);
// `used` counts them, one map per model level.
std::string keras3_unique_name(std::string name, std::map<std::string, int>& used);

// The TF.js model.json `json_text` and its shards: `size` gives a shard's size
// (throws if missing), `read` bytes of it inside that size, called in order after
// the manifest is checked against the sizes.
struct ShardSource {
    virtual ~ShardSource() = default;
    virtual uint64_t size(const std::string& path) = 0;
    virtual void read(const std::string& path, uint64_t offset, char* to, uint64_t size) = 0;
    // Deferring float32 weights: the shard mapped whole (its `size` bytes) and kept
    // by `deferred`; nullptr (and no `deferred`): read them now.
    virtual const char* map(const std::string&) { return nullptr; }
    std::shared_ptr<KerasSource> deferred;
};
KerasFile read_tfjs(const std::string& json_text, ShardSource& shards, const std::string& where);

// A Keras 3 .keras zip held in memory; its model.weights.h5 is read with
// read_h5_image in this process (read_keras_file isolates it).
KerasFile read_keras_zip(const std::string& bytes, const std::string& where);

// An HDF5 file (Keras 2 full or weights-only, Keras 3 .weights.h5) held in memory,
// read in this process. `config` is the architecture JSON when the file has none.
KerasFile read_h5_image(const char* data, size_t size, const std::string& where, const std::string& config,
                        bool in_keras_zip = false);
// What the child process reads: the file with the arrays of plain little-endian
// float32 datasets left empty (`defer`), at[layer][array] their byte offset in the
// file or image (-1: read already). `data` non-null: an image in memory.
struct H5Read {
    KerasFile file;
    std::vector<std::vector<int64_t>> at;
};
H5Read read_h5_deferred(const std::string& path, const char* data, size_t size, const std::string& where,
                        const std::string& config, bool in_keras_zip, bool defer);
// A member of a zip held in memory, whole and checked (CRC, size), or "" when it
// is not there and not `required`.
std::string zip_member(const std::string& zip, const char* name, bool required, const std::string& where);

// read_keras_file reads HDF5 (and the .keras zip) in a child process, which is
// stopped after this many seconds (0: 30 s and 1 s a 10 MB of file).
extern unsigned h5_child_seconds;
// The same from a path.
KerasFile read_h5_path(const std::string& path, const std::string& where, const std::string& config);

}  // namespace keras_detail
}  // namespace imgpipe::nn
