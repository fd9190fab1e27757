// libFuzzer target: nntrain's batch feed (lib/stream/feed.hpp), which indexes a
// stream file by its frame headers and re-reads it every epoch, or reads a
// pipe in order. The first byte picks the options (regrouping, steps per
// epoch, shuffling, file or pipe on stdin); two epochs are drawn.
#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "fuzz.hpp"
#include "stream/feed.hpp"

using namespace imgpipe;

namespace {
// The number of open descriptors; with `list`, also what each one is.
int open_descriptors(std::string* list = nullptr) {
    int n = 0;
    if (DIR* d = opendir("/proc/self/fd")) {
        while (struct dirent* e = readdir(d)) {
            ++n;
            char target[256] = {0};
            std::string link = std::string("/proc/self/fd/") + e->d_name;
            if (list && readlink(link.c_str(), target, sizeof target - 1) > 0) *list += std::string(e->d_name) + "->" + target + " ";
        }
        closedir(d);
    }
    return n;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1) return 0;
    uint8_t opt = data[0];
    ++data;
    --size;
    FeedOptions o;
    const int64_t batch_sizes[] = {0, 1, 3, 32};
    o.batch_size = batch_sizes[opt & 3];
    o.steps = (opt & 4) ? 2 : 0;
    o.shuffle = opt & 8;
    o.seed = 7;
    o.epochs = 2;
    std::string path;
    static fuzz::MemFile file;
    if (opt & 16) {  // a pipe on stdin: the stream reader
        int p[2];
        if (pipe2(p, O_CLOEXEC) != 0) fuzz::finding("pipe2 failed (descriptors leaked?)", std::strerror(errno));
        fcntl(p[1], F_SETPIPE_SZ, 1 << 20);
        size_t done = 0;
        while (done < size) {
            ssize_t n = write(p[1], data + done, size - done);
            if (n <= 0) break;  // larger than the pipe: the rest is cut
            done += size_t(n);
        }
        close(p[1]);
        dup2(p[0], 0);
        close(p[0]);
        path = "-";
    } else {
        path = file.put(data, size);
    }
    // Every descriptor the feed opens must be closed again, even when it throws.
    static int first_count = -1;
    int open_now = open_descriptors();
    if (first_count < 0) first_count = open_now;
    if (open_now > first_count + 4) {
        std::string list;
        open_descriptors(&list);
        fuzz::finding("descriptor leak", std::to_string(open_now) + " descriptors open: " + list);
    }
    fuzz::expect_clean([&] {
        BatchFeed feed(path, o);
        for (int64_t epoch = 1; epoch <= 2; ++epoch) {
            feed.begin_epoch(epoch);
            Frame batch;
            for (int guard = 0; feed.next(batch); ++guard) {
                if (guard > 100000) fuzz::finding("endless epoch", feed.where());
                if (o.batch_size > 0 && batch.samples() > o.batch_size) fuzz::finding("batch size", feed.where());
            }
            (void)feed.steps_hint();
        }
    });
    return 0;
}
