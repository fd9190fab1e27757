// Keras and TF.js model files in (lib/nn/keras_file.hpp): the kind of a path,
// Keras 3's naming walk, the TF.js manifest and shards, the .keras zip, and the
// child process the HDF5 reading runs in. doc/design.md, "Keras files in".
#include "nn/keras_file.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zip.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <tuple>
#include <map>
#include <set>

#include "cli/error.hpp"

namespace imgpipe::nn {
namespace {

using nlohmann::json;

// A JSON text, refused by name when it is not JSON or nests absurdly deep (the
// parser and dump() recurse).
template <class J = json>
J parse_json(const std::string& text, const std::string& where, const std::string& what) {
    try {
        return J::parse(text, [&](int depth, typename J::parse_event_t, J&) {
            if (depth > 256) throw DataError(where, what + " is nested too deeply");
            return true;
        });
    } catch (const json::exception& e) {
        throw DataError(where, what + " is not JSON: " + e.what());
    }
}

// The whole file, or NoInputError.
std::string slurp(const std::string& path, uint64_t limit = uint64_t(1) << 36) {
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw NoInputError(path, std::strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || uint64_t(st.st_size) > limit) {
        close(fd);
        throw DataError(path, "not a regular file of a readable size");
    }
    std::string out(size_t(st.st_size), '\0');
    size_t done = 0;
    while (done < out.size()) {
        ssize_t n = read(fd, out.data() + done, out.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            close(fd);
            throw IoError(path, n < 0 ? std::strerror(errno) : "file shrank while read");
        }
        done += size_t(n);
    }
    close(fd);
    return out;
}

// ---- the HDF5 reading in a child process ----
// libhdf5 1.10 is not safe on hostile files (doc/design.md, "Keras files in":
// fuzzing it crashed it). The child reads and sends the result through a pipe;
// its death is reported as an unreadable file, not as ours.

void put_all(int fd, const void* p, size_t n) {
    const char* c = static_cast<const char*>(p);
    while (n) {
        ssize_t k = write(fd, c, n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) _exit(3);
        c += k;
        n -= size_t(k);
    }
}
void put_u64(int fd, uint64_t v) { put_all(fd, &v, sizeof v); }
void put_str(int fd, const std::string& s) {
    put_u64(fd, s.size());
    put_all(fd, s.data(), s.size());
}

struct PipeIn {
    int fd;
    bool get(void* p, size_t n) {
        char* c = static_cast<char*>(p);
        while (n) {
            ssize_t k = read(fd, c, n);
            if (k < 0 && errno == EINTR) continue;
            if (k <= 0) return false;
            c += k;
            n -= size_t(k);
        }
        return true;
    }
    bool u64(uint64_t& v) { return get(&v, sizeof v); }
    // Sizes come from our own child, but a child killed half way sends garbage-free
    // short data only; the bound keeps a bug from turning into a huge allocation.
    bool str(std::string& s) {
        uint64_t n;
        if (!u64(n) || n > (uint64_t(1) << 36)) return false;
        s.resize(size_t(n));
        return get(s.data(), s.size());
    }
};

void send_file(int fd, const keras_detail::H5Read& r) {
    const KerasFile& f = r.file;
    put_u64(fd, 0);  // 0: a file follows; 1: an error
    put_str(fd, f.format);
    put_str(fd, f.model_config);
    put_str(fd, f.training_config);
    put_u64(fd, f.layers.size());
    for (size_t i = 0; i < f.layers.size(); i++) {
        const KerasLayerWeights& l = f.layers[i];
        put_str(fd, l.layer);
        put_u64(fd, l.arrays.size());
        for (size_t j = 0; j < l.arrays.size(); j++) {
            const KerasArray& a = l.arrays[j];
            put_str(fd, a.name);
            put_u64(fd, a.shape.size());
            put_all(fd, a.shape.data(), a.shape.size() * sizeof(int64_t));
            // The values, or where they lie for the parent to read.
            const int64_t at = r.at[i][j];
            put_u64(fd, at < 0 ? 0 : 1);
            if (at >= 0) {
                put_u64(fd, uint64_t(at));
                continue;
            }
            put_u64(fd, a.values.size());
            put_all(fd, a.values.data(), a.values.size() * sizeof(float));
        }
    }
}

// `fill(at, to, bytes)` reads a deferred array's bytes in the parent.
struct Deferred {
    KerasArray* array;
    uint64_t at;
};
bool receive_file(PipeIn& in, KerasFile& f, std::vector<Deferred>& deferred) {
    uint64_t nl;
    if (!in.str(f.format) || !in.str(f.model_config) || !in.str(f.training_config) || !in.u64(nl) || nl > (1u << 24))
        return false;
    f.layers.resize(size_t(nl));
    for (KerasLayerWeights& l : f.layers) {
        uint64_t na;
        if (!in.str(l.layer) || !in.u64(na) || na > (1u << 24)) return false;
        l.arrays.resize(size_t(na));
        for (KerasArray& a : l.arrays) {
            uint64_t rank, n;
            if (!in.str(a.name) || !in.u64(rank) || rank > 64) return false;
            a.shape.resize(size_t(rank));
            uint64_t tag;
            if (!in.get(a.shape.data(), a.shape.size() * sizeof(int64_t)) || !in.u64(tag)) return false;
            if (tag == 1) {
                uint64_t at;
                if (!in.u64(at)) return false;
                deferred.push_back({&a, at});
                continue;
            }
            if (!in.u64(n) || n > (uint64_t(1) << 36)) return false;
            a.values.resize(size_t(n));
            if (!in.get(a.values.data(), a.values.size() * sizeof(float))) return false;
        }
    }
    return true;
}

// The child's limits: libhdf5 was seen looping forever (H5HG_read) and asking
// for terabytes on files that lie. Memory: what the process has mapped plus 1 GiB
// and 8 bytes a byte of file (our float32 arrays from float16 data are 2x);
// time: 30 s and 1 s a 10 MB. Under ASan the address-space limit is left off
// (its shadow mappings would not fit).
#if defined(__SANITIZE_ADDRESS__)
#define IMGPIPE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define IMGPIPE_ASAN 1
#endif
#endif
void limit_child(uint64_t file_bytes) {
    const unsigned seconds = keras_detail::h5_child_seconds ? keras_detail::h5_child_seconds : unsigned(30 + file_bytes / 10000000);
    alarm(seconds);  // SIGALRM's default action ends the child
#ifndef IMGPIPE_ASAN
    uint64_t pages = 0;
    if (FILE* f = fopen("/proc/self/statm", "r")) {
        if (fscanf(f, "%lu", &pages) != 1) pages = 0;
        fclose(f);
    }
    if (pages) {
        const uint64_t limit = pages * uint64_t(sysconf(_SC_PAGESIZE)) + (uint64_t(1) << 30) + 8 * file_bytes;
        struct rlimit rl = {rlim_t(limit), rlim_t(limit)};
        setrlimit(RLIMIT_AS, &rl);
    }
#endif
}

// Runs `read` in a child; the arrays it defers are then read here with `fill`
// (from the file's bytes at an offset: `size` bytes, true when all were there).
KerasFile isolated(const std::string& where, uint64_t file_bytes, const std::function<keras_detail::H5Read()>& read,
                   const std::function<bool(uint64_t at, char* to, uint64_t size)>& fill) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) throw Error(kSoftware, where, std::string("pipe: ") + std::strerror(errno));
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        throw Error(kSoftware, where, std::string("fork: ") + std::strerror(errno));
    }
    if (pid == 0) {
        close(fds[0]);
        signal(SIGPIPE, SIG_DFL);
        signal(SIGALRM, SIG_DFL);
        limit_child(file_bytes);
        try {
            send_file(fds[1], read());
        } catch (const Error& e) {
            put_u64(fds[1], 1);
            put_u64(fds[1], uint64_t(e.status()));
            put_str(fds[1], e.where());
            put_str(fds[1], e.what());
        } catch (const std::exception& e) {
            put_u64(fds[1], 1);
            put_u64(fds[1], uint64_t(kDataErr));
            put_str(fds[1], where);
            put_str(fds[1], std::string("not a readable HDF5 file (") + e.what() + ")");
        }
        _exit(0);  // no atexit handlers, no destructors of the parent's state
    }
    close(fds[1]);
    PipeIn in{fds[0]};
    KerasFile f;
    std::vector<Deferred> deferred;
    uint64_t tag = 2, status = 0;
    std::string ewhere, emsg;
    bool ok = in.u64(tag) && (tag == 0 ? receive_file(in, f, deferred) : tag == 1 && in.u64(status) && in.str(ewhere) && in.str(emsg));
    if (!ok) kill(pid, SIGKILL);  // a child that sent garbage may still be writing
    close(fds[0]);
    int ws = 0;
    while (waitpid(pid, &ws, 0) < 0 && errno == EINTR) {
    }
    if (!ok || !WIFEXITED(ws) || WEXITSTATUS(ws) != 0) {
        std::string how = !WIFSIGNALED(ws)            ? ""
                          : WTERMSIG(ws) == SIGALRM ? " (it was still reading after the time limit)"
                                                    : std::string(" (it died of signal ") + std::to_string(WTERMSIG(ws)) + ")";
        throw DataError(where, "not a readable HDF5 file: the HDF5 library failed on it" + how);
    }
    if (tag == 1) throw Error(int(status), ewhere, emsg);
    // The child checked each shape against the bytes the dataset has in the file.
    for (const Deferred& d : deferred) {
        uint64_t n = 1;
        for (int64_t v : d.array->shape) n *= uint64_t(v);
        if (n > file_bytes / 4 + 1) throw DataError(where, d.array->name + ": larger than the file");
        d.array->values.resize(size_t(n));
        if (!fill(d.at, reinterpret_cast<char*>(d.array->values.data()), n * 4))
            throw DataError(where, d.array->name + ": the file is shorter than the dataset says (truncated?)");
    }
    return f;
}

// ---- TF.js shards from a folder ----

// A shard path from the manifest, relative to model.json's folder: nothing
// absolute, no "..": a manifest must not read files outside its folder.
void check_shard_path(const std::string& p, const std::string& where) {
    bool bad = p.empty() || p.front() == '/' || p.find('\0') != std::string::npos || p.size() > 4096;
    for (size_t b = 0; !bad && b <= p.size();) {
        size_t e = std::min(p.find('/', b), p.size());
        std::string part = p.substr(b, e - b);
        bad = part.empty() || part == "." || part == "..";
        b = e + 1;
    }
    if (bad) throw DataError(where, "weightsManifest: bad shard path \"" + p.substr(0, 200) + "\"");
}

struct FolderShards : keras_detail::ShardSource {
    std::string dir, where;
    uint64_t size(const std::string& path) override {
        struct stat st;
        const std::string full = dir + path;
        if (stat(full.c_str(), &st) != 0) throw NoInputError(where, "shard " + path + ": " + std::strerror(errno));
        if (!S_ISREG(st.st_mode)) throw DataError(where, "shard " + path + ": not a regular file");
        return uint64_t(st.st_size);
    }
    void read(const std::string& path, uint64_t offset, char* to, uint64_t size) override {
        if (path != open_path) {  // weights are read in order: one open a shard
            if (fd >= 0) close(fd);
            open_path = path;
            fd = open((dir + path).c_str(), O_RDONLY | O_CLOEXEC);
            if (fd < 0) throw NoInputError(where, "shard " + path + ": " + std::strerror(errno));
        }
        uint64_t done = 0;
        while (done < size) {
            ssize_t n = pread(fd, to + done, size - done, off_t(offset + done));
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) throw DataError(where, "shard " + path + ": shorter than it was a moment ago");
            done += uint64_t(n);
        }
    }
    ~FolderShards() override {
        if (fd >= 0) close(fd);
    }
    std::string open_path;
    int fd = -1;
};

// JavaScript's ToInt32, as an Int32Array stores a double (Math.round's result
// may be out of range): modulo 2^32, NaN and infinities to 0.
int32_t js_to_int32(double x) {
    if (!std::isfinite(x)) return 0;
    double m = std::fmod(std::trunc(x), 4294967296.0);
    if (m < 0) m += 4294967296.0;
    return int32_t(uint32_t(m));
}

// IEEE half to float, exact (tfjs-core's getFloat16Decoder computes the same).
float half_to_float(uint16_t h) {
    const uint32_t sign = uint32_t(h & 0x8000) << 16;
    const uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    float v;
    if (exp == 0)
        v = std::ldexp(float(man), -24);
    else if (exp == 31)
        v = man ? NAN : INFINITY;
    else
        v = std::ldexp(float(man | 0x400), int(exp) - 25);
    uint32_t bits;
    std::memcpy(&bits, &v, 4);
    bits |= sign;
    std::memcpy(&v, &bits, 4);
    return v;
}

template <class J>
const J* member(const J& o, const char* key) {
    if (!o.is_object()) return nullptr;
    auto it = o.find(key);
    return it == o.end() ? nullptr : &*it;
}

}  // namespace

namespace keras_detail {

unsigned h5_child_seconds = 0;

std::string to_snake_case(const std::string& name) {
    // re.sub(r"\W+", "", name): word characters stay (bytes above 127 too: Python's \w is Unicode).
    std::string s;
    for (unsigned char c : name)
        if (std::isalnum(c) || c == '_' || c >= 128) s += char(c);
    auto up = [](char c) { return c >= 'A' && c <= 'Z'; };
    auto low = [](char c) { return c >= 'a' && c <= 'z'; };
    // re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name), left to right, no overlaps.
    std::string t;
    for (size_t i = 0; i < s.size();) {
        if (i + 2 < s.size() && up(s[i + 1]) && low(s[i + 2])) {
            size_t j = i + 3;
            while (j < s.size() && low(s[j])) j++;
            t += s[i];
            t += '_';
            t.append(s, i + 1, j - i - 1);
            i = j;
        } else {
            t += s[i++];
        }
    }
    // re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()
    std::string u;
    for (size_t i = 0; i < t.size();) {
        if (i + 1 < t.size() && low(t[i]) && up(t[i + 1])) {
            u += t[i];
            u += '_';
            u += t[i + 1];
            i += 2;
        } else {
            u += t[i++];
        }
    }
    for (char& c : u)
        if (up(c)) c = char(c - 'A' + 'a');
    return u;
}

namespace {
bool is_model_class(const std::string& c) { return c == "Sequential" || c == "Functional" || c == "Model"; }

void walk(const json& model, const std::string& prefix, const std::string& where, int depth, std::vector<Keras3Path>& out,
          std::vector<std::string>* groups) {
    if (depth > 32) throw DataError(where, "the model nests models too deeply");
    const json* cls = member(model, "class_name");
    const json* cfg = member(model, "config");
    const json* layers = cfg ? member(*cfg, "layers") : nullptr;
    if (!cls || !cls->is_string() || !layers || !layers->is_array())
        throw DataError(where, "the architecture has no class_name and config.layers list");
    // Sequential.layers leaves out the InputLayer its config lists first; a
    // Functional's layers include its InputLayers (keras/src/models/*.py).
    const bool sequential = cls->get<std::string>() == "Sequential";
    std::map<std::string, int> used;  // saving_lib._get_unique_name
    for (size_t i = 0; i < layers->size(); i++) {
        const json& l = (*layers)[i];
        const json* lcls = member(l, "class_name");
        const json* lcfg = member(l, "config");
        const json* lname = lcfg ? member(*lcfg, "name") : nullptr;
        if (!lcls || !lcls->is_string() || !lname || !lname->is_string())
            throw DataError(where, "layer " + std::to_string(i + 1) + " of the architecture has no class_name or name");
        const std::string c = lcls->get<std::string>();
        if (sequential && i == 0 && c == "InputLayer") continue;
        std::string name = to_snake_case(c);
        if (name.empty() || name.size() > 200) throw DataError(where, "layer " + lname->get<std::string>() + ": bad class name");
        auto it = used.find(name);
        if (it == used.end())
            used[name] = 0;
        else
            name += "_" + std::to_string(++it->second);
        const std::string path = prefix + "/" + name;
        if (is_model_class(c)) {
            if (groups) groups->push_back(path);
            walk(l, path + "/layers", where, depth + 1, out, groups);
        } else {
            out.push_back({path, lname->get<std::string>()});
        }
    }
}
}  // namespace

std::vector<Keras3Path> keras3_paths(const std::string& model_config, const std::string& where, std::vector<std::string>* groups) {
    json config = parse_json(model_config, where, "the architecture");
    std::vector<Keras3Path> out;
    walk(config, "layers", where, 0, out, groups);
    return out;
}

KerasFile read_tfjs(const std::string& text, ShardSource& shards, const std::string& where) {
    // Ordered: model_config keeps the file's key order.
    using json = nlohmann::ordered_json;
    json j = parse_json<json>(text, where, "model.json");
    const json* topo = member(j, "modelTopology");
    const json* manifest = member(j, "weightsManifest");
    if (!topo || !topo->is_object()) throw DataError(where, "model.json has no modelTopology object");
    if (!manifest || !manifest->is_array()) throw DataError(where, "model.json has no weightsManifest list");
    KerasFile out;
    out.format = "tfjs";
    // The converter wraps the Keras JSON as {model_config, training_config, ...};
    // tfjs-layers' model.save writes the model's JSON itself.
    const json* mc = member(*topo, "model_config");
    const json& model = mc ? *mc : *topo;
    out.model_config = model.is_string() ? model.get<std::string>() : model.dump();
    const json* tc = member(*topo, "training_config");
    if (!tc) tc = member(j, "trainingConfig");
    if (tc && !tc->is_null()) out.training_config = tc->is_string() ? tc->get<std::string>() : tc->dump();

    std::map<std::string, size_t> layer_at;  // layer name -> index in out.layers
    std::set<std::string> names;
    for (size_t g = 0; g < manifest->size(); g++) {
        const json& group = (*manifest)[g];
        const std::string gw = "weightsManifest group " + std::to_string(g + 1);
        const json* paths = member(group, "paths");
        const json* weights = member(group, "weights");
        if (!paths || !paths->is_array() || !weights || !weights->is_array())
            throw DataError(where, gw + ": no paths and weights lists");
        // What the group's weights need, checked before any shard is read.
        struct Spec {
            std::string name, layer;
            std::vector<int64_t> shape;
            uint64_t count = 0, bytes = 0;
            int kind = 0;  // 0 float32, 1 int32, 2 uint8, 3 uint16, 4 float16
            double scale = 1, min = 0;
            bool to_int = false;  // a quantized int32: Math.round
        };
        std::vector<Spec> specs;
        uint64_t need = 0;
        for (const json& w : *weights) {
            Spec s;
            const json* name = member(w, "name");
            const json* shape = member(w, "shape");
            const json* dtype = member(w, "dtype");
            if (!name || !name->is_string()) throw DataError(where, gw + ": a weight has no name");
            s.name = name->get<std::string>();
            const std::string ww = "weight " + s.name.substr(0, 200);
            if (!names.insert(s.name).second) throw DataError(where, ww + ": listed twice");
            // "<layer>/<weight>", maybe under a model's scope: the layer is the part before the last '/'.
            size_t slash = s.name.rfind('/');
            if (slash == std::string::npos || slash == 0 || slash + 1 == s.name.size())
                throw DataError(where, ww + ": not a <layer>/<weight> name");
            size_t start = s.name.rfind('/', slash - 1);
            s.layer = s.name.substr(start == std::string::npos ? 0 : start + 1, slash - (start == std::string::npos ? 0 : start + 1));
            if (s.layer.empty()) throw DataError(where, ww + ": not a <layer>/<weight> name");
            if (!shape || !shape->is_array() || shape->size() > 8) throw DataError(where, ww + ": no shape list");
            s.count = 1;
            for (const json& d : *shape) {
                if (!d.is_number_integer() || d.get<int64_t>() < 0 || d.get<int64_t>() > (int64_t(1) << 40))
                    throw DataError(where, ww + ": bad shape");
                const uint64_t v = d.get<uint64_t>();
                if (v && s.count > (uint64_t(1) << 40) / v) throw DataError(where, ww + ": absurd shape");
                s.count *= v;
                s.shape.push_back(int64_t(v));
            }
            const std::string dt = dtype && dtype->is_string() ? dtype->get<std::string>() : "";
            if (dt != "float32" && dt != "int32") throw DataError(where, ww + ": dtype \"" + dt.substr(0, 40) + "\" is not float32 or int32");
            s.kind = dt == "int32" ? 1 : 0;
            if (const json* q = member(w, "quantization")) {
                const json* qd = member(*q, "dtype");
                const std::string qt = qd && qd->is_string() ? qd->get<std::string>() : "";
                if (qt == "uint8" || qt == "uint16") {
                    const json* sc = member(*q, "scale");
                    const json* mn = member(*q, "min");
                    if (!sc || !sc->is_number() || !mn || !mn->is_number())
                        throw DataError(where, ww + ": " + qt + " quantization without scale and min");
                    s.scale = sc->get<double>();
                    s.min = mn->get<double>();
                    s.to_int = s.kind == 1;
                    s.kind = qt == "uint8" ? 2 : 3;
                } else if (qt == "float16" && s.kind == 0) {
                    s.kind = 4;
                } else {
                    throw DataError(where, ww + ": quantization \"" + qt.substr(0, 40) + "\" is not uint8, uint16 or float16 (of float32)");
                }
            }
            static const int width[] = {4, 4, 1, 2, 2};
            s.bytes = s.count * uint64_t(width[s.kind]);
            need += s.bytes;
            specs.push_back(std::move(s));
        }
        // The group's shards, concatenated in `paths` order, hold exactly its weights.
        uint64_t have = 0;
        std::vector<std::pair<std::string, uint64_t>> files;
        for (const json& p : *paths) {
            if (!p.is_string()) throw DataError(where, gw + ": a shard path is not a string");
            check_shard_path(p.get<std::string>(), where);
            const uint64_t n = shards.size(p.get<std::string>());
            files.emplace_back(p.get<std::string>(), n);
            have += n;
        }
        if (have != need)
            throw DataError(where, gw + ": the shards hold " + std::to_string(have) + " bytes, the weights need " + std::to_string(need) +
                                       (have < need ? " (a shard missing or truncated?)" : ""));
        // The group's bytes in order, across shard boundaries, straight into the
        // values for float32 (no copy of the whole group).
        size_t file = 0;
        uint64_t file_at = 0;
        auto take = [&](char* to, uint64_t n) {
            while (n) {
                while (file < files.size() && file_at == files[file].second) file++, file_at = 0;
                if (file == files.size()) throw Error(kSoftware, where, "shards ended before the weights");  // sizes were checked
                const uint64_t k = std::min(n, files[file].second - file_at);
                shards.read(files[file].first, file_at, to, k);
                to += k, n -= k, file_at += k;
            }
        };
        std::string tmp;
        for (Spec& s : specs) {
            KerasArray a;
            a.name = s.name;
            a.shape = s.shape;
            a.values.resize(size_t(s.count));
            float* v = a.values.data();
            if (s.kind == 0) {
                take(reinterpret_cast<char*>(v), s.bytes);  // little-endian, as tfjs' typed arrays on every host it runs on
            } else {
                tmp.resize(size_t(s.bytes));
                take(tmp.data(), s.bytes);
            }
            const unsigned char* p = reinterpret_cast<const unsigned char*>(tmp.data());
            switch (s.kind) {
                case 0:
                    break;
                case 1:
                    for (uint64_t i = 0; i < s.count; i++) {
                        int32_t x;
                        std::memcpy(&x, p + 4 * i, 4);
                        v[i] = float(x);
                    }
                    break;
                case 2:
                case 3:
                    // values[i] = v * scale + min: a JS double, stored in a Float32Array
                    // (or Math.round'ed into an Int32Array).
                    for (uint64_t i = 0; i < s.count; i++) {
                        uint32_t q = s.kind == 2 ? p[i] : uint32_t(p[2 * i] | (p[2 * i + 1] << 8));
                        double x = double(q) * s.scale + s.min;
                        v[i] = s.to_int ? float(js_to_int32(std::floor(x + 0.5))) : float(x);
                    }
                    break;
                case 4:
                    for (uint64_t i = 0; i < s.count; i++) v[i] = half_to_float(uint16_t(p[2 * i] | (p[2 * i + 1] << 8)));
                    break;
            }
            auto it = layer_at.find(s.layer);
            if (it == layer_at.end()) {
                it = layer_at.emplace(s.layer, out.layers.size()).first;
                out.layers.push_back({s.layer, {}});
            }
            out.layers[it->second].arrays.push_back(std::move(a));
        }
    }
    return out;
}

std::string zip_member(const std::string& bytes, const char* name, bool required, const std::string& where) {
    zip_error_t err;
    zip_error_init(&err);
    zip_source_t* src = zip_source_buffer_create(bytes.data(), bytes.size(), 0, &err);
    if (!src) throw DataError(where, "not a readable zip");
    zip_t* za = zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &err);
    if (!za) {
        zip_source_free(src);
        std::string m = zip_error_strerror(&err);
        zip_error_fini(&err);
        throw DataError(where, "not a readable zip (" + m + ")");
    }
    struct Close {
        zip_t* z;
        ~Close() { zip_discard(z); }
    } closer{za};
    // The member, whole, no bigger than deflate could make it from this archive.
    {
        zip_stat_t st;
        zip_stat_init(&st);
        if (zip_stat(za, name, 0, &st) != 0) {
            if (required) throw DataError(where, std::string("a .keras file holds ") + name + "; this one has none");
            return "";
        }
        if (!(st.valid & ZIP_STAT_SIZE) || st.size / 1100 > bytes.size() || st.size > (uint64_t(1) << 36))
            throw DataError(where, std::string(name) + ": its size is a lie");
        zip_file_t* f = zip_fopen(za, name, 0);
        if (!f) throw DataError(where, std::string(name) + ": cannot open (" + zip_strerror(za) + ")");
        std::string out(size_t(st.size), '\0');
        zip_int64_t n = out.empty() ? 0 : zip_fread(f, out.data(), out.size());
        // One more byte must not come: the header said how long it is. The CRC is
        // checked when the end is reached.
        char extra;
        zip_int64_t more = zip_fread(f, &extra, 1);
        zip_fclose(f);
        if (n != zip_int64_t(out.size()) || more != 0)
            throw DataError(where, std::string(name) + ": truncated or damaged (" + zip_strerror(za) + ")");
        return out;
    }
}

// The .keras members read_keras_zip and read_keras_file need: config.json
// (checked to be JSON) and model.weights.h5.
std::pair<std::string, std::string> keras_zip_members(const std::string& bytes, const std::string& where) {
    std::string config = zip_member(bytes, "config.json", true, where);
    parse_json(config, where, "config.json");
    std::string weights = zip_member(bytes, "model.weights.h5", false, where);
    if (weights.empty()) {
        if (!zip_member(bytes, "model.weights.npz", false, where).empty())
            throw DataError(where, "model.weights.npz: weights saved as npz are not read; save as .keras with h5 weights");
        throw DataError(where, "a .keras file holds model.weights.h5; this one has none");
    }
    return {std::move(config), std::move(weights)};
}

KerasFile read_keras_zip(const std::string& bytes, const std::string& where) {
    auto [config, weights] = keras_zip_members(bytes, where);
    KerasFile f = read_h5_image(weights.data(), weights.size(), where + ": model.weights.h5", config, true);
    f.format = "keras3";
    f.model_config = config;
    return f;
}

}  // namespace keras_detail

std::string keras_file_kind(const std::string& path) {
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return "";
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof buf);
    close(fd);
    if (n <= 0) return "";
    const std::string head(buf, size_t(n));
    if (head.compare(0, 8, "\x89HDF\r\n\x1a\n") == 0) return "keras2-h5";
    if (head.compare(0, 4, "PK\x03\x04") == 0) return "keras3";
    size_t i = head.find_first_not_of(" \t\r\n");
    if (i != std::string::npos && head[i] == '{' &&
        (head.find("\"weightsManifest\"") != std::string::npos || head.find("\"modelTopology\"") != std::string::npos))
        return "tfjs";
    return "";
}

KerasFile read_keras_file(const std::string& path, const std::string& config_path) {
    using namespace keras_detail;
    const std::string kind = keras_file_kind(path);
    std::string config;
    if (!config_path.empty()) {
        config = slurp(config_path, uint64_t(1) << 30);
        parse_json(config, config_path, "the architecture");
    }
    if (kind == "keras2-h5") {
        struct stat st;
        if (stat(path.c_str(), &st) != 0 || access(path.c_str(), R_OK) != 0) throw NoInputError(path, std::strerror(errno));
        int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) throw NoInputError(path, std::strerror(errno));
        struct Close {
            int fd;
            ~Close() { close(fd); }
        } closer{fd};
        // The child parses; the bulk of the bytes come here with one pread each.
        return isolated(
            path, uint64_t(st.st_size), [&] { return read_h5_deferred(path, nullptr, 0, path, config, false, true); },
            [&](uint64_t at, char* to, uint64_t size) {
                uint64_t done = 0;
                while (done < size) {
                    ssize_t n = pread(fd, to + done, size - done, off_t(at + done));
                    if (n < 0 && errno == EINTR) continue;
                    if (n <= 0) return false;
                    done += uint64_t(n);
                }
                return true;
            });
    }
    if (kind == "keras3") {
        std::string weights;
        {
            const std::string bytes = slurp(path);
            std::tie(config, weights) = keras_zip_members(bytes, path);
        }
        KerasFile f = isolated(
            path, weights.size(),
            [&] { return read_h5_deferred("", weights.data(), weights.size(), path + ": model.weights.h5", config, true, true); },
            [&](uint64_t at, char* to, uint64_t size) {
                if (at > weights.size() || size > weights.size() - at) return false;
                std::memcpy(to, weights.data() + at, size_t(size));
                return true;
            });
        f.format = "keras3";
        f.model_config = config;
        return f;
    }
    if (kind == "tfjs") {
        const std::string text = slurp(path, uint64_t(1) << 30);
        FolderShards shards;
        size_t slash = path.rfind('/');
        shards.dir = slash == std::string::npos ? "" : path.substr(0, slash + 1);
        shards.where = path;
        return read_tfjs(text, shards, path);
    }
    if (access(path.c_str(), R_OK) != 0) throw NoInputError(path, std::strerror(errno));
    throw DataError(path, "not a Keras .h5, .keras or TF.js model.json");
}

}  // namespace imgpipe::nn
