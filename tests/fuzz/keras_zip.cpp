// libFuzzer target: the .keras zip glue (lib/nn/keras_file.cpp read_keras_zip)
// on a zip in memory, its model.weights.h5 read in this process. Bad bytes must
// be an imgpipe::Error.
#include "fuzz.hpp"
#include "nn/keras_file.hpp"

using namespace imgpipe;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string bytes(reinterpret_cast<const char*>(data), size);
    fuzz::expect_clean([&] { nn::keras_detail::read_keras_zip(bytes, "fuzz.keras"); });
    return 0;
}
