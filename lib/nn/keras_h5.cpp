// The HDF5 side of lib/nn/keras_file.hpp: Keras 2 .h5 (full model and
// save_weights) and Keras 3 .weights.h5, read with libhdf5. Every size the file
// states is checked against the bytes it has before anything is allocated for it.
// doc/design.md, "Keras files in", gives the layouts and their sources.
#include <hdf5.h>
#include <hdf5_hl.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <functional>
#include <cstring>
#include <map>
#include <set>

#include "cli/error.hpp"
#include "nn/keras_file.hpp"

namespace imgpipe::nn::keras_detail {
namespace {

using nlohmann::json;

// An HDF5 handle closed on scope exit.
class Hid {
public:
    Hid(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
    ~Hid() {
        if (id_ >= 0) close_(id_);
    }
    Hid(const Hid&) = delete;
    Hid& operator=(const Hid&) = delete;
    operator hid_t() const { return id_; }
    bool ok() const { return id_ >= 0; }

private:
    hid_t id_;
    herr_t (*close_)(hid_t);
};

// HDF5 prints its error stack on stderr by default; our errors say it instead.
void quiet_hdf5() {
    static bool done = [] {
        H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
        return true;
    }();
    (void)done;
}

// The most strings an attribute may list (Keras' largest models list a few
// thousand weights) and the longest one (Keras 2 splits above 64 KB).
constexpr hssize_t kMaxStrings = 1 << 20;
constexpr size_t kMaxStringSize = 1 << 26;

// An array as read, or, when the reader defers them, where its float32 bytes lie
// in the file (`at`), for the parent process to read with one pread.
struct Arr {
    KerasArray a;
    int64_t at = -1;
};
struct Layer {
    std::string layer;
    std::vector<Arr> arrays;
};

struct Reader {
    hid_t file;
    std::string where;
    uint64_t file_size;
    bool defer = false;  // leave plain little-endian float32 datasets to the caller

    [[noreturn]] void fail(const std::string& m) const { throw DataError(where, m); }

    // A name inside a group: no absolute paths, no "." or ".." parts, nothing empty
    // (HDF5 would follow "/x" from the root, outside the layer's group).
    void check_name(const std::string& name, const std::string& what) const {
        bool bad = name.empty() || name.size() > 4096 || name.front() == '/' || name.find('\0') != std::string::npos;
        for (size_t b = 0; !bad && b <= name.size();) {
            size_t e = std::min(name.find('/', b), name.size());
            std::string part = name.substr(b, e - b);
            bad = part.empty() || part == "." || part == "..";
            b = e + 1;
        }
        if (bad) fail(what + ": bad name \"" + name.substr(0, 200) + "\"");
    }

    bool has_attr(hid_t obj, const std::string& name) const { return H5Aexists(obj, name.c_str()) > 0; }

    // A string attribute (scalar or 1-D, fixed or variable length) as strings;
    // an empty attribute of any type gives none (Keras 2 writes a layer without
    // weights as an empty float64 array).
    std::vector<std::string> strings(hid_t obj, const std::string& name, const std::string& what) const {
        Hid a(H5Aopen(obj, name.c_str(), H5P_DEFAULT), H5Aclose);
        if (!a.ok()) fail(what + ": cannot read attribute " + name);
        Hid type(H5Aget_type(a), H5Tclose);
        Hid space(H5Aget_space(a), H5Sclose);
        if (!type.ok() || !space.ok()) fail(what + ": cannot read attribute " + name);
        hssize_t n = H5Sget_simple_extent_npoints(space);
        if (n < 0 || n > kMaxStrings) fail(what + ": attribute " + name + " has a bad size");
        std::vector<std::string> out;
        if (n == 0) return out;
        if (H5Tget_class(type) != H5T_STRING) fail(what + ": attribute " + name + " is not a string");
        Hid mem(H5Tcopy(H5T_C_S1), H5Tclose);
        H5Tset_cset(mem, H5Tget_cset(type) == H5T_CSET_UTF8 ? H5T_CSET_UTF8 : H5T_CSET_ASCII);
        const htri_t variable = H5Tis_variable_str(type);
        if (variable < 0) fail(what + ": cannot read attribute " + name);
        if (variable) {
            H5Tset_size(mem, H5T_VARIABLE);
            std::vector<char*> p(size_t(n), nullptr);
            if (H5Aread(a, mem, p.data()) < 0) fail(what + ": cannot read attribute " + name);
            out.reserve(size_t(n));
            size_t total = 0;
            for (char* s : p) {
                out.emplace_back(s ? s : "");
                total += out.back().size();
            }
            H5Dvlen_reclaim(mem, space, H5P_DEFAULT, p.data());
            if (total > kMaxStringSize) fail(what + ": attribute " + name + " is too long");
            return out;
        }
        const size_t size = H5Tget_size(type);
        // A fixed-length attribute is stored in the file: it cannot be larger than it.
        if (size == 0 || size > kMaxStringSize || uint64_t(n) * size > std::min<uint64_t>(file_size, kMaxStringSize))
            fail(what + ": attribute " + name + " is larger than the file");
        H5Tset_size(mem, size);
        H5Tset_strpad(mem, H5T_STR_NULLPAD);
        std::string buf(size_t(n) * size, '\0');
        if (H5Aread(a, mem, buf.data()) < 0) fail(what + ": cannot read attribute " + name);
        for (hssize_t i = 0; i < n; i++) {
            const char* s = buf.data() + size_t(i) * size;
            out.emplace_back(s, strnlen(s, size));
        }
        return out;
    }

    // One string attribute, or "" when there is none.
    std::string string_attr(hid_t obj, const std::string& name, const std::string& what) const {
        if (!has_attr(obj, name)) return "";
        std::vector<std::string> v = strings(obj, name, what);
        if (v.size() != 1) fail(what + ": attribute " + name + " is not one string");
        return v[0];
    }

    // Keras 2's save_attributes_to_hdf5_group: `name`, or, above 64 KB, `name0`,
    // `name1`, ... (load_attributes_from_hdf5_group reads them in that order).
    std::vector<std::string> split_strings(hid_t obj, const std::string& name, const std::string& what) const {
        if (has_attr(obj, name)) return strings(obj, name, what);
        std::vector<std::string> out;
        for (int i = 0; has_attr(obj, name + std::to_string(i)); i++) {
            std::vector<std::string> part = strings(obj, name + std::to_string(i), what);
            if (out.size() + part.size() > size_t(kMaxStrings)) fail(what + ": attribute " + name + " is too long");
            out.insert(out.end(), part.begin(), part.end());
        }
        return out;
    }

    // Does group `obj` hold a link `name` (a plain name, no '/')?
    bool has_link(hid_t obj, const std::string& name) const { return H5Lexists(obj, name.c_str(), H5P_DEFAULT) > 0; }

    // The dataset `name` (a path inside `group`) as a float32 array.
    Arr dataset(hid_t group, const std::string& name, const std::string& what) const {
        check_name(name, what);
        // H5Dopen follows each part; a missing part is an error, not a crash.
        Hid d(H5Dopen2(group, name.c_str(), H5P_DEFAULT), H5Dclose);
        if (!d.ok()) fail(what + ": no dataset " + name);
        Hid type(H5Dget_type(d), H5Tclose);
        Hid space(H5Dget_space(d), H5Sclose);
        Hid dcpl(H5Dget_create_plist(d), H5Pclose);
        if (!type.ok() || !space.ok() || !dcpl.ok()) fail(what + ": cannot read dataset " + name);
        const H5T_class_t cls = H5Tget_class(type);
        const size_t tsize = H5Tget_size(type);
        if ((cls != H5T_FLOAT && cls != H5T_INTEGER) || tsize == 0 || tsize > 8)
            fail(what + ": dataset " + name + " is not numbers");
        const int rank = H5Sget_simple_extent_ndims(space);
        if (rank < 0 || rank > 8) fail(what + ": dataset " + name + " has a bad shape");
        hsize_t dims[8] = {0};
        H5Sget_simple_extent_dims(space, dims, nullptr);
        Arr out;
        KerasArray& arr = out.a;
        arr.name = name;
        uint64_t n = 1;
        for (int i = 0; i < rank; i++) {
            if (dims[i] > (uint64_t(1) << 40) || (dims[i] && n > (uint64_t(1) << 40) / dims[i]))
                fail(what + ": dataset " + name + " has an absurd shape");
            n *= dims[i];
            arr.shape.push_back(int64_t(dims[i]));
        }
        const uint64_t need = n * tsize;
        const uint64_t have = H5Dget_storage_size(d);
        const int filters = H5Pget_nfilters(dcpl);
        auto shape_text = [&] {
            std::string s = "[";
            for (size_t i = 0; i < arr.shape.size(); i++) s += (i ? ", " : "") + std::to_string(arr.shape[i]);
            return s + "]";
        };
        if (filters < 0) fail(what + ": cannot read dataset " + name);
        if (have > file_size) fail(what + ": dataset " + name + " claims more bytes than the file has");
        if (filters == 0) {
            // Keras writes plain datasets (h5py create_dataset, no compression):
            // their storage is exactly their shape's bytes.
            // A chunked dataset (an h5repack'ed file) may also hold its edge chunks whole.
            uint64_t most = need;
            if (H5Pget_layout(dcpl) == H5D_CHUNKED) {
                hsize_t chunk[8] = {0};
                if (H5Pget_chunk(dcpl, 8, chunk) != rank) fail(what + ": dataset " + name + " has a bad chunk shape");
                most = tsize;
                for (int i = 0; i < rank; i++) {
                    if (chunk[i] == 0) fail(what + ": dataset " + name + " has a bad chunk shape");
                    const uint64_t padded = (dims[i] + chunk[i] - 1) / chunk[i] * chunk[i];
                    most = padded && most > (uint64_t(1) << 42) / padded ? uint64_t(1) << 42 : most * padded;
                }
            }
            if (have < need || have > most)
                fail(what + ": dataset " + name + " holds " + std::to_string(have) + " bytes, its shape " + shape_text() +
                     " needs " + std::to_string(need));
            if (H5Pget_layout(dcpl) == H5D_CONTIGUOUS && need > 0) {
                haddr_t at = H5Dget_offset(d);
                if (at == HADDR_UNDEF || at > file_size || need > file_size - at)
                    fail(what + ": dataset " + name + " lies past the end of the file");
                // The common case (every Keras file we have seen): its bytes are our
                // values; the caller reads them straight from the file.
                if (defer && H5Tequal(type, H5T_IEEE_F32LE) > 0) {
                    out.at = int64_t(at);
                    return out;
                }
            }
        } else if (need / 1100 > have) {
            // Compressed (an h5repack'ed file): deflate expands at most ~1032 times.
            fail(what + ": dataset " + name + " holds " + std::to_string(have) + " compressed bytes, too few for its shape " +
                 shape_text());
        }
        arr.values.resize(size_t(n));
        if (n && H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, arr.values.data()) < 0)
            fail(what + ": cannot read dataset " + name + " (truncated or damaged)");
        return out;
    }
};

bool is_model_class(const std::string& cls) { return cls == "Sequential" || cls == "Model" || cls == "Functional"; }

json parse_config(const std::string& text, const std::string& where) {
    int deepest = 0;
    try {
        return json::parse(text, [&](int depth, json::parse_event_t, json&) {
            if (depth > 256 || ++deepest < 0) throw DataError(where, "the model's JSON is nested too deeply");
            return true;
        });
    } catch (const json::exception& e) {
        throw DataError(where, std::string("the model's JSON is not JSON: ") + e.what());
    }
}

// Keras 2: the nested models among the top layers of `config` (name -> its inner
// layers' names), to split their weights by inner layer.
std::map<std::string, std::set<std::string>> nested_models(const json& config) {
    std::map<std::string, std::set<std::string>> out;
    const json* layers = nullptr;
    if (config.is_object() && config.contains("config") && config["config"].is_object() &&
        config["config"].contains("layers") && config["config"]["layers"].is_array())
        layers = &config["config"]["layers"];
    else if (config.is_object() && config.contains("config") && config["config"].is_array())
        layers = &config["config"];  // Keras 2.0's Sequential: "config" is the layer list
    if (!layers) return out;
    // Every inner layer name, at any depth, of a nested model.
    std::function<void(const json&, std::set<std::string>&)> inner = [&](const json& m, std::set<std::string>& names) {
        const json* ls = nullptr;
        if (m.contains("config") && m["config"].is_object() && m["config"].contains("layers") && m["config"]["layers"].is_array())
            ls = &m["config"]["layers"];
        else if (m.contains("config") && m["config"].is_array())
            ls = &m["config"];
        if (!ls) return;
        for (const json& l : *ls) {
            if (!l.is_object() || !l.contains("config") || !l["config"].is_object()) continue;
            const json& c = l["config"];
            if (c.contains("name") && c["name"].is_string()) names.insert(c["name"].get<std::string>());
            if (l.contains("class_name") && l["class_name"].is_string() && is_model_class(l["class_name"].get<std::string>()))
                inner(l, names);
        }
    };
    for (const json& l : *layers) {
        if (!l.is_object() || !l.contains("class_name") || !l["class_name"].is_string()) continue;
        if (!is_model_class(l["class_name"].get<std::string>())) continue;
        if (!l.contains("config") || !l["config"].is_object() || !l["config"].contains("name") || !l["config"]["name"].is_string())
            continue;
        inner(l, out[l["config"]["name"].get<std::string>()]);
    }
    return out;
}

// A nested model's weight "Conv1/kernel:0" (or "mobilenetv2/Conv1/kernel:0") is
// inner layer Conv1's: the last part before the weight's own name that names an
// inner layer, else the part just before it.
std::string inner_layer(const std::string& weight, const std::set<std::string>& names) {
    std::vector<std::string> parts;
    for (size_t b = 0;;) {
        size_t e = weight.find('/', b);
        parts.push_back(weight.substr(b, e == std::string::npos ? std::string::npos : e - b));
        if (e == std::string::npos) break;
        b = e + 1;
    }
    if (parts.size() < 2) return "";
    for (size_t i = parts.size() - 1; i-- > 0;)
        if (names.count(parts[i])) return parts[i];
    return parts[parts.size() - 2];
}

// Keras 2: `g` is model_weights (full model) or the root (save_weights).
void read_keras2(const Reader& r, hid_t g, const std::string& config_text, std::vector<Layer>& out) {
    std::map<std::string, std::set<std::string>> nested;
    if (!config_text.empty()) nested = nested_models(parse_config(config_text, r.where));
    // load_weights_from_hdf5_group reads layer_names; without it Keras finds no layers.
    if (!r.has_attr(g, "layer_names") && !r.has_attr(g, "layer_names0")) r.fail("model_weights has no layer_names attribute");
    std::vector<std::string> names = r.split_strings(g, "layer_names", "layer_names");
    std::set<std::string> seen;
    for (const std::string& layer : names) {
        const std::string what = "layer " + layer.substr(0, 200);
        if (layer.find('/') != std::string::npos) r.fail(what + ": bad layer name");
        r.check_name(layer, what);
        if (!seen.insert(layer).second) r.fail(what + ": listed twice in layer_names");
        if (!r.has_link(g, layer)) r.fail(what + ": listed in layer_names but not in the file");
        Hid lg(H5Gopen2(g, layer.c_str(), H5P_DEFAULT), H5Gclose);
        if (!lg.ok()) r.fail(what + ": not a group");
        std::vector<std::string> weights = r.split_strings(lg, "weight_names", what);
        if (weights.empty()) continue;
        // Matched by position in weight_names, never by the name's prefix: Keras
        // 2.0 wrote conv2d_1's kernel as "conv2d_1_1/kernel:0".
        std::vector<Arr> arrays;
        std::set<std::string> wseen;
        for (const std::string& w : weights) {
            if (!wseen.insert(w).second) r.fail(what + ": weight " + w.substr(0, 200) + " listed twice");
            arrays.push_back(r.dataset(lg, w, what));
        }
        auto it = nested.find(layer);
        std::set<std::string> prefixes;
        for (const Arr& a : arrays) prefixes.insert(inner_layer(a.a.name, {}));
        // Without an architecture, a layer whose weights name several layers is a nested model.
        const bool split = it != nested.end() || (config_text.empty() && prefixes.size() > 1);
        if (!split) {
            out.push_back({layer, std::move(arrays)});
            continue;
        }
        static const std::set<std::string> none;
        const std::set<std::string>& inner = it != nested.end() ? it->second : none;
        const size_t first = out.size();
        for (Arr& a : arrays) {
            std::string il = inner_layer(a.a.name, inner);
            if (il.empty()) r.fail(what + ": weight " + a.a.name + " of a nested model names no inner layer");
            auto at = std::find_if(out.begin() + first, out.end(), [&](const Layer& l) { return l.layer == il; });
            if (at == out.end()) {
                out.push_back({il, {}});
                at = out.end() - 1;
            }
            at->arrays.push_back(std::move(a));
        }
    }
}

// Keras 3's .weights.h5: each layer's variables at <path>/vars/<i> (saving_lib.py).
void read_keras3(const Reader& r, const std::string& config_text, bool same_config, std::vector<Layer>& out) {
    if (config_text.empty())
        r.fail("a Keras 3 weights file names its layers by the architecture: give its JSON: --model MODEL.json --weights FILE");
    std::vector<std::string> groups;
    std::vector<Keras3Path> paths = keras3_paths(config_text, r.where, &groups);
    // tf.keras 2.13-2.15 wrote the same walk under "_layer_checkpoint_dependencies";
    // Keras 3 reads those files with path.replace("layers", ...), every occurrence
    // (H5IOStore.get, "Fix for 2.13 compatibility"): so do we.
    const char* top = "layers";
    if (!r.has_link(r.file, "layers")) {
        top = "_layer_checkpoint_dependencies";
        auto old = [](std::string p) {
            for (size_t i = 0; (i = p.find("layers", i)) != std::string::npos; i += 30) p.replace(i, 6, "_layer_checkpoint_dependencies");
            return p;
        };
        for (Keras3Path& p : paths) p.path = old(p.path);
        for (std::string& g : groups) g = old(g);
    }
    std::set<std::string> known(groups.begin(), groups.end());
    for (const Keras3Path& p : paths) known.insert(p.path);
    // Every layers/<name> group in the file must be one the walk names: a file
    // saved from another architecture would otherwise load silently shifted.
    std::vector<std::string> todo{top};
    while (!todo.empty()) {
        std::string g = todo.back();
        todo.pop_back();
        Hid grp(H5Gopen2(r.file, g.c_str(), H5P_DEFAULT), H5Gclose);
        if (!grp.ok()) continue;
        H5G_info_t info;
        if (H5Gget_info(grp, &info) < 0 || info.nlinks > 100000) r.fail(g + ": cannot list the group");
        for (hsize_t i = 0; i < info.nlinks; i++) {
            char name[256];
            ssize_t len = H5Lget_name_by_idx(grp, ".", H5_INDEX_NAME, H5_ITER_INC, i, name, sizeof name, H5P_DEFAULT);
            if (len < 0 || len >= ssize_t(sizeof name)) r.fail(g + ": a member's name is unreadable or too long");
            std::string child = g + "/" + name;
            if (!known.count(child))
                r.fail(child + ": the file has weights there but the architecture has no such layer (another model's file?)");
            if (std::count(groups.begin(), groups.end(), child)) todo.push_back(child + "/" + top);
        }
    }
    for (const Keras3Path& p : paths) {
        const std::string what = "layer " + p.layer + " (" + p.path + ")";
        const std::string vars = p.path + "/vars";
        if (!r.has_link(r.file, p.path)) continue;
        Hid lg(H5Gopen2(r.file, p.path.c_str(), H5P_DEFAULT), H5Gclose);
        if (!lg.ok()) r.fail(what + ": not a group");
        if (!r.has_link(lg, "vars")) continue;
        Hid vg(H5Gopen2(lg, "vars", H5P_DEFAULT), H5Gclose);
        if (!vg.ok()) r.fail(what + ": vars is not a group");
        // Newer Keras writes the layer's own name beside its variables: in a .keras
        // it must be the one its config.json gives that path. (A .weights.h5 with
        // another JSON may differ: Keras loads by path, as names are generated.)
        const std::string named = same_config ? r.string_attr(vg, "name", what) : "";
        if (!named.empty() && named != p.layer)
            r.fail(what + ": the file has layer " + named.substr(0, 200) + "'s weights there (another architecture?)");
        H5G_info_t info;
        if (H5Gget_info(vg, &info) < 0 || info.nlinks > 100000) r.fail(what + ": cannot list its vars");
        Layer lw{p.layer, {}};
        // save_own_variables writes store["0"], store["1"], ...: trainable, then non-trainable.
        for (hsize_t i = 0; i < info.nlinks; i++) {
            std::string key = std::to_string(i);
            if (!r.has_link(vg, key)) r.fail(what + ": vars has no " + key + " (its names must be 0.." + std::to_string(info.nlinks - 1) + ")");
            Arr a = r.dataset(vg, key, what);
            a.a.name = "vars/" + key;
            lw.arrays.push_back(std::move(a));
        }
        if (!lw.arrays.empty()) out.push_back(std::move(lw));
    }
}

H5Read read_open(hid_t file, const std::string& where, const std::string& config, bool in_keras_zip, bool defer) {
    hsize_t size = 0;
    if (H5Fget_filesize(file, &size) < 0) throw DataError(where, "not a readable HDF5 file");
    Reader r{file, where, size, defer};
    Hid root(H5Gopen2(file, "/", H5P_DEFAULT), H5Gclose);
    if (!root.ok()) r.fail("not a readable HDF5 file");
    KerasFile out;
    std::vector<Layer> layers;
    if (r.has_link(root, "model_weights")) {
        out.format = "keras2-h5";
        out.model_config = r.string_attr(root, "model_config", "model_config");
        out.training_config = r.string_attr(root, "training_config", "training_config");
        out.keras_version = r.string_attr(root, "keras_version", "keras_version");
        if (out.model_config.empty()) out.model_config = config;
        Hid g(H5Gopen2(root, "model_weights", H5P_DEFAULT), H5Gclose);
        if (!g.ok()) r.fail("model_weights is not a group");
        read_keras2(r, g, out.model_config, layers);
    } else if (r.has_attr(root, "layer_names") || r.has_attr(root, "layer_names0")) {
        out.format = "keras2-weights-h5";
        out.model_config = config;
        out.keras_version = r.string_attr(root, "keras_version", "keras_version");
        read_keras2(r, root, config, layers);
    } else if (r.has_link(root, "layers") || r.has_link(root, "_layer_checkpoint_dependencies")) {
        out.format = in_keras_zip ? "keras3" : "keras3-weights-h5";
        out.model_config = config;
        read_keras3(r, config, in_keras_zip, layers);
    } else {
        r.fail("not a Keras weights file (no model_weights, layer_names or layers)");
    }
    H5Read res;
    for (Layer& l : layers) {
        out.layers.push_back({std::move(l.layer), {}});
        res.at.emplace_back();
        for (Arr& a : l.arrays) {
            out.layers.back().arrays.push_back(std::move(a.a));
            res.at.back().push_back(a.at);
        }
    }
    res.file = std::move(out);
    return res;
}

}  // namespace

KerasFile read_h5_image(const char* data, size_t size, const std::string& where, const std::string& config, bool in_keras_zip) {
    return read_h5_deferred("", data, size, where, config, in_keras_zip, false).file;
}

KerasFile read_h5_path(const std::string& path, const std::string& where, const std::string& config) {
    return read_h5_deferred(path, nullptr, 0, where, config, false, false).file;
}

H5Read read_h5_deferred(const std::string& path, const char* data, size_t size, const std::string& where,
                        const std::string& config, bool in_keras_zip, bool defer) {
    quiet_hdf5();
    // An image is opened in place: the hl library's image driver, told not to copy or free.
    Hid file(data ? H5LTopen_file_image(const_cast<char*>(data), size, H5LT_FILE_IMAGE_DONT_COPY | H5LT_FILE_IMAGE_DONT_RELEASE)
                  : H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT),
             H5Fclose);
    if (!file.ok()) throw DataError(where, "not a readable HDF5 file");
    return read_open(file, where, config, in_keras_zip, defer);
}

}  // namespace imgpipe::nn::keras_detail
