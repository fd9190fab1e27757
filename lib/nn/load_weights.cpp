#include "nn/load_weights.hpp"

#include <iostream>

#include <nlohmann/json.hpp>

#if defined(__SSE2__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>

#include "cli/error.hpp"
#include "cli/io.hpp"
#include "cli/progress.hpp"

namespace imgpipe::nn {

using nlohmann::json;

namespace {

std::string shape_list(const std::vector<int64_t>& s) {
    std::string out = "(";
    for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
    return out + (s.size() == 1 ? ",)" : ")");
}

int64_t count(const std::vector<int64_t>& shape) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
}

std::string shapes_of(const std::vector<std::vector<int64_t>>& shapes) {
    std::string out;
    for (const auto& s : shapes) out += (out.empty() ? "" : ", ") + shape_list(s);
    return "[" + out + "]";
}

}  // namespace

std::vector<MatchedWeight> match_weights(const Spec& spec, const KerasFile& file, const std::string& path, bool keras,
                                         const ImportOptions& options, ImportReport* report) {
    std::map<std::string, const KerasLayerWeights*> by_layer;
    for (const KerasLayerWeights& l : file.layers) by_layer[l.layer] = &l;
    std::map<std::string, bool> used;
    std::vector<MatchedWeight> out;
    ImportReport r;
    for (const LayerSpec& l : spec.layers) {
        std::vector<WeightSpec> weights = layer_weights(l);
        if (weights.empty()) continue;
        std::string context = "layer " + std::to_string(l.entry) + " (" + l.name + ", " + l.type + ")";
        auto it = by_layer.find(l.name);
        if (it == by_layer.end()) {
            if (!options.by_name) throw DataError(path, context + ": the file holds no weights for it");
            r.fresh.push_back(l.name);
            continue;
        }
        used[l.name] = true;
        const std::vector<KerasArray>& arrays = it->second->arrays;
        std::vector<std::vector<int64_t>> want, have;
        for (const WeightSpec& w : weights) want.push_back(keras ? w.keras_shape : w.shape);
        for (const KerasArray& a : arrays) have.push_back(a.shape);
        if (want != have) {
            std::string why = context + ": the file's weights are " + shapes_of(have) + ", the model's " + shapes_of(want);
            if (!options.skip_mismatch) throw DataError(path, why);
            r.skipped.push_back(l.name);
            r.notes.push_back(why);
            continue;
        }
        for (size_t i = 0; i < weights.size(); ++i) {
            // A dataset larger than its shape (the readers check it; a wrong count is refused here too).
            if (int64_t(keras_count(arrays[i])) != count(weights[i].shape))
                throw DataError(path, context + ": weight " + weights[i].keras_name + " holds " +
                                          std::to_string(keras_count(arrays[i])) + " values for " +
                                          std::to_string(count(weights[i].shape)));
            out.push_back({l.name + "." + weights[i].name, weights[i], &arrays[i], keras});
        }
        r.loaded.push_back(l.name);
    }
    if (!options.by_name)
        for (const KerasLayerWeights& l : file.layers)
            if (!used.count(l.layer) && !l.arrays.empty())
                throw DataError(path, "holds weights for layer \"" + l.layer + "\", which the model has not");
    if (report) *report = std::move(r);
    return out;
}

namespace {

// Rows src[0..rows) of `cols` floats each (any alignment) into columns
// [0, rows) of dst, a row-major [cols, stride] matrix: dst[c * stride + r] =
// src[r][c], rows <= 16; 16 rows as 4x4 SSE transposes, four columns at a time.
void transpose_rows(const char* const* src, int64_t rows, int64_t cols, float* dst, int64_t stride) {
    int64_t c0 = 0;
#if defined(__SSE2__)
    if (rows == 16)
        for (; c0 + 4 <= cols; c0 += 4) {
            float* d = dst + c0 * stride;
            for (int r = 0; r < 16; r += 4) {
                __m128 a = _mm_loadu_ps(reinterpret_cast<const float*>(src[r] + c0 * 4));
                __m128 b = _mm_loadu_ps(reinterpret_cast<const float*>(src[r + 1] + c0 * 4));
                __m128 c = _mm_loadu_ps(reinterpret_cast<const float*>(src[r + 2] + c0 * 4));
                __m128 e = _mm_loadu_ps(reinterpret_cast<const float*>(src[r + 3] + c0 * 4));
                _MM_TRANSPOSE4_PS(a, b, c, e);
                _mm_storeu_ps(d + r, a);
                _mm_storeu_ps(d + stride + r, b);
                _mm_storeu_ps(d + 2 * stride + r, c);
                _mm_storeu_ps(d + 3 * stride + r, e);
            }
        }
#endif
    for (; c0 < cols; c0++)  // what is left: the last rows, the last columns
        for (int64_t r = 0; r < rows; r++) std::memcpy(dst + c0 * stride + r, src[r] + c0 * 4, 4);
}

}  // namespace

bool keeps_keras_layout(const MatchedWeight& m) {
    return m.keras && m.weight.shape.size() == 2 && m.weight.keras_perm == std::vector<int>{1, 0};
}

int64_t source_page_offset(const MatchedWeight& m) {
    const KerasArray& a = *m.array;
    if (a.pieces.size() != 1) return -1;
    return int64_t(reinterpret_cast<uintptr_t>(a.pieces[0].bytes) % 4096);
}

void read_weight(const MatchedWeight& m, float* to, bool as_stored) {
    const KerasArray& a = *m.array;
    const uint64_t n = keras_count(a);
    std::vector<char> buffer;
    const std::vector<int>& perm = m.weight.keras_perm;
    if (as_stored || !m.keras || perm.empty()) {
        // In parts of 4 MB (a TF.js weight across shards goes through a buffer of
        // that much, not of its size), cut where `to` crosses a 4 MB boundary: each
        // part after the first starts on a page, and so in the file when `to` is
        // placed at its source's page offset (source_page_offset). glibc's memcpy
        // of 4 MB took 0.31 ms from and to page starts, 0.45 ms 56 bytes past them.
        const uint64_t part = uint64_t(1) << 20;  // floats
        for (uint64_t i = 0, k; i < n; i += k) {
            k = std::min(part - (reinterpret_cast<uintptr_t>(to + i) / 4) % part, n - i);
            std::memcpy(to + i, keras_span(a, i, k, buffer), size_t(k) * 4);
        }
        return;
    }
    // Keras' axes, merged where ours keep them together and in order, size-1 axes
    // dropped: dims[k] with its stride in `to` (ours is Keras' transposed by perm).
    const std::vector<int64_t>& k = m.weight.keras_shape;
    const size_t rank = k.size();
    std::vector<int64_t> ours_stride(rank, 1), stride_of(rank);
    for (size_t j = rank; j-- > 1;) ours_stride[j - 1] = ours_stride[j] * k[size_t(perm[j])];
    for (size_t j = 0; j < rank; j++) stride_of[size_t(perm[j])] = ours_stride[j];
    std::vector<int64_t> dims, strides;
    for (size_t i = 0; i < rank; i++) {
        if (k[i] == 1) continue;
        if (!dims.empty() && strides.back() == stride_of[i] * k[i]) {
            dims.back() *= k[i];
            strides.back() = stride_of[i];
        } else {
            dims.push_back(k[i]);
            strides.push_back(stride_of[i]);
        }
    }
    if (dims.size() <= 1) {  // the same order after all
        std::memcpy(to, keras_span(a, 0, n, buffer), size_t(n) * 4);
        return;
    }
    if (dims.size() == 2 && strides[0] == 1 && strides[1] == dims[0]) {
        // A transpose (Dense's kernel), in 256x256 tiles (256 KB: the source's and
        // ours' lines stay in L2 while a tile is done), 16 rows at a time. Measured
        // on a 6144x4096 kernel, warm cache: 24 ms against 13 ms for a plain copy
        // of its bytes (tiles of 16x4096: 38 ms; streaming stores: no better).
        const int64_t rows = dims[0], cols = dims[1], tile = 256;
        std::vector<char> parts[16];  // a row's slice across TF.js shards
        const char* src[16];
        for (int64_t b0 = 0; b0 < rows; b0 += tile)
            for (int64_t c0 = 0; c0 < cols; c0 += tile) {
                const int64_t cn = std::min(tile, cols - c0);
                for (int64_t r0 = b0; r0 < std::min(rows, b0 + tile); r0 += 16) {
                    const int64_t rn = std::min<int64_t>(16, rows - r0);
                    for (int64_t r = 0; r < rn; r++) src[r] = keras_span(a, uint64_t((r0 + r) * cols + c0), uint64_t(cn), parts[r]);
                    transpose_rows(src, rn, cn, to + c0 * rows + r0, rows);
                }
            }
        return;
    }
    // Any other order (a convolution's kernel): Keras' first axis a slice at a
    // time, each value to its place.
    const size_t r = dims.size();
    const int64_t row = int64_t(n) / dims[0];
    std::vector<int64_t> at(r, 0);
    for (int64_t i0 = 0; i0 < dims[0]; i0++) {
        const char* src = keras_span(a, uint64_t(i0 * row), uint64_t(row), buffer);
        float* base = to + i0 * strides[0];
        int64_t offset = 0;
        std::fill(at.begin(), at.end(), 0);
        for (int64_t e = 0; e < row; e++) {
            std::memcpy(base + offset, src + e * 4, 4);
            for (size_t i = r; i-- > 1;) {  // the next index, Keras' last axis fastest
                offset += strides[i];
                if (++at[i] < dims[i]) break;
                offset -= strides[i] * dims[i];
                at[i] = 0;
            }
        }
    }
}

KerasFile model_file_layers(const Spec& spec, const Frame& file, const std::string& path) {
    KerasFile ours;
    for (const LayerSpec& l : spec.layers) {
        KerasLayerWeights layer{l.name, {}};
        for (const WeightSpec& w : layer_weights(l)) {
            const Tensor* t = file.find(l.name + "." + w.name);
            if (!t) continue;
            if (t->dtype != DType::F32) throw DataError(path, "tensor \"" + t->name + "\" is not F32");
            layer.arrays.push_back({t->name, t->shape, std::vector<float>(t->values<float>(), t->values<float>() + t->elements()), {}, nullptr});
        }
        if (!layer.arrays.empty()) ours.layers.push_back(std::move(layer));
    }
    return ours;
}

std::string import_summary(const ImportReport& r) {
    auto list = [](const char* what, const std::vector<std::string>& names) {
        std::string out = std::string(what) + " " + std::to_string(names.size()) + (names.size() == 1 ? " layer" : " layers");
        for (size_t i = 0; i < names.size(); ++i) out += (i ? ", " : ": ") + names[i];
        return out + "\n";
    };
    std::string out = list("loaded", r.loaded);
    if (!r.skipped.empty()) {
        out += list("skipped (their shapes differ)", r.skipped);
        for (const std::string& note : r.notes) out += "  " + note + "\n";
    }
    if (!r.fresh.empty()) out += list("new (not in the file)", r.fresh);
    return out;
}

std::string keras_architecture(const KerasFile& file, const std::string& arch, bool training) {
    const bool version = !file.keras_version.empty();
    if (!version && (!training || file.training_config.empty())) return arch;
    json doc = json::parse(arch, nullptr, false);
    if (!doc.is_object()) return arch;  // parse_spec names what is wrong
    if (version && (file.format == "tfjs" || !doc.contains("keras_version"))) doc["keras_version"] = file.keras_version;
    json config = training ? json::parse(file.training_config, nullptr, false) : json();
    if (!doc.contains("compile_config") && config.is_object()) {
        // Only the loss and the metrics: Keras 2's optimizer_config is Keras 2's own
        // (lr, decay), and a model is run or fine-tuned with the optimizer asked for now.
        json compile = json::object();
        for (const char* key : {"loss", "metrics"})
            if (config.contains(key) && !config[key].is_null()) compile[key] = config[key];
        if (!compile.empty()) doc["compile_config"] = compile;
    }
    return doc.dump();
}

std::vector<std::string> keras_class_names(const KerasFile& file, const std::string& path, const Shape& output) {
    if (file.format != "tfjs" || output.size() != 1) return {};
    size_t slash = path.rfind('/');
    std::string beside = (slash == std::string::npos ? std::string() : path.substr(0, slash + 1)) + "metadata.json";
    std::vector<uint8_t> bytes;
    try {
        bytes = read_file(beside);
    } catch (const Error&) {
        return {};  // none: outputs are numbered
    }
    json meta = json::parse(bytes.begin(), bytes.end(), nullptr, false);
    if (!meta.is_object() || !meta.contains("labels") || !meta["labels"].is_array() ||
        int64_t(meta["labels"].size()) != output[0])
        return {};
    std::vector<std::string> names;
    for (const json& label : meta["labels"]) {
        if (!label.is_string()) return {};
        names.push_back(label.get<std::string>());
    }
    return names;
}

KerasModel read_keras_model(const std::string& path, const std::string& weights, bool defer) {
    KerasModel k;
    k.source = weights.empty() ? path : weights;
    k.file = read_keras_file(k.source, weights.empty() ? "" : path, defer);
    std::string arch = k.file.model_config;
    if (!weights.empty()) {
        std::vector<uint8_t> text = read_file(path);
        arch.assign(text.begin(), text.end());
    } else if (arch.empty()) {
        throw DataError(path, "holds weights only; give the architecture: --model SPEC.json --weights " + path);
    }
    const std::string with_training = keras_architecture(k.file, arch, weights.empty());
    try {
        k.spec = parse_spec(with_training, path);
    } catch (const DataError& e) {
        const std::string without = keras_architecture(k.file, arch, false);
        if (with_training == without) throw;
        // Keras 2's training_config named a loss or metric of its own: run the model without them.
        k.spec = parse_spec(without, path);
        std::cerr << stderr_line_start() + progress_prefixed(e.where() + ": " + e.what() + " (from its training_config: left out)") + "\n";
    }
    return k;
}

const char* const kModelFormat = "imgpipe-model/1";

// A model file's format and spec, checked (its frame decoded whole or header only).
void check_model_frame(const Frame& f, const std::string& path) {
    auto it = f.metadata.find("format");
    if (it == f.metadata.end())
        throw DataError(path, "not an imgpipe model file (a safetensors file without \"format\": \"" +
                                  std::string(kModelFormat) + "\" in its metadata)");
    const std::string& format = it->second;
    if (format.rfind("imgpipe-model/", 0) != 0)
        throw DataError(path, "not an imgpipe model file (format \"" + format + "\")");
    if (format != kModelFormat)
        throw DataError(path, "model format \"" + format + "\" is newer than this imgpipe reads (" +
                                  std::string(kModelFormat) + "); upgrade imgpipe");
    if (!f.metadata.count("spec")) throw DataError(path, "model file lacks its spec");
}

// A stream file holds more than one frame: say what it is before its second
// frame is refused as trailing bytes.
void refuse_stream(const Frame& first, const std::string& path) {
    auto it = first.metadata.find("format");
    if (it != first.metadata.end() && it->second.rfind("batchstream/", 0) == 0)
        throw DataError(path, "is a batch stream, not a model file");
}

// A model file's one frame, its format checked and its spec present.
Frame read_model_file(const std::string& path) {
    std::vector<uint8_t> bytes = read_file(path);
    // The framing (and its words) is the stream's: read_frame, by decode_frame.
    Frame f = decode_frame(bytes.data(), bytes.size(), path, [&](const Frame& first) { refuse_stream(first, path); });
    check_model_frame(f, path);
    return f;
}

}  // namespace imgpipe::nn
