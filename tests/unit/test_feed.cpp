// The nn tools' batch feed (lib/stream/feed.hpp), without torch: a file's
// index and epochs, regrouping on Batcher, --steps-per-epoch, rank sharing,
// fingerprints, pipes read ahead, and damage named by frame.
#include <catch2/catch.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "cli/error.hpp"
#include "stream/feed.hpp"

using namespace imgpipe;

namespace {
// n samples numbered from `first`: x U8 [n,2,2,1] all `first + i`, y I32 the
// number, w F32 the number + 0.5 when weighted, paths "s<number>", "epoch" metadata.
Frame numbered(int n, int first, int epoch = 0, bool weighted = false) {
    Frame f;
    Tensor x("x", DType::U8, {n, 2, 2, 1}), y("y", DType::I32, {n}), w("w", DType::F32, {n});
    std::vector<std::string> paths;
    for (int i = 0; i < n; ++i) {
        for (int k = 0; k < 4; ++k) x.data[size_t(i * 4 + k)] = uint8_t(first + i);
        y.values<int32_t>()[i] = first + i;
        w.values<float>()[i] = float(first + i) + 0.5f;
        paths.push_back("s" + std::to_string(first + i));
    }
    f.tensors = {x, y};
    if (weighted) f.tensors.push_back(w);
    f.metadata["format"] = kStreamFormat;
    f.metadata["class_mode"] = "sparse";
    f.set_paths(paths);
    f.set_meta_int("epoch", epoch);
    return f;
}

// One frame per sample: `samples` of each epoch, numbered 0.. in epoch 0, 100.. in epoch 1, ...
std::vector<Frame> unbatched(int samples, int epochs = 1, bool weighted = false) {
    std::vector<Frame> frames;
    for (int e = 0; e < epochs; ++e)
        for (int i = 0; i < samples; ++i) frames.push_back(numbered(1, 100 * e + i, e, weighted));
    return frames;
}

std::vector<uint8_t> bytes_of(const std::vector<Frame>& frames) {
    std::vector<uint8_t> bytes;
    for (const Frame& f : frames) {
        std::vector<uint8_t> b = encode_frame(f);
        bytes.insert(bytes.end(), b.begin(), b.end());
    }
    return bytes;
}

struct TempFile {
    std::string path;
    TempFile() {
        char name[] = "/tmp/imgpipe-feed-XXXXXX";
        int fd = mkstemp(name);
        close(fd);
        path = name;
    }
    explicit TempFile(const std::vector<uint8_t>& bytes) : TempFile() { put(bytes); }
    ~TempFile() { std::remove(path.c_str()); }
    void put(const std::vector<uint8_t>& bytes) const {
        std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
    }
};

// A FIFO that a thread of its own fills with `bytes` once the feed opens it.
struct Fifo {
    std::string path;
    std::thread writer;
    explicit Fifo(const std::vector<uint8_t>& bytes) {
        char dir[] = "/tmp/imgpipe-fifo-XXXXXX";
        REQUIRE(mkdtemp(dir));
        path = std::string(dir) + "/pipe";
        REQUIRE(mkfifo(path.c_str(), 0600) == 0);
        writer = std::thread([p = path, bytes] {
            int fd = ::open(p.c_str(), O_WRONLY);
            for (size_t done = 0; fd >= 0 && done < bytes.size();) {
                ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
                if (n <= 0) break;
                done += size_t(n);
            }
            if (fd >= 0) ::close(fd);
        });
    }
    ~Fifo() {
        writer.join();
        std::remove(path.c_str());
        rmdir(path.substr(0, path.rfind('/')).c_str());
    }
};

// The y values of one epoch's batches, a batch a list: {{0, 1}, {2}}.
std::vector<std::vector<int>> epoch_of(BatchFeed& feed, int64_t epoch) {
    feed.begin_epoch(epoch);
    std::vector<std::vector<int>> batches;
    Frame batch;
    while (feed.next(batch)) {
        std::vector<int> ys;
        for (int64_t i = 0; i < batch.samples(); ++i) ys.push_back(batch.get("y").values<int32_t>()[i]);
        batches.push_back(ys);
    }
    return batches;
}

using Batches = std::vector<std::vector<int>>;

FeedOptions batched(int64_t size, int64_t steps = 0) {
    FeedOptions o;
    o.batch_size = size;
    o.steps = steps;
    return o;
}

int open_descriptors() {
    int n = 0;
    if (DIR* d = opendir("/proc/self/fd")) {
        while (readdir(d)) ++n;
        closedir(d);
    }
    return n;
}
}  // namespace

TEST_CASE("a file is indexed once, and its frames are the batches", "[feed]") {
    TempFile file(bytes_of({numbered(2, 0), numbered(2, 2), numbered(1, 4)}));
    BatchFeed feed(file.path, FeedOptions{});
    CHECK(feed.seekable());
    CHECK(feed.file_epochs() == 1);
    CHECK(feed.samples_in_first_frame() == 2);
    CHECK(feed.declared_epochs() == -1);  // no "epochs" metadata
    CHECK(!feed.regrouped());
    feed.begin_epoch(1);
    CHECK(feed.steps_hint() == 3);
    Frame batch;
    REQUIRE(feed.next(batch));
    CHECK(batch.paths() == std::vector<std::string>{"s0", "s1"});
    CHECK(batch.get("x").data == std::vector<uint8_t>{0, 0, 0, 0, 1, 1, 1, 1});
    CHECK(feed.where() == file.path + ": frame 1");
    REQUIRE(feed.next(batch));
    REQUIRE(feed.next(batch));
    CHECK(batch.get("y").values<int32_t>()[0] == 4);
    CHECK(feed.where() == file.path + ": frame 3");
    CHECK(!feed.next(batch));
    // Every epoch reads the file again, from its first frame.
    CHECK(epoch_of(feed, 2) == Batches{{0, 1}, {2, 3}, {4}});
}

TEST_CASE("training epoch k reads the file's epoch k, from the first again after the last", "[feed]") {
    std::vector<Frame> frames = {numbered(2, 0, 0), numbered(1, 2, 0), numbered(2, 100, 1), numbered(1, 102, 1)};
    frames[0].set_meta_int("epochs", 2);
    TempFile file(bytes_of(frames));
    BatchFeed feed(file.path, FeedOptions{});
    CHECK(feed.file_epochs() == 2);
    CHECK(feed.declared_epochs() == 2);
    CHECK(epoch_of(feed, 1) == Batches{{0, 1}, {2}});
    CHECK(epoch_of(feed, 2) == Batches{{100, 101}, {102}});
    CHECK(epoch_of(feed, 3) == Batches{{0, 1}, {2}});
}

TEST_CASE("unbatched samples are regrouped; a batch never spans two epochs, and the epoch's last is partial",
          "[feed][batch]") {
    SECTION("a file") {
        TempFile file(bytes_of(unbatched(5, 2)));
        BatchFeed feed(file.path, batched(2));
        CHECK(!feed.regrouped());  // --batch-size was given
        CHECK(feed.batch_size() == 2);
        feed.begin_epoch(1);
        CHECK(feed.steps_hint() == 3);
        CHECK(epoch_of(feed, 1) == Batches{{0, 1}, {2, 3}, {4}});
        CHECK(epoch_of(feed, 2) == Batches{{100, 101}, {102, 103}, {104}});
        CHECK(epoch_of(feed, 3) == Batches{{0, 1}, {2, 3}, {4}});
    }
    SECTION("a pipe") {
        std::vector<Frame> frames = unbatched(3, 2);
        frames[0].set_meta_int("epochs", 2);
        Fifo pipe(bytes_of(frames));
        BatchFeed feed(pipe.path, batched(2));
        CHECK(!feed.seekable());
        CHECK(feed.file_epochs() == 0);
        CHECK(feed.declared_epochs() == 2);
        CHECK(epoch_of(feed, 1) == Batches{{0, 1}, {2}});
        CHECK(feed.more_after_epoch());
        CHECK(!feed.ended());
        CHECK(epoch_of(feed, 2) == Batches{{100, 101}, {102}});
        CHECK(feed.ended());
        CHECK(!feed.more_after_epoch());
    }
    SECTION("Keras' 32 when no --batch-size is given") {
        TempFile file(bytes_of(unbatched(40)));
        BatchFeed feed(file.path, FeedOptions{});
        CHECK(feed.regrouped());
        CHECK(feed.batch_size() == 32);
        Batches got = epoch_of(feed, 1);
        REQUIRE(got.size() == 2);
        CHECK(got[0].size() == 32);
        CHECK(got[1] == std::vector<int>{32, 33, 34, 35, 36, 37, 38, 39});
    }
    SECTION("frames of several samples are cut where a batch ends, and frames of none are passed over") {
        std::vector<Frame> frames = {numbered(1, 0), numbered(4, 1), numbered(0, 5), numbered(2, 5)};
        frames[2].metadata[kSkippedKey] = "[\"gone.png\"]";
        TempFile file(bytes_of(frames));
        BatchFeed feed(file.path, batched(3));
        CHECK(epoch_of(feed, 1) == Batches{{0, 1, 2}, {3, 4, 5}, {6}});
    }
}

TEST_CASE("--batch-size is refused for a stream of batches", "[feed]") {
    TempFile file(bytes_of({numbered(2, 0)}));
    try {
        BatchFeed feed(file.path, batched(16));
        FAIL("accepted");
    } catch (const UsageError& e) {
        CHECK(std::string(e.what()) == "--batch-size applies to unbatched streams, and " + file.path +
                                           " holds batches of 2 samples (regroup it with batchpack -b N instead)");
    }
}

TEST_CASE("per-sample weights (w) travel with their samples through regrouping", "[feed][batch]") {
    std::vector<Frame> frames = {numbered(1, 0, 0, true), numbered(3, 1, 0, true), numbered(1, 4, 0, true)};
    TempFile file(bytes_of(frames));
    BatchFeed feed(file.path, batched(2));
    feed.begin_epoch(1);
    std::vector<std::vector<float>> weights;
    Frame batch;
    while (feed.next(batch)) {
        const Tensor& w = batch.get("w");
        REQUIRE(w.dtype == DType::F32);
        REQUIRE(w.shape == std::vector<int64_t>{batch.samples()});
        CHECK(batch.get("y").shape == std::vector<int64_t>{batch.samples()});
        weights.emplace_back(w.values<float>(), w.values<float>() + batch.samples());
    }
    CHECK(weights == std::vector<std::vector<float>>{{0.5f, 1.5f}, {2.5f, 3.5f}, {4.5f}});
}

TEST_CASE("--steps-per-epoch counts batches; a file's passes run on across epochs", "[feed]") {
    TempFile file(bytes_of(unbatched(5)));
    SECTION("training: the next epoch goes on where the last stopped, and batches span passes") {
        BatchFeed feed(file.path, batched(2, 2));
        feed.begin_epoch(1);
        CHECK(feed.steps_hint() == 2);
        CHECK(epoch_of(feed, 1) == Batches{{0, 1}, {2, 3}});
        CHECK(epoch_of(feed, 2) == Batches{{4, 0}, {1, 2}});
        CHECK(epoch_of(feed, 3) == Batches{{3, 4}, {0, 1}});
    }
    SECTION("validation (restart): every epoch the same batches") {
        FeedOptions o = batched(2, 2);
        o.restart = true;
        BatchFeed feed(file.path, o);
        CHECK(epoch_of(feed, 1) == Batches{{0, 1}, {2, 3}});
        CHECK(epoch_of(feed, 2) == Batches{{0, 1}, {2, 3}});
    }
    SECTION("a frame's samples left over at the epoch's end open the next epoch, unless it restarts") {
        TempFile three(bytes_of({numbered(1, 0), numbered(3, 1), numbered(1, 4)}));
        BatchFeed training(three.path, batched(2, 1));
        CHECK(epoch_of(training, 1) == Batches{{0, 1}});
        CHECK(epoch_of(training, 2) == Batches{{2, 3}});
        CHECK(epoch_of(training, 3) == Batches{{4, 0}});
        FeedOptions o = batched(2, 1);
        o.restart = true;
        BatchFeed validation(three.path, o);
        CHECK(epoch_of(validation, 1) == Batches{{0, 1}});
        CHECK(epoch_of(validation, 2) == Batches{{0, 1}});
    }
    SECTION("a pipe that runs out in the middle of the steps is bad data") {
        Fifo pipe(bytes_of(unbatched(3)));
        FeedOptions o = batched(2, 2);
        o.epochs = 2;
        BatchFeed feed(pipe.path, o);
        CHECK(epoch_of(feed, 1) == Batches{{0, 1}, {2}});  // the stream's end closes a partial batch
        try {
            epoch_of(feed, 2);
            FAIL("accepted");
        } catch (const DataError& e) {
            CHECK(e.where() == pipe.path);
            CHECK(std::string(e.what()) ==
                  "the training stream ran out of data: epoch 2 got 0 of 2 steps; 2 steps x 2 epochs need 4 batches, "
                  "the stream held 2 (imgprep --epochs 0 repeats the data without end)");
        }
    }
}

TEST_CASE("ranks sharing a file take its frames in turn", "[feed]") {
    TempFile file(bytes_of({numbered(2, 0), numbered(2, 2), numbered(2, 4), numbered(2, 6), numbered(2, 8)}));
    auto rank_reads = [&](int rank, bool drop_remainder) {
        BatchFeed feed(file.path, FeedOptions{});
        feed.share(rank, 2, drop_remainder);
        Batches got = epoch_of(feed, 1);
        CHECK(feed.steps_hint() == int64_t(got.size()));
        return got;
    };
    // Training drops the round the last frame cannot fill, as DistributedSampler's drop_last.
    CHECK(rank_reads(0, true) == Batches{{0, 1}, {4, 5}});
    CHECK(rank_reads(1, true) == Batches{{2, 3}, {6, 7}});
    // Validation reads every frame.
    CHECK(rank_reads(0, false) == Batches{{0, 1}, {4, 5}, {8, 9}});
    CHECK(rank_reads(1, false) == Batches{{2, 3}, {6, 7}});
    // More ranks than frames: a rank with none has no batches.
    TempFile one(bytes_of({numbered(2, 0)}));
    BatchFeed feed(one.path, FeedOptions{});
    feed.share(1, 2, true);
    CHECK(epoch_of(feed, 1).empty());
}

TEST_CASE("a rank whose share of a file holds no samples has no batches, under --steps-per-epoch too", "[feed]") {
    // Frames of no samples (batchpack --drop-last's records) can be all of a rank's share;
    // with --steps-per-epoch its passes once wrapped around over them for ever.
    Frame records = numbered(0, 2);
    records.set_meta_int(kDroppedKey, 1);
    TempFile file(bytes_of({numbered(2, 0), records}));
    auto reads = [&](int rank, int64_t batch_size) {
        FeedOptions o = batched(batch_size, 2);
        auto done = std::make_shared<std::promise<Batches>>();
        std::future<Batches> got = done->get_future();
        std::thread([path = file.path, o, rank, done] {
            try {
                BatchFeed feed(path, o);
                feed.share(rank, 2, false);
                done->set_value(epoch_of(feed, 1));
            } catch (...) {
                done->set_exception(std::current_exception());
            }
        }).detach();  // a feed that never ends is left behind, not waited for
        REQUIRE(got.wait_for(std::chrono::seconds(20)) == std::future_status::ready);
        return got.get();
    };
    CHECK(reads(0, 0) == Batches{{0, 1}, {0, 1}});
    CHECK(reads(1, 0).empty());
    file.put(bytes_of({numbered(1, 0), records}));
    CHECK(reads(0, 2) == Batches{{0, 0}, {0, 0}});  // regrouped: the one sample each pass
    CHECK(reads(1, 2).empty());
}

TEST_CASE("a file's fingerprint tells copies from files that differ", "[feed]") {
    std::vector<Frame> frames = {numbered(2, 0), numbered(2, 2), numbered(2, 4)};
    TempFile a(bytes_of(frames)), copy(bytes_of(frames));
    uint32_t fa = BatchFeed(a.path, FeedOptions{}).fingerprint();
    CHECK(fa >= 1);
    CHECK(fa < (1u << 20));
    CHECK(BatchFeed(copy.path, FeedOptions{}).fingerprint() == fa);
    // Other paths (another shard of equal size), or other pixels in the last frame under the same paths.
    std::vector<Frame> renamed = frames;
    renamed[1].set_paths({"t2", "t3"});
    TempFile b(bytes_of(renamed));
    CHECK(BatchFeed(b.path, FeedOptions{}).fingerprint() != fa);
    std::vector<Frame> repainted = frames;
    repainted[2].get("x").data[0] = 99;
    TempFile c(bytes_of(repainted));
    CHECK(BatchFeed(c.path, FeedOptions{}).fingerprint() != fa);
    // A pipe has none.
    Fifo pipe(bytes_of(frames));
    CHECK(BatchFeed(pipe.path, FeedOptions{}).fingerprint() == 0);
}

TEST_CASE("a damaged file is named by frame", "[feed][errors]") {
    std::vector<uint8_t> good = bytes_of({numbered(2, 0), numbered(2, 2)});
    std::vector<uint8_t> third = encode_frame(numbered(2, 4));
    auto error_of = [](const std::string& path, const FeedOptions& o) -> std::pair<std::string, std::string> {
        try {
            BatchFeed feed(path, o);
            epoch_of(feed, 1);
        } catch (const DataError& e) {
            return {e.where(), e.what()};
        }
        return {"", "accepted"};
    };
    SECTION("cut in its third frame's data") {
        std::vector<uint8_t> bytes = good;
        bytes.insert(bytes.end(), third.begin(), third.end() - 5);
        TempFile file(bytes);
        auto [where, what] = error_of(file.path, FeedOptions{});
        CHECK(where == file.path + ": frame 3");
        CHECK_THAT(what, Catch::StartsWith("truncated frame"));
    }
    SECTION("cut in its third frame's length") {
        std::vector<uint8_t> bytes = good;
        bytes.insert(bytes.end(), third.begin(), third.begin() + 3);
        TempFile file(bytes);
        auto [where, what] = error_of(file.path, FeedOptions{});
        CHECK(where == file.path + ": frame 3");
        CHECK(what == "truncated frame (3 of 8 length bytes)");
    }
    SECTION("a sample whose shape differs from the epoch's is named by its frame, not batched") {
        std::vector<Frame> frames = unbatched(4);
        Tensor& x = frames[2].get("x");
        x.shape = {1, 1, 4, 1};  // the same bytes, another shape
        TempFile file(bytes_of(frames));
        auto [where, what] = error_of(file.path, batched(2));
        CHECK(where == file.path + ": frame 3");
        CHECK(what == "sample shape changed mid-stream: x U8 [*,2,2,1] then x U8 [*,1,4,1]");
    }
    SECTION("a frame whose paths do not name its one sample") {
        std::vector<Frame> frames = unbatched(3);
        frames[1].set_paths({"s1", "extra"});
        TempFile file(bytes_of(frames));
        auto [where, what] = error_of(file.path, batched(2));
        CHECK(where == file.path + ": frame 2");
        CHECK(what == "metadata \"paths\" has 2 entries for 1 samples");
    }
}

TEST_CASE("a stream file the feed refuses leaves no descriptor open (fuzz finding)", "[feed][fuzz]") {
    // The batch_feed target ran out of descriptors: a constructor that throws runs no destructor.
    TempFile file(std::vector<uint8_t>{'x'});  // one byte: a truncated frame
    int before = open_descriptors();
    for (int i = 0; i < 10; ++i)
        CHECK_THROWS_WITH(BatchFeed(file.path, FeedOptions{}), Catch::Contains("truncated frame (1 of 8 length bytes)"));
    CHECK(open_descriptors() == before);
    // A good file refused by the options (--batch-size on batches) once leaked it too.
    Frame f;
    f.metadata["format"] = kStreamFormat;
    f.tensors.emplace_back("x", DType::U8, std::vector<int64_t>{2, 2, 2, 1});
    file.put(encode_frame(f));
    before = open_descriptors();
    for (int i = 0; i < 10; ++i)
        CHECK_THROWS_WITH(BatchFeed(file.path, batched(16)), Catch::Contains("--batch-size applies to unbatched streams"));
    CHECK(open_descriptors() == before);
    // And Input on a folder.
    for (int i = 0; i < 10; ++i) CHECK_THROWS_WITH(Input("/tmp"), Catch::Contains("is a directory"));
    CHECK(open_descriptors() == before);
}
