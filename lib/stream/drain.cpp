#include "stream/drain.hpp"

#include <vector>

namespace imgpipe {

uint64_t drain_rest(Input& in, const Frame& last) {
    if (in.seekable() || last.meta_int("epochs", -1) == 0) return 0;
    std::vector<char> sink(size_t(1) << 16);
    uint64_t total = 0;
    for (size_t got; (got = in.read(sink.data(), sink.size())) > 0;) total += got;
    return total;
}

}  // namespace imgpipe
