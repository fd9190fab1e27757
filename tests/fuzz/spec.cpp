// libFuzzer target: the model spec parser (compact and Keras 2/3 JSON), shape
// inference and the summary table. A spec that parses must print (to_json)
// as a spec that parses to the same print.
#include "fuzz.hpp"
#include "nn/spec.hpp"

using namespace imgpipe;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string text(reinterpret_cast<const char*>(data), size);
    fuzz::expect_clean([&] {
        nn::Spec spec = nn::parse_spec(text, "fuzz.json");
        (void)nn::summary_table(spec);
        (void)spec.trainable_params();
        std::string printed = spec.to_json();
        nn::Spec again = nn::parse_spec(printed, "printed.json");
        if (again.to_json() != printed) fuzz::finding("round trip", printed + "\n  vs\n" + again.to_json());
    });
    return 0;
}
