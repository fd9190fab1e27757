// Keras and TF.js model files in (lib/nn/keras_file): the three trained models
// under ../shared/reference/keras-models/weights checked against the tfjs dump of
// their weights, Keras 3 / weights-only / split / nested / quantized files written
// by tests/unit/keras_fixtures.py as Keras' own source lays them out, and hostile
// variants of each refused by name with exit status 65.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "cli/error.hpp"
#include "nn/keras_file.hpp"

using namespace imgpipe;
using namespace imgpipe::nn;

namespace {

const std::string kRef = "../shared/reference/keras-models/weights/";

// The fixtures, written once per run into a temporary folder.
const std::string& fixtures() {
    static const std::string dir = [] {
        char tmpl[] = "/tmp/imgpipe-keras-XXXXXX";
        REQUIRE(mkdtemp(tmpl) != nullptr);
        const std::string d = tmpl;
        const std::string cmd = "/usr/bin/python3 tests/unit/keras_fixtures.py " + d;
        REQUIRE(std::system(cmd.c_str()) == 0);
        return d + "/";
    }();
    static const struct Remove {
        ~Remove() { std::system(("rm -rf " + dir).c_str()); }
    } remove;
    return dir;
}

// "<layer>/<weight>" (the tfjs dump's names) -> array; a Keras 2 name's own
// prefix is not trusted (fer's conv2d_1 lists conv2d_1_1/kernel:0).
std::map<std::string, const KerasArray*> by_name(const KerasFile& f) {
    std::map<std::string, const KerasArray*> out;
    for (const KerasLayerWeights& l : f.layers)
        for (const KerasArray& a : l.arrays) {
            std::string w = a.name.substr(a.name.rfind('/') + 1);
            if (w.size() > 2 && w.compare(w.size() - 2, 2, ":0") == 0) w.resize(w.size() - 2);
            std::string key = l.layer + "/" + w;
            REQUIRE(out.count(key) == 0);
            out[key] = &a;
        }
    return out;
}

// Every line of weights_first3.txt (name, [shape], dtype, first 3 values) matches.
void check_first3(const KerasFile& f, const std::string& dump) {
    auto arrays = by_name(f);
    std::ifstream in(dump);
    REQUIRE(in);
    std::string line;
    size_t lines = 0;
    while (std::getline(in, line)) {
        lines++;
        std::istringstream ls(line);
        std::string name, shape, dtype;
        std::getline(ls, name, '\t');
        std::getline(ls, shape, '\t');
        std::getline(ls, dtype, '\t');
        INFO(name);
        REQUIRE(arrays.count(name) == 1);
        const KerasArray& a = *arrays[name];
        std::string got = "[";
        for (size_t i = 0; i < a.shape.size(); i++) got += (i ? ", " : "") + std::to_string(a.shape[i]);
        CHECK(got + "]" == shape);
        for (int i = 0; i < 3 && size_t(i) < a.values.size(); i++) {
            std::string v;
            ls >> v;
            CHECK(a.values[size_t(i)] == std::strtof(v.c_str(), nullptr));
        }
    }
    CHECK(lines == arrays.size());
}

const KerasLayerWeights& layer(const KerasFile& f, const std::string& name) {
    for (const KerasLayerWeights& l : f.layers)
        if (l.layer == name) return l;
    FAIL("no layer " << name);
    throw 0;
}

std::vector<std::string> layer_names(const KerasFile& f) {
    std::vector<std::string> out;
    for (const KerasLayerWeights& l : f.layers) out.push_back(l.layer);
    return out;
}

// keras_fixtures.py's values: arange / 8 + start.
void check_values(const KerasArray& a, std::vector<int64_t> shape, float start) {
    INFO(a.name);
    CHECK(a.shape == shape);
    size_t n = 1;
    for (int64_t d : shape) n *= size_t(d);
    REQUIRE(a.values.size() == n);
    for (size_t i = 0; i < n; i++) REQUIRE(a.values[i] == float(i) / 8 + start);
}

// Refused by a DataError (65) that names the file and says `what`.
void refused(const std::string& path, const std::string& what, const std::string& config = "", int status = kDataErr) {
    INFO(path);
    try {
        read_keras_file(path, config);
        FAIL("read " << path);
    } catch (const Error& e) {
        INFO(e.what());
        CHECK(e.status() == status);
        CHECK(e.where().find(path) == 0);
        CHECK(std::string(e.what()).find(what) != std::string::npos);
    }
}

std::string copy_prefix(const std::string& from, size_t bytes, const std::string& name) {
    std::ifstream in(from, std::ios::binary);
    std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const std::string to = fixtures() + name;
    std::ofstream(to, std::ios::binary).write(all.data(), std::streamsize(std::min(bytes, all.size())));
    return to;
}

// Every array of a file read with `defer` holds the values it holds read whole:
// the float32 ones left in the file (`pieces`), read back in spans of any size.
void check_deferred(const std::string& path, size_t min_pieces = 1) {
    INFO(path);
    const KerasFile whole = read_keras_file(path);
    const KerasFile deferred = read_keras_file(path, "", true);
    REQUIRE(deferred.layers.size() == whole.layers.size());
    size_t left = 0, most_pieces = 0;
    std::vector<char> buffer;
    for (size_t l = 0; l < whole.layers.size(); l++) {
        REQUIRE(deferred.layers[l].arrays.size() == whole.layers[l].arrays.size());
        for (size_t i = 0; i < whole.layers[l].arrays.size(); i++) {
            const KerasArray& w = whole.layers[l].arrays[i];
            const KerasArray& d = deferred.layers[l].arrays[i];
            INFO(d.name);
            CHECK(w.pieces.empty());
            CHECK(d.name == w.name);
            CHECK(d.shape == w.shape);
            REQUIRE(keras_count(d) == w.values.size());
            if (!d.pieces.empty()) {
                left++;
                CHECK(d.values.empty());
            }
            most_pieces = std::max(most_pieces, d.pieces.size());
            const uint64_t n = keras_count(d);
            REQUIRE(std::memcmp(keras_span(d, 0, n, buffer), w.values.data(), n * 4) == 0);
            for (uint64_t first = 0, k = 1; first < n; first += k, k = k * 2 + 1) {
                const uint64_t m = std::min(k, n - first);
                REQUIRE(std::memcmp(keras_span(d, first, m, buffer), w.values.data() + first, m * 4) == 0);
            }
        }
    }
    CHECK(left > 0);
    CHECK(most_pieces >= min_pieces);
}

// Does `p` lie in a mapping of the file `path` (/proc/self/maps)?
bool in_mapping_of(const void* p, const std::string& path) {
    char real[4096];
    REQUIRE(realpath(path.c_str(), real) != nullptr);
    std::ifstream maps("/proc/self/maps");
    std::string line;
    while (std::getline(maps, line)) {
        if (line.size() < std::strlen(real) || line.compare(line.size() - std::strlen(real), std::string::npos, real) != 0) continue;
        unsigned long from = 0, to = 0;
        if (std::sscanf(line.c_str(), "%lx-%lx", &from, &to) == 2 && uintptr_t(p) >= from && uintptr_t(p) < to) return true;
    }
    return false;
}

// A shell command's success.
void sh(const std::string& cmd) {
    INFO(cmd);
    REQUIRE(std::system(cmd.c_str()) == 0);
}

}  // namespace

TEST_CASE("keras file: float32 arrays left in the file (defer) hold what a whole read gives", "[keras]") {
    SECTION("Keras 2 .h5") {
        check_deferred(kRef + "signlang_cnn/sign_lang_model.h5");
        const KerasFile f = read_keras_file(kRef + "signlang_cnn/sign_lang_model.h5", "", true);
        CHECK(in_mapping_of(f.layers[0].arrays[0].pieces.at(0).bytes, kRef + "signlang_cnn/sign_lang_model.h5"));
    }
    SECTION("Keras 3 .keras, deflated: inflated first") { check_deferred(fixtures() + "k3_seq.keras"); }
    SECTION("Keras 3 .keras, stored (as Keras writes it): read in place") {
        // The same members stored, behind a member with an extra field and a
        // comment, so that the weights' bytes start at no round offset.
        const std::string to = fixtures() + "k3_stored.keras";
        sh("/usr/bin/python3 -c 'import sys, zipfile\n"
           "src = zipfile.ZipFile(sys.argv[1])\n"
           "with zipfile.ZipFile(sys.argv[2], \"w\", zipfile.ZIP_STORED) as z:\n"
           "    i = zipfile.ZipInfo(\"notes.txt\"); i.extra = b\"\\x99\\x99\\x03\\x00abc\"; i.comment = b\"hello\"\n"
           "    z.writestr(i, \"x\" * 13)\n"
           "    for n in src.namelist(): z.writestr(n, src.read(n))' " + fixtures() + "k3_seq.keras " + to);
        check_deferred(to);
        const KerasFile f = read_keras_file(to, "", true);
        CHECK(f.format == "keras3");
        CHECK(in_mapping_of(f.layers[0].arrays[0].pieces.at(0).bytes, to));
        // Deflated, the bytes are in memory.
        const KerasFile deflated = read_keras_file(fixtures() + "k3_seq.keras", "", true);
        CHECK(!in_mapping_of(deflated.layers[0].arrays[0].pieces.at(0).bytes, fixtures() + "k3_seq.keras"));
        check_values(layer(read_keras_file(to), "c1").arrays[0], {3, 3, 1, 2}, 0);
    }
    SECTION("TF.js, one shard and a weight across three") {
        check_deferred(kRef + "signlang_cnn/model.json");
        // signlang's shard cut in three at odd places: values split between shards.
        const std::string d = fixtures() + "tfjs_split/";
        sh("mkdir -p " + d + " && /usr/bin/python3 -c 'import json, sys\n"
           "src, d = sys.argv[1], sys.argv[2]\n"
           "m = json.load(open(src + \"model.json\"))\n"
           "data = open(src + \"group1-shard1of1.bin\", \"rb\").read()\n"
           "cuts = [0, 1001, 50003, len(data)]\n"
           "for i in range(3): open(d + \"s%d.bin\" % i, \"wb\").write(data[cuts[i]:cuts[i + 1]])\n"
           "m[\"weightsManifest\"][0][\"paths\"] = [\"s0.bin\", \"s1.bin\", \"s2.bin\"]\n"
           "json.dump(m, open(d + \"model.json\", \"w\"))' " + kRef + "signlang_cnn/ " + d);
        check_deferred(d + "model.json", 2);
    }
}

TEST_CASE("keras file: a file cut short while its arrays are read ends the process with 74, said", "[keras]") {
    const std::string path = copy_prefix(kRef + "signlang_cnn/sign_lang_model.h5", size_t(1) << 30, "shrinking.h5");
    const std::string err = fixtures() + "shrinking.err";
    fflush(nullptr);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        int fd = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, 2);
        float sum = 0;
        try {
            const KerasFile f = read_keras_file(path, "", true);
            if (truncate(path.c_str(), 0) != 0) _exit(2);
            std::vector<char> buffer;
            for (const KerasLayerWeights& l : f.layers)
                for (const KerasArray& a : l.arrays) {
                    const uint64_t n = keras_count(a);
                    const char* p = keras_span(a, 0, n, buffer);
                    for (uint64_t i = 0; i < n; i++) {
                        float v;
                        std::memcpy(&v, p + i * 4, 4);
                        sum += v;
                    }
                }
        } catch (...) {
            _exit(3);
        }
        _exit(sum == 12345 ? 4 : 5);  // not reached: the bytes are gone
    }
    int ws = 0;
    REQUIRE(waitpid(pid, &ws, 0) == pid);
    REQUIRE(WIFEXITED(ws));
    CHECK(WEXITSTATUS(ws) == kIoErr);
    std::ifstream in(err);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    CHECK(text == std::string(program_invocation_short_name) + ": " + path + ": the file shrank while it was read\n");
}

TEST_CASE("keras file: the kind of a path, by its first bytes", "[keras]") {
    CHECK(keras_file_kind(kRef + "signlang_cnn/sign_lang_model.h5") == "keras2-h5");
    CHECK(keras_file_kind(kRef + "signlang_cnn/model.json") == "tfjs");
    CHECK(keras_file_kind(kRef + "tm_mobilenetv2/model.json") == "tfjs");
    CHECK(keras_file_kind(fixtures() + "k3_seq.keras") == "keras3");
    CHECK(keras_file_kind(fixtures() + "k3_seq.weights.h5") == "keras2-h5");
    CHECK(keras_file_kind(fixtures() + "k3_seq.json") == "spec");
    CHECK(keras_file_kind(kRef + "tm_mobilenetv2/metadata.json") == "");
    CHECK(keras_file_kind("/nonexistent") == "");
    refused(fixtures() + "k3_seq.json", "a model's JSON, its architecture alone, not a trained model: train it (nntrain --model ");
    refused(kRef + "tm_mobilenetv2/metadata.json", "not a Keras .h5, .keras or TF.js model.json");
    CHECK_THROWS_AS(read_keras_file("/nonexistent/model.h5"), NoInputError);
}

TEST_CASE("keras file: the reference models' weights, from every format", "[keras]") {
    SECTION("signlang_cnn: Keras 2.6 .h5 and its TF.js conversion") {
        KerasFile h5 = read_keras_file(kRef + "signlang_cnn/sign_lang_model.h5");
        CHECK(h5.format == "keras2-h5");
        CHECK(h5.model_config.find("\"class_name\": \"Sequential\"") != std::string::npos);
        CHECK(h5.training_config.find("categorical_crossentropy") != std::string::npos);
        CHECK(layer_names(h5) == std::vector<std::string>{"conv2d_1", "conv2d_2", "conv2d_3", "conv2d_4", "dense_1", "dense_2", "out_layer"});
        CHECK(layer(h5, "conv2d_1").arrays[0].name == "conv2d_1/kernel:0");
        check_first3(h5, kRef + "signlang_cnn/weights_first3.txt");
        KerasFile js = read_keras_file(kRef + "signlang_cnn/model.json");
        CHECK(js.format == "tfjs");
        CHECK(js.model_config.find("\"class_name\":\"Sequential\"") != std::string::npos);
        CHECK(js.training_config.find("categorical_crossentropy") != std::string::npos);
        check_first3(js, kRef + "signlang_cnn/weights_first3.txt");
        // The same model: every value equal.
        for (size_t l = 0; l < h5.layers.size(); l++)
            for (size_t a = 0; a < h5.layers[l].arrays.size(); a++)
                REQUIRE(h5.layers[l].arrays[a].values == js.layers[l].arrays[a].values);
    }
    SECTION("tm_mobilenetv2: tfjs-layers 1.3.1 model.save, nested models, BN statistics last") {
        KerasFile js = read_keras_file(kRef + "tm_mobilenetv2/model.json");
        CHECK(js.format == "tfjs");
        // modelTopology itself, its keys in the file's order.
        CHECK(js.model_config.rfind("{\"class_name\":\"Sequential\",\"config\":", 0) == 0);
        CHECK(js.model_config.find("\"backend\":\"tensor_flow.js\"") != std::string::npos);
        CHECK(js.training_config == "");
        check_first3(js, kRef + "tm_mobilenetv2/weights_first3.txt");
        const KerasLayerWeights& bn = layer(js, "bn_Conv1");
        REQUIRE(bn.arrays.size() == 4);
        CHECK(bn.arrays[0].name == "bn_Conv1/gamma");
        CHECK(bn.arrays[3].name == "bn_Conv1/moving_variance");
    }
    SECTION("fer_mini_xception: Keras 2.0.5 .hdf5 (weight names conv2d_1_1/...) and derived TF.js") {
        KerasFile h5 = read_keras_file(kRef + "fer_mini_xception/fer2013_mini_XCEPTION.102-0.66.hdf5");
        CHECK(h5.format == "keras2-h5");
        CHECK(layer(h5, "conv2d_1").arrays[0].name == "conv2d_1_1/kernel:0");
        check_first3(h5, kRef + "fer_mini_xception/weights_first3.txt");
        KerasFile js = read_keras_file(kRef + "fer_mini_xception/derived_tfjs/model.json");
        check_first3(js, kRef + "fer_mini_xception/weights_first3.txt");
    }
}

TEST_CASE("keras file: Keras 3 .keras and .weights.h5, named by the saving walk", "[keras]") {
    SECTION("Sequential: the InputLayer is not counted; conv2d, conv2d_1 by class, not by name") {
        KerasFile f = read_keras_file(fixtures() + "k3_seq.keras");
        CHECK(f.format == "keras3");
        CHECK(f.model_config.find("compile_config") != std::string::npos);
        CHECK(f.training_config == "");
        REQUIRE(layer_names(f) == std::vector<std::string>{"c1", "bn", "c2", "out"});
        check_values(f.layers[0].arrays[0], {3, 3, 1, 2}, 0);
        CHECK(f.layers[0].arrays[0].name == "vars/0");
        check_values(f.layers[0].arrays[1], {2}, 100);
        REQUIRE(f.layers[1].arrays.size() == 4);
        check_values(f.layers[1].arrays[3], {2}, 500);  // moving_variance: vars/3
        check_values(f.layers[2].arrays[0], {1, 1, 2, 3}, 600);
        check_values(f.layers[3].arrays[1], {2}, 900);
    }
    SECTION("Functional with a nested Sequential: input_layer counted, layers/sequential/layers/dense_1") {
        KerasFile f = read_keras_file(fixtures() + "k3_fun.keras");
        REQUIRE(layer_names(f) == std::vector<std::string>{"a", "b", "head"});
        check_values(f.layers[0].arrays[0], {3, 4}, 0);
        check_values(f.layers[1].arrays[0], {4, 2}, 200);
        check_values(f.layers[2].arrays[1], {1}, 500);
    }
    SECTION("tf.keras 2.13's .keras: the walk under _layer_checkpoint_dependencies") {
        KerasFile f = read_keras_file(fixtures() + "k213_fun.keras");
        REQUIRE(layer_names(f) == std::vector<std::string>{"a", "b", "head"});
        check_values(f.layers[1].arrays[0], {4, 2}, 200);
    }
    SECTION("a .weights.h5 alone needs the architecture") {
        KerasFile f = read_keras_file(fixtures() + "k3_seq.weights.h5", fixtures() + "k3_seq.json");
        CHECK(f.format == "keras3-weights-h5");
        REQUIRE(layer_names(f) == std::vector<std::string>{"c1", "bn", "c2", "out"});
        check_values(f.layers[3].arrays[0], {12, 2}, 800);
        refused(fixtures() + "k3_seq.weights.h5", "give its JSON: --model MODEL.json --weights FILE");
        // Another model's architecture: its walk does not name the file's groups.
        refused(fixtures() + "k3_seq.weights.h5", "layers/batch_normalization: the file has weights there", fixtures() + "k3_fun.json");
    }
    SECTION("the walk itself") {
        using keras_detail::to_snake_case;
        CHECK(to_snake_case("Conv2D") == "conv2d");
        CHECK(to_snake_case("BatchNormalization") == "batch_normalization");
        CHECK(to_snake_case("DepthwiseConv2D") == "depthwise_conv2d");
        CHECK(to_snake_case("ReLU") == "re_lu");
        CHECK(to_snake_case("InputLayer") == "input_layer");
        CHECK(to_snake_case("GlobalAveragePooling2D") == "global_average_pooling2d");
        CHECK(to_snake_case("PReLU") == "p_re_lu");
    }
    SECTION("hostile") {
        refused(fixtures() + "bad_k3_extra.keras", "layers/conv2d_2: the file has weights there but the architecture has no such layer");
        refused(fixtures() + "bad_k3_renamed.keras", "layer c2 (layers/conv2d_1): the file has layer c9's weights there");
        refused(fixtures() + "bad_k3_gap.keras", "layer c1 (layers/conv2d): vars has no 1");
        refused(fixtures() + "bad_k3_lie.keras", "layer out (layers/dense): dataset 0 holds 0 bytes, its shape [1073741824, 1024] needs 4398046511104");
        refused(fixtures() + "bad_k3_noweights.keras", "a .keras file holds model.weights.h5; this one has none");
        refused(fixtures() + "bad_k3_config.keras", "config.json is not JSON");
        refused(copy_prefix(fixtures() + "k3_seq.keras", 1500, "cut.keras"), "not a readable zip");
    }
}

TEST_CASE("keras file: Keras 2 weights-only, split attributes, nested models", "[keras]") {
    SECTION("full model and save_weights: the same layers, by layer_names and weight_names") {
        KerasFile full = read_keras_file(fixtures() + "k2_full.h5");
        CHECK(full.format == "keras2-h5");
        CHECK(full.model_config.find("sequential_1") != std::string::npos);
        CHECK(full.training_config == "{\"loss\": \"mse\"}");
        REQUIRE(layer_names(full) == std::vector<std::string>{"conv2d_1", "dense_1"});
        check_values(full.layers[0].arrays[0], {3, 3, 1, 2}, 0);
        check_values(full.layers[1].arrays[1], {2}, 300);
        KerasFile w = read_keras_file(fixtures() + "k2_weights.h5");
        CHECK(w.format == "keras2-weights-h5");
        CHECK(w.model_config == "");
        REQUIRE(layer_names(w) == layer_names(full));
        check_values(w.layers[1].arrays[0], {8, 2}, 200);
        KerasFile wc = read_keras_file(fixtures() + "k2_weights.h5", fixtures() + "k2_seq.json");
        CHECK(wc.model_config.find("sequential_1") != std::string::npos);
    }
    SECTION("a chunked dataset whose edge chunk is partly used") {
        KerasFile f = read_keras_file(fixtures() + "k2_chunked.h5");
        check_values(layer(f, "dense_1").arrays[0], {8, 2}, 200);
    }
    SECTION("layer_names0, layer_names1, ... read in order") {
        KerasFile f = read_keras_file(fixtures() + "k2_split.h5");
        CHECK(layer_names(f) == std::vector<std::string>{"conv2d_1", "dense_1"});
    }
    SECTION("a nested model's weights split by inner layer, matched by position") {
        KerasFile f = read_keras_file(fixtures() + "k2_nested.h5");
        REQUIRE(layer_names(f) == std::vector<std::string>{"a", "bn", "head"});
        REQUIRE(f.layers[1].arrays.size() == 4);
        CHECK(f.layers[1].arrays[0].name == "bn/gamma:0");
        CHECK(f.layers[1].arrays[3].name == "bn/moving_variance:0");
        check_values(f.layers[1].arrays[2], {2}, 600);
        CHECK(f.layers[2].arrays[0].name == "head_1/kernel:0");
        check_values(f.layers[2].arrays[0], {2, 1}, 0);
    }
    SECTION("hostile") {
        refused(fixtures() + "bad_k2_ghost.h5", "layer ghost: listed in layer_names but not in the file");
        refused(fixtures() + "bad_k2_nolayers.h5", "model_weights has no layer_names attribute");
        refused(fixtures() + "bad_k2_type.h5", "layer_names: attribute layer_names is not a string");
        refused(fixtures() + "bad_k2_dotdot.h5", "layer dense_1: bad name \"../conv2d_1/conv2d_1/kernel:0\"");
        refused(fixtures() + "bad_k2_absolute.h5", "layer dense_1: bad name \"/model_weights/");
        refused(fixtures() + "bad_k2_missing.h5", "layer dense_1: no dataset dense_1/gamma:0");
        refused(fixtures() + "bad_k2_lie.h5", "layer dense_1: dataset dense_1/bias:0 holds 0 bytes, its shape [1073741824] needs 4294967296");
        refused(fixtures() + "bad_k2_big.h5", "layer dense_1: dataset dense_1/bias:0 holds 49380 bytes, its shape [5] needs 20");
        refused(fixtures() + "bad_k2_string.h5", "layer dense_1: dataset dense_1/bias:0 is not numbers");
        // libhdf5 never returns on this one: the child reading it is stopped.
        keras_detail::h5_child_seconds = 2;
        refused(fixtures() + "bad_h5_hang.h5", "not a readable HDF5 file: the HDF5 library failed on it (it was still reading after the time limit)");
        keras_detail::h5_child_seconds = 0;
        const std::string fer = kRef + "fer_mini_xception/fer2013_mini_XCEPTION.102-0.66.hdf5";
        for (size_t cut : {size_t(100), size_t(4000), size_t(200000), size_t(872000)}) {
            const std::string p = copy_prefix(fer, cut, "cut" + std::to_string(cut) + ".h5");
            try {
                read_keras_file(p);
                FAIL("read a file cut at " << cut);
            } catch (const Error& e) {
                INFO(cut << ": " << e.what());
                CHECK(e.status() == kDataErr);
                CHECK(e.where() == p);
            }
        }
    }
}

TEST_CASE("keras file: TF.js quantized and int32 weights, dequantized as tfjs-core does", "[keras]") {
    KerasFile f = read_keras_file(fixtures() + "tfjs_quant/model.json");
    CHECK(f.training_config == "{\"loss\":\"mse\"}");
    REQUIRE(layer_names(f) == std::vector<std::string>{"conv2d_1", "dense_1", "counter"});
    std::vector<float> got;
    for (const KerasLayerWeights& l : f.layers)
        for (const KerasArray& a : l.arrays) got.insert(got.end(), a.values.begin(), a.values.end());
    std::ifstream in(fixtures() + "tfjs_quant/expect.f32", std::ios::binary);
    std::vector<float> want(got.size() + 1);
    in.read(reinterpret_cast<char*>(want.data()), std::streamsize(want.size() * 4));
    REQUIRE(size_t(in.gcount()) == got.size() * 4);
    want.pop_back();
    // Bit for bit: a double v * scale + min rounded once to float32.
    REQUIRE(std::memcmp(got.data(), want.data(), got.size() * 4) == 0);
    CHECK(layer(f, "counter").arrays[0].name == "model/counter/step");
    CHECK(layer(f, "counter").arrays[0].shape.empty());
    SECTION("hostile") {
        refused(fixtures() + "bad_tfjs_missing/model.json", "shard group1-shard2of2.bin: No such file", "", kNoInput);
        refused(fixtures() + "bad_tfjs_short/model.json", "the shards hold 16 bytes, the weights need 26 (a shard missing or truncated?)");
        refused(fixtures() + "bad_tfjs_long/model.json", "the shards hold 30 bytes, the weights need 26");
        refused(fixtures() + "bad_tfjs_overflow/model.json", "weight d/kernel: absurd shape");
        refused(fixtures() + "bad_tfjs_bool/model.json", "weight d/flag: dtype \"bool\" is not float32 or int32");
        refused(fixtures() + "bad_tfjs_quant/model.json", "weight d/k: quantization \"int4\"");
        refused(fixtures() + "bad_tfjs_dotdot/model.json", "bad shard path \"../bad_tfjs_long/group1-shard2of2.bin\"");
        refused(copy_prefix(kRef + "signlang_cnn/model.json", 3000, "cut.json"), "model.json is not JSON");
    }
}
