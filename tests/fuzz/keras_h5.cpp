// libFuzzer target: the HDF5 glue (lib/nn/keras_h5.cpp) as read_keras_file runs
// it, in a child process: libhdf5 1.10.8 itself overflows a heap buffer
// (H5Aexists) and loops forever (H5HG_read) on inputs this target finds in
// seconds (doc/design.md, "Keras files in"), so in-process its findings would be
// libhdf5's. IMGPIPE_FUZZ_IN_PROCESS=1 reads in this process instead, to measure
// that again. The first byte picks the architecture given beside the file: none,
// a Keras 3 Sequential, or a Keras 2 model with a nested Sequential. Bad bytes
// must be an imgpipe::Error; an array that reads must hold its shape's count of
// values.
#include <pthread.h>
#include <sanitizer/common_interface_defs.h>

#include <csignal>
#include <cstdlib>
#include <cstring>

#include "fuzz.hpp"
#include "nn/keras_file.hpp"

using namespace imgpipe;

// A child that libhdf5 crashes is the isolation at work, not a finding (the
// parent must answer with an Error, which expect_clean checks). Without this, the
// child keeps libFuzzer's handlers through fork and writes a crash file for it.
static void plain_child() {
    __sanitizer_set_death_callback(nullptr);
    for (int s : {SIGSEGV, SIGBUS, SIGABRT, SIGILL, SIGFPE}) std::signal(s, SIG_DFL);
}
static const int plain_children = pthread_atfork(nullptr, nullptr, plain_child);

static const char* kConfigs[] = {
    "",
    R"({"class_name": "Sequential", "config": {"name": "s", "layers": [
      {"class_name": "InputLayer", "config": {"name": "in"}},
      {"class_name": "Conv2D", "config": {"name": "c1"}}, {"class_name": "BatchNormalization", "config": {"name": "bn"}},
      {"class_name": "Conv2D", "config": {"name": "c2"}}, {"class_name": "Flatten", "config": {"name": "f"}},
      {"class_name": "Dense", "config": {"name": "out"}}]}})",
    R"({"class_name": "Model", "config": {"name": "m", "layers": [
      {"class_name": "InputLayer", "config": {"name": "input_1"}},
      {"class_name": "Sequential", "config": {"name": "inner", "layers": [
        {"class_name": "Dense", "config": {"name": "a"}}, {"class_name": "BatchNormalization", "config": {"name": "bn"}}]}},
      {"class_name": "Dense", "config": {"name": "head"}}]}})",
};

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    const char* config = kConfigs[data[0] % 3];
    static const bool in_process = std::getenv("IMGPIPE_FUZZ_IN_PROCESS") != nullptr;
    static fuzz::MemFile file, config_file;
    nn::keras_detail::h5_child_seconds = 5;
    fuzz::expect_clean([&] {
        nn::KerasFile f;
        if (in_process) {
            f = nn::keras_detail::read_h5_image(reinterpret_cast<const char*>(data + 1), size - 1, "fuzz", config);
        } else {
            const std::string& path = file.put(data + 1, size - 1);
            const std::string& cpath = config_file.put(reinterpret_cast<const uint8_t*>(config), std::strlen(config));
            f = nn::read_keras_file(path, *config ? cpath : "");
        }
        for (const auto& l : f.layers)
            for (const auto& a : l.arrays) {
                size_t n = 1;
                for (int64_t d : a.shape) n *= size_t(d);
                if (n != a.values.size()) fuzz::finding("values", a.name);
            }
    });
    return 0;
}
