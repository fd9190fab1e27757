// libFuzzer target: the model file loader (Model::load, linked with libtorch).
// Every refusal must be an imgpipe::Error; a file that loads must describe
// itself (summary, shapes, state) without throwing.
#include "fuzz.hpp"
#include "nn/engine.hpp"

using namespace imgpipe;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    nn::configure_runtime(1);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static fuzz::MemFile file;
    const std::string& path = file.put(data, size);
    fuzz::expect_clean([&] {
        std::unique_ptr<nn::Model> model = nn::Model::load(path);
        (void)model->summary();
        (void)model->input_shape();
        (void)model->output_shape();
        (void)model->loss_name();
        (void)model->metric_names();
        (void)model->classes();
        (void)model->state_json();
    });
    return 0;
}
