// libFuzzer target: the batch-stream frame reader (FrameReader over an Input)
// and decode_frame on the same bytes. Every frame read must re-encode to bytes
// that decode to the same frame.
#include <cstring>

#include "fuzz.hpp"
#include "stream/frame.hpp"

using namespace imgpipe;

namespace {

bool same(const Frame& a, const Frame& b) {
    if (a.metadata != b.metadata || a.tensors.size() != b.tensors.size()) return false;
    for (size_t i = 0; i < a.tensors.size(); ++i) {
        const Tensor &s = a.tensors[i], &t = b.tensors[i];
        if (s.name != t.name || s.dtype != t.dtype || s.shape != t.shape || s.data != t.data) return false;
    }
    return true;
}

void check_round_trip(const Frame& f) {
    std::vector<uint8_t> bytes = encode_frame(f);
    Frame back = decode_frame(bytes.data(), bytes.size(), "round trip");
    if (!same(f, back)) fuzz::finding("round trip", "decode(encode(frame)) differs");
}

// What the tools do with a frame they accept: typed metadata views.
void use(const Frame& f) {
    fuzz::expect_clean([&] { (void)f.classes(); });
    fuzz::expect_clean([&] { (void)f.paths(); });
    fuzz::expect_clean([&] { (void)f.meta_int("epoch", 0); });
    fuzz::expect_clean([&] { (void)f.meta_int("index", 0); });
    (void)f.samples();
    for (const Tensor& t : f.tensors) {
        if (size_t(t.elements()) * dtype_size(t.dtype) != t.data.size()) fuzz::finding("tensor size", t.name);
        (void)t.row_bytes();
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static fuzz::MemFile file;
    const std::string& path = file.put(data, size);
    for (bool check_format : {true, false}) {
        fuzz::expect_clean([&] {
            Input in(path);
            FrameReader reader(in, check_format);
            Frame f;
            while (reader.read(f)) {
                use(f);
                check_round_trip(f);
            }
        });
    }
    fuzz::expect_clean([&] {
        Frame f = decode_frame(data, size, "fuzz");
        use(f);
        check_round_trip(f);
    });
    return 0;
}
