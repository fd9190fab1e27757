// Keras and TF.js model files in (lib/nn/keras_file.hpp): the kind of a path,
// Keras 3's naming walk, the TF.js manifest and shards, the .keras zip, and the
// child process the HDF5 reading runs in. doc/design.md, "Keras files in".
#include "nn/keras_file.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zip.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
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

// ---- deferred arrays: the files they lie in, mapped read-only ----
// A load copies each weight once, from the page cache straight into its
// parameter (transposing on the way where our layout differs): no array of its
// own, no zero-filled memory, no second pass (doc/design.md, "Keras files in").
namespace {
std::atomic<int> live_sources{0};
char shrank_text[1024];
std::atomic<size_t> shrank_size{0};
// A mapped file cut shorter while we read it: SIGBUS at the first page past its
// end. Said as an error, not a crash (the handler runs no destructors).
void on_sigbus(int sig) {
    if (live_sources.load() > 0 && shrank_size.load() > 0) {
        ssize_t n = write(2, shrank_text, shrank_size.load());
        (void)n;
        _exit(kIoErr);
    }
    signal(sig, SIG_DFL);
    raise(sig);
}
}  // namespace

struct KerasSource {
    std::vector<std::pair<void*, size_t>> maps;
    std::string memory;  // an inflated .keras member
    std::vector<pid_t> children;  // the HDF5 readers that answered, still to be reaped

    explicit KerasSource(const std::string& where) {
        static const bool installed = [] {
            struct sigaction sa = {};
            sa.sa_handler = on_sigbus;
            sigemptyset(&sa.sa_mask);
            return sigaction(SIGBUS, &sa, nullptr) == 0;
        }();
        (void)installed;
        // As the tools say an error: "nnpredict: FILE: ..." (glibc's name of the program).
        const std::string text = std::string(program_invocation_short_name) + ": " + where + ": the file shrank while it was read\n";
        shrank_size = 0;
        const size_t n = std::min(text.size(), sizeof shrank_text);
        std::memcpy(shrank_text, text.data(), n);
        shrank_size = n;
        live_sources++;
    }
    ~KerasSource() {
        for (auto& [p, n] : maps) munmap(p, n);
        for (pid_t pid : children)
            while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
            }
        live_sources--;
    }
    KerasSource(const KerasSource&) = delete;
    KerasSource& operator=(const KerasSource&) = delete;

    // The open file's first `size` bytes, mapped read-only, the page tables filled
    // at once (cheaper than a fault a page) unless `populate` is false: then
    // populate() fills them later (while the HDF5 child parses).
    const char* map(int fd, uint64_t size, const std::string& where, bool populate = true) {
        if (size == 0) return "";
        void* p = mmap(nullptr, size_t(size), PROT_READ, MAP_PRIVATE | (populate ? MAP_POPULATE : 0), fd, 0);
        if (p == MAP_FAILED) throw IoError(where, std::string("cannot map the file: ") + std::strerror(errno));
        maps.emplace_back(p, size_t(size));
        return static_cast<const char*>(p);
    }
    static void populate(const char* p, uint64_t size) {
        // MADV_POPULATE_READ (Linux 5.14); where it is not known, the pages fault in as read.
        if (size) (void)madvise(const_cast<char*>(p), size_t(size), 22);
    }
};

uint64_t keras_count(const KerasArray& a) {
    return a.pieces.empty() ? a.values.size() : (a.pieces.back().offset + a.pieces.back().size) / 4;
}

const char* keras_span(const KerasArray& a, uint64_t first, uint64_t n, std::vector<char>& buffer) {
    if (a.pieces.empty()) return reinterpret_cast<const char*>(a.values.data() + first);
    uint64_t at = first * 4, left = n * 4;
    // The piece the span starts in: the last that starts at or before it.
    auto it = std::upper_bound(a.pieces.begin(), a.pieces.end(), at,
                               [](uint64_t x, const KerasArray::Piece& p) { return x < p.offset; });
    if (it == a.pieces.begin()) throw Error(kSoftware, a.name, "no piece holds the span");
    --it;
    at -= it->offset;
    if (left <= it->size - at) return it->bytes + at;
    buffer.resize(size_t(n * 4));  // across pieces (a TF.js weight across shards)
    for (char* to = buffer.data(); left; ++it, at = 0) {
        if (it == a.pieces.end() || at > it->size) throw Error(kSoftware, a.name, "read past the array's end");
        const uint64_t k = std::min(left, it->size - at);
        std::memcpy(to, it->bytes + at, size_t(k));
        to += k, left -= k;
    }
    return buffer.data();
}

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
    put_str(fd, f.keras_version);
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

// A deferred array's bytes, for the parent to place.
struct Deferred {
    KerasArray* array;
    uint64_t at;
};
bool receive_file(PipeIn& in, KerasFile& f, std::vector<Deferred>& deferred) {
    uint64_t nl;
    if (!in.str(f.format) || !in.str(f.model_config) || !in.str(f.training_config) || !in.str(f.keras_version) ||
        !in.u64(nl) || nl > (1u << 24))
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

// Runs `read` in a child; each array it defers (its float32 bytes at `at` in
// the file or image, `size` of them) is then placed here by `place`, which
// returns false when the bytes are not all there. `reap` given: a child that
// answered is left to exit on its own, its pid added there. `meanwhile` runs
// here while the child reads.
KerasFile isolated(const std::string& where, uint64_t file_bytes, const std::function<keras_detail::H5Read()>& read,
                   const std::function<bool(uint64_t at, uint64_t size, KerasArray& a)>& place,
                   std::vector<pid_t>* reap, const std::function<void()>& meanwhile) {
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
    meanwhile();
    PipeIn in{fds[0]};
    KerasFile f;
    std::vector<Deferred> deferred;
    uint64_t tag = 2, status = 0;
    std::string ewhere, emsg;
    bool ok = in.u64(tag) && (tag == 0 ? receive_file(in, f, deferred) : tag == 1 && in.u64(status) && in.str(ewhere) && in.str(emsg));
    if (!ok) kill(pid, SIGKILL);  // a child that sent garbage may still be writing
    close(fds[0]);
    int ws = 0;
    // A whole answer is all we need: its exit (the unmapping of a copy of this
    // process: milliseconds) is waited for later, by `reap`'s owner.
    if (ok && tag == 0 && reap) {
        reap->push_back(pid);
    } else {
        while (waitpid(pid, &ws, 0) < 0 && errno == EINTR) {
        }
    }
    if (!ok || (!(tag == 0 && reap) && (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0))) {
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
        if (!place(d.at, n * 4, *d.array))
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
    // The shard mapped whole, once; it must still be the size the manifest was checked against.
    const char* map(const std::string& path) override {
        auto it = mapped.find(path);
        if (it != mapped.end()) return it->second;
        int f = open((dir + path).c_str(), O_RDONLY | O_CLOEXEC);
        if (f < 0) throw NoInputError(where, "shard " + path + ": " + std::strerror(errno));
        struct stat st;
        const char* p = nullptr;
        try {
            if (fstat(f, &st) != 0 || !S_ISREG(st.st_mode) || uint64_t(st.st_size) != size(path))
                throw DataError(where, "shard " + path + ": changed while it was read");
            p = deferred->map(f, uint64_t(st.st_size), where);
        } catch (...) {
            close(f);
            throw;
        }
        close(f);
        return mapped[path] = p;
    }
    ~FolderShards() override {
        if (fd >= 0) close(fd);
    }
    std::string open_path;
    int fd = -1;
    std::map<std::string, const char*> mapped;
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
        name = keras3_unique_name(name, used);
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
    out.keras_version = "tfjs-layers";
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
        // Deferred: where a float32 weight's bytes lie, across shard boundaries.
        auto defer = [&](KerasArray& a, uint64_t n) {
            a.source = shards.deferred;
            while (n) {
                while (file < files.size() && file_at == files[file].second) file++, file_at = 0;
                if (file == files.size()) throw Error(kSoftware, where, "shards ended before the weights");
                const uint64_t k = std::min(n, files[file].second - file_at);
                a.pieces.push_back({shards.map(files[file].first) + file_at, k, a.pieces.empty() ? 0 : a.pieces.back().offset + a.pieces.back().size});
                n -= k, file_at += k;
            }
        };
        std::string tmp;
        for (Spec& s : specs) {
            KerasArray a;
            a.name = s.name;
            a.shape = s.shape;
            if (s.kind == 0 && shards.deferred) {
                defer(a, s.bytes);  // little-endian, as tfjs' typed arrays on every host it runs on
                s.kind = -1;
            } else {
                a.values.resize(size_t(s.count));
            }
            float* v = a.values.data();
            if (s.kind == 0) {
                take(reinterpret_cast<char*>(v), s.bytes);  // little-endian, as tfjs' typed arrays on every host it runs on
            } else if (s.kind > 0) {
                tmp.resize(size_t(s.bytes));
                take(tmp.data(), s.bytes);
            }
            const unsigned char* p = reinterpret_cast<const unsigned char*>(tmp.data());
            switch (s.kind) {
                case -1:
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

namespace {

// A zip in memory (a string, or a file mapped), opened with libzip's checks.
struct Zip {
    zip_t* z = nullptr;
    uint64_t size;
    Zip(const char* bytes, uint64_t n, const std::string& where) : size(n) {
        zip_error_t err;
        zip_error_init(&err);
        zip_source_t* src = zip_source_buffer_create(bytes, n, 0, &err);
        if (!src) throw DataError(where, "not a readable zip");
        z = zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &err);
        if (!z) {
            zip_source_free(src);
            std::string m = zip_error_strerror(&err);
            zip_error_fini(&err);
            throw DataError(where, "not a readable zip (" + m + ")");
        }
    }
    ~Zip() { zip_discard(z); }
    Zip(const Zip&) = delete;
    Zip& operator=(const Zip&) = delete;

    // The member, whole (inflated, CRC checked), no bigger than deflate could
    // make it from this archive, or "" when it is not there and not `required`.
    std::string member(const char* name, bool required, const std::string& where) {
        zip_stat_t st;
        zip_stat_init(&st);
        if (zip_stat(z, name, 0, &st) != 0) {
            if (required) throw DataError(where, std::string("a .keras file holds ") + name + "; this one has none");
            return "";
        }
        if (!(st.valid & ZIP_STAT_SIZE) || st.size / 1100 > size || st.size > (uint64_t(1) << 36))
            throw DataError(where, std::string(name) + ": its size is a lie");
        zip_file_t* f = zip_fopen(z, name, 0);
        if (!f) throw DataError(where, std::string(name) + ": cannot open (" + zip_strerror(z) + ")");
        std::string out(size_t(st.size), '\0');
        zip_int64_t n = out.empty() ? 0 : zip_fread(f, out.data(), out.size());
        // One more byte must not come: the header said how long it is. The CRC is
        // checked when the end is reached.
        char extra;
        zip_int64_t more = zip_fread(f, &extra, 1);
        zip_fclose(f);
        if (n != zip_int64_t(out.size()) || more != 0)
            throw DataError(where, std::string(name) + ": truncated or damaged (" + zip_strerror(z) + ")");
        return out;
    }
};

uint64_t le(const char* p, int bytes) {
    uint64_t v = 0;
    for (int i = bytes; i-- > 0;) v = v << 8 | uint8_t(p[i]);
    return v;
}

// Where a stored (not deflated, not encrypted) member's bytes begin in the zip
// `z` of `n` bytes, or -1: libzip has no call for it, so the central directory
// (zip64 too) and the local header are read here, and the entry must agree with
// what libzip found (method, sizes, CRC). What Keras writes (zipfile, stored).
int64_t stored_at(const char* z, uint64_t n, Zip& zip, const char* name) {
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_stat(zip.z, name, 0, &st) != 0 || !(st.valid & ZIP_STAT_COMP_METHOD) || st.comp_method != ZIP_CM_STORE ||
        !(st.valid & ZIP_STAT_SIZE) || !(st.valid & ZIP_STAT_COMP_SIZE) || st.size != st.comp_size || !(st.valid & ZIP_STAT_CRC) ||
        ((st.valid & ZIP_STAT_ENCRYPTION_METHOD) && st.encryption_method != ZIP_EM_NONE))
        return -1;
    // The end of central directory record: the last "PK\5\6" in the final 64 KB + 22 bytes.
    if (n < 22) return -1;
    int64_t eocd = -1;
    for (uint64_t i = n - 22 + 1; i-- > 0 && n - i <= 65557;)
        if (std::memcmp(z + i, "PK\5\6", 4) == 0) {
            eocd = int64_t(i);
            break;
        }
    if (eocd < 0) return -1;
    const char* e = z + eocd;
    uint64_t entries = le(e + 10, 2), cd_size = le(e + 12, 4), cd_at = le(e + 16, 4);
    if ((entries == 0xffff || cd_size == 0xffffffff || cd_at == 0xffffffff) && eocd >= 20 &&
        std::memcmp(e - 20, "PK\6\7", 4) == 0) {
        const uint64_t z64 = le(e - 20 + 8, 8);
        if (z64 > n || n - z64 < 56 || std::memcmp(z + z64, "PK\6\6", 4) != 0) return -1;
        entries = le(z + z64 + 32, 8), cd_size = le(z + z64 + 40, 8), cd_at = le(z + z64 + 48, 8);
    }
    if (cd_at > n || cd_size > n - cd_at) return -1;
    const size_t name_len = std::strlen(name);
    for (uint64_t at = cd_at, k = 0; k < entries && at + 46 <= cd_at + cd_size; k++) {
        const char* c = z + at;
        if (std::memcmp(c, "PK\1\2", 4) != 0) return -1;
        const uint64_t nl = le(c + 28, 2), xl = le(c + 30, 2), cl = le(c + 32, 2);
        if (at + 46 + nl + xl + cl > cd_at + cd_size) return -1;
        if (nl == name_len && std::memcmp(c + 46, name, nl) == 0) {
            uint64_t usize = le(c + 24, 4), csize = le(c + 20, 4), local = le(c + 42, 4);
            // Zip64: the fields that read 0xffffffff follow in its extra field, in this order.
            for (const char* x = c + 46 + nl; x + 4 <= c + 46 + nl + xl;) {
                const uint64_t id = le(x, 2), len = le(x + 2, 2);
                const char* v = x + 4;
                if (v + len > c + 46 + nl + xl) return -1;
                if (id == 1) {
                    const char* end = v + len;
                    for (uint64_t* f : {&usize, &csize, &local})
                        if (*f == 0xffffffff) {
                            if (v + 8 > end) return -1;
                            *f = le(v, 8), v += 8;
                        }
                }
                x += 4 + len;
            }
            if (le(c + 10, 2) != 0 || (le(c + 8, 2) & 1) || usize != st.size || csize != st.size || le(c + 16, 4) != st.crc)
                return -1;
            if (local > n || n - local < 30 || std::memcmp(z + local, "PK\3\4", 4) != 0) return -1;
            const char* l = z + local;
            const uint64_t lnl = le(l + 26, 2), lxl = le(l + 28, 2);
            const uint64_t data = local + 30 + lnl + lxl;
            if (lnl != name_len || data > n || std::memcmp(l + 30, name, lnl) != 0 || st.size > n - data) return -1;
            return int64_t(data);
        }
        at += 46 + nl + xl + cl;
    }
    return -1;
}

// The .keras members read_keras_zip and read_keras_file need: config.json
// (checked to be JSON) and model.weights.h5 (or where it lies, `stored`: its
// bytes are then left in the zip and `weights` is empty).
std::string keras_zip_members(Zip& zip, const std::string& where, std::string& weights, int64_t* stored,
                              const char* bytes) {
    std::string config = zip.member("config.json", true, where);
    parse_json(config, where, "config.json");
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_stat(zip.z, "model.weights.h5", 0, &st) == 0 && stored && (*stored = stored_at(bytes, zip.size, zip, "model.weights.h5")) >= 0)
        return config;
    weights = zip.member("model.weights.h5", false, where);
    if (weights.empty()) {
        if (!zip.member("model.weights.npz", false, where).empty())
            throw DataError(where, "model.weights.npz: weights saved as npz are not read; save as .keras with h5 weights");
        throw DataError(where, "a .keras file holds model.weights.h5; this one has none");
    }
    return config;
}

}  // namespace

std::string zip_member(const std::string& bytes, const char* name, bool required, const std::string& where) {
    Zip zip(bytes.data(), bytes.size(), where);
    return zip.member(name, required, where);
}

KerasFile read_keras_zip(const std::string& bytes, const std::string& where) {
    Zip zip(bytes.data(), bytes.size(), where);
    std::string weights;
    int64_t stored = -1;
    std::string config = keras_zip_members(zip, where, weights, &stored, bytes.data());
    zip_stat_t st;
    zip_stat_init(&st);
    const char* image = weights.data();
    size_t size = weights.size();
    if (stored >= 0 && zip_stat(zip.z, "model.weights.h5", 0, &st) == 0) image = bytes.data() + stored, size = size_t(st.size);
    KerasFile f = read_h5_image(image, size, where + ": model.weights.h5", config, true);
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
    if (i == std::string::npos || head[i] != '{') return "";
    auto has = [&](const char* key) { return head.find(key) != std::string::npos; };
    if (has("\"weightsManifest\"") || has("\"modelTopology\"")) return "tfjs";
    return has("\"layers\"") || has("\"class_name\"") ? "spec" : "";
}

namespace {

// An open file descriptor, closed on scope exit.
struct Fd {
    int fd;
    ~Fd() {
        if (fd >= 0) close(fd);
    }
};

// The file opened and its size, or NoInputError.
uint64_t open_regular(const std::string& path, Fd& fd) {
    fd.fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd.fd < 0) throw NoInputError(path, std::strerror(errno));
    struct stat st;
    if (fstat(fd.fd, &st) != 0 || !S_ISREG(st.st_mode) || uint64_t(st.st_size) > (uint64_t(1) << 40))
        throw DataError(path, "not a regular file of a readable size");
    return uint64_t(st.st_size);
}

// A deferred array's bytes, `size` of them at `at` in `base` (`have` bytes).
bool place_in(const char* base, uint64_t have, const std::shared_ptr<KerasSource>& source, uint64_t at, uint64_t size,
              KerasArray& a) {
    if (at > have || size > have - at) return false;
    a.pieces.assign(1, {base + at, size, 0});
    a.source = source;
    return true;
}

// Every deferred array read into its values (read_keras_file without `defer`).
void read_all(KerasFile& f) {
    std::vector<char> buffer;
    for (KerasLayerWeights& l : f.layers)
        for (KerasArray& a : l.arrays) {
            if (a.pieces.empty()) continue;
            const uint64_t n = keras_count(a);
            a.values.resize(size_t(n));
            std::memcpy(a.values.data(), keras_span(a, 0, n, buffer), size_t(n * 4));
            a.pieces.clear();
            a.source.reset();
        }
}

}  // namespace

KerasFile read_keras_file(const std::string& path, const std::string& config_path, bool defer) {
    using namespace keras_detail;
    const std::string kind = keras_file_kind(path);
    std::string config;
    if (!config_path.empty()) {
        config = slurp(config_path, uint64_t(1) << 30);
        parse_json(config, config_path, "the architecture");
    }
    KerasFile f;
    if (kind == "keras2-h5") {
        Fd fd{-1};
        const uint64_t size = open_regular(path, fd);
        // The file mapped once: the child parses it there (its own copy-on-write
        // view), and the bulk of the bytes stay in it for the loader.
        auto source = std::make_shared<KerasSource>(path);
        const char* base = source->map(fd.fd, size, path, false);
        f = isolated(
            path, size,
            [&] {
                mprotect(const_cast<char*>(base), size_t(size), PROT_READ | PROT_WRITE);
                return read_h5_deferred("", base, size_t(size), path, config, false, true);
            },
            [&](uint64_t at, uint64_t n, KerasArray& a) { return place_in(base, size, source, at, n, a); }, &source->children,
            [&] { KerasSource::populate(base, size); });
    } else if (kind == "keras3") {
        Fd fd{-1};
        const uint64_t size = open_regular(path, fd);
        auto source = std::make_shared<KerasSource>(path);
        const char* zip_bytes = source->map(fd.fd, size, path, false);
        Zip zip(zip_bytes, size, path);
        std::string weights;
        int64_t stored = -1;
        config = keras_zip_members(zip, path, weights, &stored, zip_bytes);
        // Keras writes the weights stored: the HDF5 image is a byte range of the
        // file, read in place; a deflated one is inflated first.
        const char* image;
        uint64_t image_size;
        if (stored >= 0) {
            zip_stat_t st;
            zip_stat_init(&st);
            zip_stat(zip.z, "model.weights.h5", 0, &st);
            image = zip_bytes + stored, image_size = st.size;
        } else {
            source->memory = std::move(weights);
            image = source->memory.data(), image_size = source->memory.size();
        }
        f = isolated(
            path, image_size,
            [&] {
                // The image is our read-only mapping: libhdf5 gets a copy-on-write view of it.
                if (stored >= 0) mprotect(const_cast<char*>(zip_bytes), size_t(size), PROT_READ | PROT_WRITE);
                return read_h5_deferred("", image, size_t(image_size), path + ": model.weights.h5", config, true, true);
            },
            [&](uint64_t at, uint64_t n, KerasArray& a) { return place_in(image, image_size, source, at, n, a); },
            &source->children, [&] { KerasSource::populate(zip_bytes, size); });
        f.format = "keras3";
        f.model_config = config;
    } else if (kind == "tfjs") {
        const std::string text = slurp(path, uint64_t(1) << 30);
        FolderShards shards;
        size_t slash = path.rfind('/');
        shards.dir = slash == std::string::npos ? "" : path.substr(0, slash + 1);
        shards.where = path;
        shards.deferred = std::make_shared<KerasSource>(path);
        f = read_tfjs(text, shards, path);
    } else if (kind == "spec") {
        throw DataError(path, "a model's JSON, its architecture alone, not a trained model: train it (nntrain --model " +
                                  path + " -o MODEL) or give its weights (--model " + path + " --weights FILE)");
    } else {
        if (access(path.c_str(), R_OK) != 0) throw NoInputError(path, std::strerror(errno));
        throw DataError(path, "not a Keras .h5, .keras or TF.js model.json");
    }
    if (!defer) read_all(f);
    return f;
}

}  // namespace imgpipe::nn
