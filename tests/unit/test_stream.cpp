// The batch stream: frames round-trip, and bad input is named by frame number.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>

#include <nlohmann/json.hpp>

#include "cli/error.hpp"
#include "stream/batch.hpp"
#include "stream/feed.hpp"
#include "stream/frame.hpp"
#include "stream/writer.hpp"

using namespace imgpipe;

namespace {
Frame sample_frame(int n, int first_label, int epoch = 0) {
    Frame f;
    Tensor x("x", DType::U8, {n, 2, 2, 3});
    for (size_t i = 0; i < x.data.size(); ++i) x.data[i] = uint8_t(i + size_t(first_label));
    Tensor y("y", DType::I32, {n});
    std::vector<std::string> paths;
    for (int i = 0; i < n; ++i) {
        y.values<int32_t>()[i] = first_label + i;
        paths.push_back("img" + std::to_string(first_label + i) + ".png");
    }
    f.tensors = {x, y};
    f.metadata["format"] = kStreamFormat;
    f.set_classes({"cat", "dog"});
    f.set_paths(paths);
    f.set_meta_int("epoch", epoch);
    f.set_meta_int("index", first_label);
    return f;
}

std::string temp_path() {
    char name[] = "/tmp/imgpipe-unit-XXXXXX";
    int fd = mkstemp(name);
    close(fd);
    return name;
}

void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
    std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
}
}  // namespace

TEST_CASE("a frame round-trips through safetensors bytes", "[stream]") {
    Frame f = sample_frame(3, 0);
    std::vector<uint8_t> bytes = encode_frame(f);
    uint64_t header = 0;
    for (int i = 7; i >= 0; --i) header = (header << 8) | bytes[size_t(i)];
    CHECK(header % 8 == 0);
    CHECK(bytes[8] == '{');
    Frame g = decode_frame(bytes.data(), bytes.size(), "mem");
    REQUIRE(g.tensors.size() == 2);
    CHECK(g.get("x").data == f.get("x").data);
    CHECK(g.get("x").shape == std::vector<int64_t>{3, 2, 2, 3});
    CHECK(g.get("y").values<int32_t>()[2] == 2);
    CHECK(g.classes() == std::vector<std::string>{"cat", "dog"});
    CHECK(g.paths()[1] == "img1.png");
}

TEST_CASE("the header is written byte for byte as nlohmann::json's dump of it", "[stream]") {
    // encode_frame writes the JSON itself (it once built a json object and
    // dumped it, a third of imgprep's time on small images): the same bytes.
    using nlohmann::json;
    auto reference = [](const Frame& frame) {
        json header = json::object();
        uint64_t offset = 0;
        for (const Tensor& t : frame.tensors) {
            header[t.name] = {{"dtype", dtype_name(t.dtype)}, {"shape", t.shape}, {"data_offsets", {offset, offset + t.data.size()}}};
            offset += t.data.size();
        }
        if (!frame.metadata.empty()) header["__metadata__"] = frame.metadata;
        std::string text = header.dump(-1, ' ', false, json::error_handler_t::replace);
        return text.append((8 - text.size() % 8) % 8, ' ');
    };
    auto header_of = [](const std::vector<uint8_t>& bytes) {
        uint64_t n = 0;
        for (int i = 7; i >= 0; --i) n = (n << 8) | bytes[size_t(i)];
        return std::string(bytes.begin() + 8, bytes.begin() + 8 + long(n));
    };
    std::string every_ascii;
    for (int c = 1; c < 128; ++c) every_ascii += char(c);
    std::vector<Frame> frames = {Frame{}, sample_frame(1, 0), sample_frame(3, 5, 2)};
    Frame odd = sample_frame(2, 1);
    const std::vector<std::string> odd_paths = {every_ascii, "caf\xc3\xa9/\xe6\x97\xa5.png", "bad\xff\xfe utf8", "tab\there", ""};
    CHECK(json_list(odd_paths) == json(odd_paths).dump(-1, ' ', false, json::error_handler_t::replace));
    CHECK(json_list({}) == "[]");
    odd.metadata["paths"] = json_list(odd_paths);
    odd.metadata["a key \"quoted\"\n"] = std::string("nul\0inside", 10);
    odd.metadata["\xc3\xa9"] = "\x7f";
    odd.tensors.push_back(Tensor("empty", DType::F32, {0, 4}));
    odd.tensors.push_back(Tensor("Z\\", DType::I32, {}));
    frames.push_back(odd);
    Frame only_tensors = sample_frame(1, 0);
    only_tensors.metadata.clear();
    frames.push_back(only_tensors);
    for (const Frame& f : frames) {
        CHECK(header_of(encode_frame(f)) == reference(f));
        std::string path = temp_path();
        {
            Output out(path, false);
            write_frame(out, f);
            out.commit();
        }
        std::ifstream in(path, std::ios::binary);
        std::vector<uint8_t> written((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        CHECK(written == encode_frame(f));
        std::remove(path.c_str());
    }
}

TEST_CASE("the reader reads frames back and stops cleanly at the end", "[stream]") {
    std::string path = temp_path();
    {
        Output out(path, true);
        write_frame(out, sample_frame(2, 0));
        write_frame(out, sample_frame(1, 2));
        out.commit();
    }
    Input in(path);
    FrameReader reader(in);
    Frame f;
    REQUIRE(reader.read(f));
    CHECK(f.samples() == 2);
    REQUIRE(reader.read(f));
    CHECK(f.samples() == 1);
    CHECK_FALSE(reader.read(f));
    unlink(path.c_str());
}

TEST_CASE("a stream with no frames is refused, naming the likely cause", "[stream][epoch]") {
    EpochLedger none;
    CHECK_THROWS_WITH(none.finish("s"), "no frames: the stream is empty (did its producer stop before its first frame? "
                                        "its own message says why)");
    std::string path = temp_path();  // an empty file
    Input in(path);
    FrameReader reader(in);
    Frame f;
    try {
        reader.read(f);
        FAIL("an empty stream was read as a clean end");
    } catch (const DataError& e) {
        CHECK(e.where() == path);
        CHECK(e.status() == kDataErr);
        CHECK(std::string(e.what()) == empty_stream_message());
    }
    unlink(path.c_str());
}

TEST_CASE("a truncated frame is an error naming its frame number", "[stream]") {
    std::vector<uint8_t> a = encode_frame(sample_frame(2, 0)), b = encode_frame(sample_frame(2, 2));
    std::vector<uint8_t> bytes = a;
    bytes.insert(bytes.end(), b.begin(), b.end() - 5);
    std::string path = temp_path();
    write_bytes(path, bytes);
    Input in(path);
    FrameReader reader(in);
    Frame f;
    REQUIRE(reader.read(f));
    try {
        reader.read(f);
        FAIL("no error");
    } catch (const DataError& e) {
        CHECK(e.where() == path + ": frame 2");
        CHECK(std::string(e.what()).find("truncated frame") != std::string::npos);
    }
    unlink(path.c_str());
}

TEST_CASE("a header promising terabytes is a truncated frame, not an allocation (fuzz finding)", "[stream]") {
    // tests/fuzz/corpus/frame_reader/regress-huge-tensor: 1 TiB of F32 promised, 10 bytes given.
    // The reader once sized the buffer from the header first: bad_alloc, exit 70.
    std::string header = R"({"x":{"dtype":"F32","shape":[274877906944],"data_offsets":[0,1099511627776]},)"
                         R"("__metadata__":{"format":"batchstream/1"}})";
    std::vector<uint8_t> bytes(8);
    for (int i = 0; i < 8; ++i) bytes[size_t(i)] = uint8_t(header.size() >> (8 * i));
    bytes.insert(bytes.end(), header.begin(), header.end());
    bytes.insert(bytes.end(), 10, 0);
    std::string path = temp_path();
    write_bytes(path, bytes);
    Input in(path);
    FrameReader reader(in);
    Frame f;
    try {
        reader.read(f);
        FAIL("no error");
    } catch (const DataError& e) {
        CHECK(e.where() == path + ": frame 1");
        CHECK(std::string(e.what()) == "truncated frame (data: 10 of 1099511627776 bytes)");
    }
    unlink(path.c_str());
}

TEST_CASE("nine bytes promising a 250 MB header are a truncated frame", "[stream]") {
    // The reader once sized (and zeroed) the header buffer from the prefix alone.
    std::vector<uint8_t> bytes = {0x00, 0x00, 0xa0, 0x0e, 0, 0, 0, 0, '{'};  // 250,609,664
    std::string path = temp_path();
    write_bytes(path, bytes);
    Input in(path);
    FrameReader reader(in);
    Frame f;
    CHECK_THROWS_WITH(reader.read(f), "truncated frame (header: 1 of 245366784 bytes)");
    unlink(path.c_str());
}

TEST_CASE("a frame larger than the first read chunk is read whole", "[stream]") {
    Frame big;
    big.metadata["format"] = kStreamFormat;
    big.metadata["note"] = std::string(200000, 'a');  // a header over three read chunks too
    big.tensors.emplace_back("x", DType::U8, std::vector<int64_t>{1, 9000, 9000, 1});  // 81 MB: two chunks
    for (size_t i = 0; i < big.tensors[0].data.size(); i += 4093) big.tensors[0].data[i] = uint8_t(i / 4093);
    std::string path = temp_path();
    write_bytes(path, encode_frame(big));
    Input in(path);
    FrameReader reader(in);
    Frame f;
    REQUIRE(reader.read(f));
    CHECK(f.get("x").data == big.tensors[0].data);
    CHECK(f.metadata == big.metadata);
    CHECK_FALSE(reader.read(f));
    unlink(path.c_str());
}

TEST_CASE("foreign input and future versions are refused", "[stream]") {
    std::string path = temp_path();
    write_bytes(path, {'G', 'I', 'F', '8', '9', 'a', 1, 0, 0, 0, 0, 0});
    {
        Input in(path);
        FrameReader reader(in);
        Frame f;
        CHECK_THROWS_WITH(reader.read(f), Catch::Contains("not safetensors (starts with 'GIF89a"));
    }
    Frame future = sample_frame(1, 0);
    future.metadata["format"] = "batchstream/2";
    write_bytes(path, encode_frame(future));
    {
        Input in(path);
        FrameReader reader(in);
        Frame f;
        CHECK_THROWS_WITH(reader.read(f), Catch::Contains("newer than this tool reads"));
    }
    unlink(path.c_str());
}

TEST_CASE("batches never span epochs and keep the last partial batch", "[stream][batch]") {
    Batcher batcher(2, false, 0, 1);
    std::vector<Frame> ready;
    for (int i = 0; i < 3; ++i) batcher.add(sample_frame(1, i, 0), ready);
    for (int i = 0; i < 3; ++i) batcher.add(sample_frame(1, i, 1), ready);
    batcher.finish(ready);
    REQUIRE(ready.size() == 4);
    CHECK(ready[0].samples() == 2);
    CHECK(ready[1].samples() == 1);
    CHECK(ready[1].meta_int("epoch", -1) == 0);
    CHECK(ready[2].meta_int("epoch", -1) == 1);
    CHECK(ready[0].paths() == std::vector<std::string>{"img0.png", "img1.png"});
}

TEST_CASE("drop_last discards the partial batch of every epoch", "[stream][batch]") {
    Batcher batcher(2, true, 0, 1);
    std::vector<Frame> ready;
    batcher.add(sample_frame(5, 0), ready);
    batcher.finish(ready);
    REQUIRE(ready.size() == 3);  // two batches, then a frame of no samples recording the drop
    CHECK(ready[2].samples() == 0);
    CHECK(ready[2].meta_int("dropped", 0) == 1);
    CHECK(batcher.dropped() == 1);
}

TEST_CASE("an epoch must add up to its epoch_size", "[stream][epoch]") {
    auto frame = [](int n, int epoch, int size) {
        Frame f = sample_frame(n, 0, epoch);
        f.set_meta_int("epoch_size", size);
        return f;
    };
    EpochLedger whole;
    CHECK(whole.add(frame(3, 0, 5), "s: frame 1"));
    CHECK(!whole.add(frame(2, 0, 5), "s: frame 2"));
    CHECK(whole.full());
    CHECK(whole.add(frame(5, 1, 5), "s: frame 3"));  // the next epoch
    whole.finish("s");

    EpochLedger short_then_next;
    short_then_next.add(frame(3, 0, 5), "s: frame 1");
    CHECK_THROWS_WITH(short_then_next.add(frame(5, 1, 5), "s: frame 2"),
                      Catch::Contains("epoch 1 ended after 3 of 5 samples: the producer stopped early"));

    EpochLedger short_at_end;
    short_at_end.add(frame(4, 0, 5), "s: frame 1");
    CHECK_THROWS_WITH(short_at_end.finish("s"), Catch::Contains("epoch 1 ended after 4 of 5 samples"));

    // Skipped and dropped samples are accounted for; a full epoch followed by
    // more of the same number is the next epoch (cat a a).
    EpochLedger records;
    Frame with_skip = frame(3, 0, 5);
    with_skip.metadata["skipped"] = json_list({"bad.jpg"});
    records.add(with_skip, "s: frame 1");
    CHECK(records.skipped_in_frame() == std::vector<std::string>{"bad.jpg"});
    Frame with_drop = frame(0, 0, 5);
    with_drop.set_meta_int("dropped", 1);
    CHECK(!records.add(with_drop, "s: frame 2"));
    CHECK(records.full());
    CHECK(records.add(frame(5, 0, 5), "s: frame 3"));
    records.finish("s");

    EpochLedger overfull;
    overfull.add(frame(3, 0, 5), "s: frame 1");
    CHECK_THROWS_WITH(overfull.add(frame(3, 0, 5), "s: frame 2"), Catch::Contains("holds more than its epoch_size of 5"));

    EpochLedger unknown;  // no epoch_size: nothing to check
    Frame f = sample_frame(2, 0);
    unknown.add(f, "s");
    unknown.finish("s");
}

TEST_CASE("shards joined with cat read as one epoch", "[stream][epoch]") {
    auto part = [](int64_t n, int64_t size, const char* shard) {
        Frame f = sample_frame(n, 0);
        f.set_meta_int("epoch", 0);
        f.set_meta_int("epoch_size", size);
        if (*shard) f.metadata["shard"] = shard;
        return f;
    };
    EpochLedger joined;  // cat shard-1 shard-2 shard-3
    CHECK(joined.add(part(2, 3, "1/3"), "s: frame 1"));
    CHECK(!joined.add(part(1, 3, "1/3"), "s: frame 2"));
    CHECK(!joined.add(part(3, 3, "2/3"), "s: frame 3"));
    CHECK(joined.began_part());
    CHECK(!joined.add(part(2, 2, "3/3"), "s: frame 4"));
    CHECK(joined.full());
    CHECK(joined.size() == 8);
    CHECK(joined.epochs() == 1);
    joined.finish("s");
    CHECK(joined.add(part(3, 3, "1/3"), "s: frame 5"));  // shard 1 again: the next epoch (cat a b a)
    CHECK(!joined.began_part());

    EpochLedger any_order;  // cat shard-2 shard-1
    CHECK(any_order.add(part(3, 3, "2/2"), "s: frame 1"));
    CHECK(!any_order.add(part(3, 3, "1/2"), "s: frame 2"));
    any_order.finish("s");

    EpochLedger short_part;  // a shard cut short, then the next: the producer of the first stopped early
    short_part.add(part(2, 3, "1/2"), "s: frame 1");
    CHECK_THROWS_WITH(short_part.add(part(3, 3, "2/2"), "s: frame 2"),
                      Catch::Contains("epoch 1 ended after 2 of 3 samples: the producer stopped early"));

    EpochLedger other_n;  // shards of another split are another epoch
    other_n.add(part(3, 3, "1/2"), "s: frame 1");
    CHECK(other_n.add(part(3, 3, "2/3"), "s: frame 2"));

    EpochLedger plain;  // without the record, cat of two epochs is two epochs, as before
    plain.add(part(3, 3, ""), "s: frame 1");
    CHECK(plain.add(part(3, 3, ""), "s: frame 2"));

    for (const char* bad : {"0/2", "3/2", "1/", "/2", "1/2x", "x", "1/99999999999", ""}) {
        EpochLedger ledger;
        Frame f = part(1, 3, "1/2");
        f.metadata["shard"] = bad;
        CHECK_THROWS_WITH(ledger.add(f, "s: frame 1"), Catch::Contains("metadata \"shard\""));
    }
}

TEST_CASE("the batcher batches each shard of a joined epoch on its own", "[stream][batch][epoch]") {
    Batcher batcher(2, false, 0, 1);
    std::vector<Frame> ready;
    for (const char* shard : {"1/2", "2/2"})
        for (int i = 0; i < 3; ++i) {
            Frame f = sample_frame(1, i);
            f.set_meta_int("epoch_size", 3);
            f.metadata["shard"] = shard;
            batcher.add(f, ready);
        }
    batcher.finish(ready);
    REQUIRE(ready.size() == 4);  // 2 + 1 of each shard: no batch holds two shards
    CHECK(ready[1].samples() == 1);
    CHECK(ready[2].metadata["shard"] == "2/2");
    CHECK(ready[2].meta_int("index", -1) == 3);  // positions count on over the joined epoch
    EpochLedger downstream;  // and the batches join again
    for (const Frame& f : ready) downstream.add(f, "out");
    CHECK(downstream.epochs() == 1);
    downstream.finish("out");
}

TEST_CASE("the batcher carries skip records to the next batch of their epoch", "[stream][batch][epoch]") {
    Batcher batcher(2, false, 0, 1);
    std::vector<Frame> ready;
    Frame a = sample_frame(1, 0);
    a.set_meta_int("epoch_size", 3);
    Frame b = sample_frame(1, 1);
    b.set_meta_int("epoch_size", 3);
    b.metadata["skipped"] = json_list({"bad.jpg"});
    batcher.add(a, ready);
    batcher.add(b, ready);
    batcher.finish(ready);
    REQUIRE(ready.size() == 1);
    CHECK(ready[0].samples() == 2);
    CHECK(ready[0].metadata["skipped"] == "[\"bad.jpg\"]");
    CHECK(ready[0].meta_int("index", -1) == 0);
}

TEST_CASE("the shuffle window permutes samples and keeps every one", "[stream][batch]") {
    Batcher batcher(100, false, 8, 42);
    std::vector<Frame> ready;
    for (int i = 0; i < 20; ++i) batcher.add(sample_frame(1, i), ready);
    batcher.finish(ready);
    REQUIRE(ready.size() == 1);
    const Tensor& y = ready[0].get("y");
    std::vector<int> seen(20, 0);
    bool moved = false;
    for (int i = 0; i < 20; ++i) {
        int v = y.values<int32_t>()[i];
        ++seen[size_t(v)];
        moved |= v != i;
    }
    CHECK(moved);
    CHECK(std::count(seen.begin(), seen.end(), 1) == 20);
}

TEST_CASE("with the caller's epochs, the batcher ends an epoch at finish() and reads no epoch metadata",
          "[stream][batch][epoch]") {
    // The feed's epochs: a file's frames in any order (--shuffle over epochs), or --steps-per-epoch.
    Batcher batcher(2, false, 0, 1, Batcher::Epochs::Caller);
    std::vector<Frame> ready;
    batcher.add(sample_frame(1, 0, 1), ready);
    batcher.add(sample_frame(1, 1, 0), ready);  // an earlier epoch's number: no boundary
    batcher.add(sample_frame(1, 2, 1), ready);
    REQUIRE(ready.size() == 1);
    CHECK(ready[0].paths() == std::vector<std::string>{"img0.png", "img1.png"});
    batcher.finish(ready);  // the epoch's partial batch
    REQUIRE(ready.size() == 2);
    CHECK(ready[1].paths() == std::vector<std::string>{"img2.png"});
    CHECK(ready[1].meta_int("index", -1) == 2);
    batcher.add(sample_frame(1, 3, 1), ready);  // the next epoch counts from 0 again
    batcher.add(sample_frame(1, 4, 1), ready);
    REQUIRE(ready.size() == 3);
    CHECK(ready[2].meta_int("index", -1) == 0);
    batcher.finish(ready);
    batcher.finish(ready);  // nothing left: nothing more
    CHECK(ready.size() == 3);
    // A sample of another shape is refused across batches, as with the stream's epochs.
    Frame other = sample_frame(1, 5, 1);
    other.get("x").shape = {1, 1, 4, 3};
    CHECK_THROWS_WITH(batcher.add(other, ready), Catch::Contains("sample shape changed mid-stream"));
}

TEST_CASE("per-sample weights (w) stay with their samples when frames are cut and joined", "[stream][batch]") {
    auto weighted = [](int n, int first) {
        Frame f = sample_frame(n, first);
        Tensor w("w", DType::F32, {n});
        for (int i = 0; i < n; ++i) w.values<float>()[i] = 0.25f * float(first + i);
        f.tensors.push_back(w);
        return f;
    };
    auto weights = [](const Frame& f) {
        const Tensor& w = f.get("w");
        CHECK(w.shape == std::vector<int64_t>{f.samples()});
        return std::vector<float>(w.values<float>(), w.values<float>() + f.samples());
    };
    auto labels = [](const Frame& f) {
        return std::vector<int>(f.get("y").values<int32_t>(), f.get("y").values<int32_t>() + f.samples());
    };
    Frame joined = concat_frames({weighted(1, 0), weighted(2, 1)});
    CHECK(weights(joined) == std::vector<float>{0.f, 0.25f, 0.5f});
    CHECK(weights(slice_frame(joined, 1, 3)) == std::vector<float>{0.25f, 0.5f});
    // Through the batcher, shuffled: each sample's weight is its label's.
    Batcher batcher(3, false, 4, 7);
    std::vector<Frame> ready;
    batcher.add(weighted(1, 0), ready);
    batcher.add(weighted(4, 1), ready);
    batcher.add(weighted(2, 5), ready);
    batcher.finish(ready);
    REQUIRE(ready.size() == 3);
    std::vector<int> all;
    for (const Frame& b : ready) {
        std::vector<float> w = weights(b);
        std::vector<int> y = labels(b);
        REQUIRE(w.size() == y.size());
        for (size_t i = 0; i < y.size(); ++i) CHECK(w[i] == 0.25f * float(y[i]));
        all.insert(all.end(), y.begin(), y.end());
    }
    std::sort(all.begin(), all.end());
    CHECK(all == std::vector<int>{0, 1, 2, 3, 4, 5, 6});
    // Tensors are matched by name, whatever order a producer wrote them in.
    Frame reordered = weighted(2, 7);
    std::swap(reordered.tensors[1], reordered.tensors[2]);  // x, w, y
    Frame mixed = concat_frames({weighted(1, 6), reordered});
    CHECK(labels(mixed) == std::vector<int>{6, 7, 8});
    CHECK(weights(mixed) == std::vector<float>{1.5f, 1.75f, 2.f});
    CHECK(mixed.tensors[1].name == "y");  // the first frame's order
    // A weight tensor in one frame and not in the next is a change of tensors, refused by name.
    CHECK_THROWS_WITH(concat_frames({weighted(1, 0), sample_frame(1, 1)}),
                      "frames disagree on their tensors (x, y, w then x, y)");
    Frame renamed = sample_frame(1, 1);
    renamed.tensors[1].name = "w";
    CHECK_THROWS_WITH(concat_frames({sample_frame(1, 0), renamed}), "frames disagree on their tensors (x, y then x, w)");
}

TEST_CASE("the batcher refuses a frame whose paths do not name its samples, even a frame of one", "[stream][batch]") {
    Batcher batcher(2, false, 0, 1);
    std::vector<Frame> ready;
    Frame f = sample_frame(1, 0);
    f.set_paths({"a.png", "b.png"});
    CHECK_THROWS_WITH(batcher.add(f, ready), "metadata \"paths\" has 2 entries for 1 samples");
}

TEST_CASE("joining frames whose sample shape differs names both shapes", "[stream][batch]") {
    Frame a = sample_frame(1, 0), b = sample_frame(1, 1);
    b.get("x").shape = {1, 1, 4, 3};
    CHECK_THROWS_WITH(concat_frames({a, b}), Catch::Contains("shape changed") && Catch::Contains("[*,1,4,3]"));
}

TEST_CASE("decode_frame reads no byte past an 8-byte file (fuzz finding)", "[stream][fuzz]") {
    // A header length alone, promising 280 header bytes: the file is cut inside its header.
    const uint8_t eight[8] = {0x18, 0x01, 0, 0, 0, 0, 0, 0};
    std::vector<uint8_t> exact(eight, eight + 8);  // its own allocation, so ASan sees any overread
    CHECK_THROWS_WITH(decode_frame(exact.data(), exact.size(), "m.model"),
                      "truncated frame (header: 0 of 280 bytes)");
}

namespace {
// The words each reader says of bytes: a pipe (FrameReader over an Input), a
// file's index (the nn tools' BatchFeed: read_frame over pread, headers only,
// then an epoch read), and a document in memory (decode_frame, as Model::load).
// "" when accepted.
struct Words {
    std::string pipe, index, document;
};

std::string message_of(const std::function<void()>& f, const std::string& where) {
    try {
        f();
    } catch (const DataError& e) {
        CHECK(e.status() == kDataErr);
        CHECK(e.where() == where);
        return e.what();
    }
    return "";
}

Words words_of(const std::vector<uint8_t>& bytes, const std::string& stream_where) {
    std::string path = temp_path();
    write_bytes(path, bytes);
    Words w;
    std::string frame_where = path + ": frame " + stream_where;
    w.pipe = message_of([&] {
        Input in(path);
        FrameReader reader(in, false);
        Frame f;
        while (reader.read(f)) {
        }
    }, frame_where);
    w.index = message_of([&] {
        BatchFeed feed(path, FeedOptions{});
        feed.begin_epoch(1);
        Frame f;
        while (feed.next(f)) {
        }
    }, frame_where);
    w.document = message_of([&] { decode_frame(bytes.data(), bytes.size(), path); }, path);
    unlink(path.c_str());
    return w;
}
}  // namespace

TEST_CASE("one framing step: a pipe, a file's index and a document refuse damage in the same words", "[stream]") {
    const std::vector<uint8_t> good = encode_frame(sample_frame(2, 0));
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | good[size_t(i)];
    const uint64_t data = good.size() - 8 - n;
    auto cut = [&](size_t size) { return std::vector<uint8_t>(good.begin(), good.begin() + long(size)); };
    auto same = [](const Words& w, const std::string& words) {
        CHECK(w.pipe == words);
        CHECK(w.index == words);
        CHECK(w.document == words);
    };
    SECTION("a good frame") { same(words_of(good, "1"), ""); }
    SECTION("cut in the length prefix") { same(words_of(cut(5), "1"), "truncated frame (5 of 8 length bytes)"); }
    SECTION("a foreign start") {
        same(words_of({'G', 'I', 'F', '8', '9', 'a', 1, 0, 0, 0, 0, 0}, "1"),
             "not safetensors (starts with 'GIF89a\\x01\\x00')");
    }
    SECTION("a length past the header limit") {
        std::vector<uint8_t> huge = good;
        huge[4] = 0x10;  // 64 GiB of header
        same(words_of(huge, "1"), "not safetensors (starts with '" + printable_start(huge.data(), 8) + "')");
    }
    SECTION("a small length before bytes that are not JSON") {
        std::vector<uint8_t> text = {16, 0, 0, 0, 0, 0, 0, 0, 'h', 'i'};
        same(words_of(text, "1"), "not safetensors (starts with '\\x10\\x00\\x00\\x00\\x00\\x00\\x00\\x00')");
    }
    SECTION("cut in the header") {
        same(words_of(cut(8 + 10), "1"), "truncated frame (header: 10 of " + std::to_string(n) + " bytes)");
    }
    SECTION("cut in the data") {
        same(words_of(cut(good.size() - 5), "1"),
             "truncated frame (data: " + std::to_string(data - 5) + " of " + std::to_string(data) + " bytes)");
    }
    SECTION("trailing bytes: a stream's next frame is cut, a document is padded") {
        std::vector<uint8_t> padded = good;
        padded.insert(padded.end(), 3, 0);
        Words w = words_of(padded, "2");
        CHECK(w.pipe == "truncated frame (3 of 8 length bytes)");
        CHECK(w.index == w.pipe);
        CHECK(w.document == "3 trailing bytes after the frame");
    }
}

TEST_CASE("a document of no bytes is a cut length prefix", "[stream]") {
    std::vector<uint8_t> none;
    CHECK_THROWS_WITH(decode_frame(none.data(), 0, "m.model"), "truncated frame (0 of 8 length bytes)");
}

TEST_CASE("read_frame over a file leaves it at the next frame, skipping the data", "[stream]") {
    std::vector<uint8_t> a = encode_frame(sample_frame(2, 0)), b = encode_frame(sample_frame(1, 2));
    std::vector<uint8_t> bytes = a;
    bytes.insert(bytes.end(), b.begin(), b.end());
    std::string path = temp_path();
    write_bytes(path, bytes);
    int fd = open(path.c_str(), O_RDONLY);
    FileSource src(fd, 0, bytes.size(), path);
    Frame f;
    std::vector<uint8_t> header;
    REQUIRE(read_frame(src, f, header, "f", true, false));
    CHECK(src.offset() == a.size());
    CHECK(f.samples() == 2);
    CHECK(f.get("x").data.empty());
    CHECK(std::string(header.begin(), header.end()).find("\"batchstream/1\"") != std::string::npos);
    REQUIRE(read_frame(src, f, header, "f", true, true));
    CHECK(src.offset() == bytes.size());
    CHECK(f.get("y").values<int32_t>()[0] == 2);
    CHECK_FALSE(read_frame(src, f, header, "f", true));
    close(fd);
    unlink(path.c_str());
}

TEST_CASE("the epoch writer batches, never spans epochs, and records skips", "[stream][epoch]") {
    char path[] = "/tmp/imgpipe-writer-XXXXXX";
    int fd = ::mkstemp(path);
    REQUIRE(fd >= 0);
    ::close(fd);
    {
        Output out(path, false);
        auto make_x = [](const std::vector<uint8_t>& pixels, int64_t k) {
            Tensor x("x", DType::U8, {k, 1, 1, 1});
            if (k) std::memcpy(x.data.data(), pixels.data(), pixels.size());
            return x;
        };
        TargetLayout layout;
        layout.y = TargetLayout::Y::classes;
        EpochWriter w(out, {{"format", kStreamFormat}, {"epoch_size", "3"}}, 2, layout, make_x);
        const uint8_t px[4] = {7, 8, 9, 10};
        auto label = [](int32_t c) {
            SampleTarget t;
            t.label = c;
            return t;
        };
        w.begin_epoch(0);
        w.add("a", label(0), px, 1);
        w.add("b", label(1), px + 1, 1);  // a full frame
        w.skip("bad");                    // the epoch's last file: recorded in a frame of no samples
        w.begin_epoch(1);
        w.skip("bad");  // rides on the epoch's next frame
        w.add("c", label(0), px + 2, 1);
        w.add("d", label(1), px + 3, 1);
        w.begin_epoch(-1);
        CHECK(w.written() == 4);
        out.commit();
    }
    Input in(path);
    FrameReader reader(in);
    std::vector<Frame> frames;
    Frame f;
    while (reader.read(f)) frames.push_back(f);  // the ledger finds every epoch whole
    ::unlink(path);
    REQUIRE(frames.size() == 3);
    CHECK(frames[0].samples() == 2);
    CHECK(frames[0].paths() == std::vector<std::string>{"a", "b"});
    CHECK(frames[1].samples() == 0);
    CHECK(skipped_paths(frames[1]) == std::vector<std::string>{"bad"});
    CHECK(frames[1].meta_int("epoch", -1) == 0);
    CHECK(frames[2].samples() == 2);
    CHECK(frames[2].meta_int("epoch", -1) == 1);
    CHECK(frames[2].meta_int("index", -1) == 0);
    CHECK(skipped_paths(frames[2]) == std::vector<std::string>{"bad"});
}

namespace {
// Writes `targets` (one sample each, U8 pixel = its position) with `layout`,
// `batch` a frame, skipping "bad" after the second; returns the frames read back.
std::vector<Frame> write_targets(const TargetLayout& layout, const std::vector<SampleTarget>& targets, int64_t batch) {
    std::string path = temp_path();
    {
        Output out(path, false);
        auto make_x = [](const std::vector<uint8_t>& pixels, int64_t k) {
            Tensor x("x", DType::F32, {k, 1, 1, 1});
            for (int64_t i = 0; i < k; ++i) x.values<float>()[i] = pixels[size_t(i)] / 2.0f;
            return x;
        };
        EpochWriter w(out, {{"format", kStreamFormat}, {"epoch_size", std::to_string(targets.size() + 1)}}, batch, layout, make_x);
        w.begin_epoch(0);
        for (size_t i = 0; i < targets.size(); ++i) {
            uint8_t px = uint8_t(i + 1);
            w.add("s" + std::to_string(i), targets[i], &px, 1);
            if (i == 1) w.skip("bad");
        }
        w.begin_epoch(-1);
        out.commit();
    }
    Input in(path);
    FrameReader reader(in);
    std::vector<Frame> frames;
    Frame f;
    while (reader.read(f)) frames.push_back(f);
    reader.ledger().finish(path);  // whole: the skipped row is recorded, in no frame
    ::unlink(path.c_str());
    return frames;
}
SampleTarget target(std::vector<int32_t> classes, std::vector<double> numbers, double weight) {
    SampleTarget t;
    t.classes = std::move(classes), t.numbers = std::move(numbers), t.weight = weight;
    return t;
}
std::vector<float> floats(const Tensor& t) { return std::vector<float>(t.values<float>(), t.values<float>() + t.elements()); }
}  // namespace

TEST_CASE("the epoch writer writes a multi-hot y and the weights", "[stream][epoch]") {
    TargetLayout layout;
    layout.y = TargetLayout::Y::multi_hot, layout.columns = 3, layout.weighted = true;
    auto frames = write_targets(layout, {target({0, 2}, {}, 0.5), target({}, {}, 0), target({1}, {}, 2.25)}, 2);
    REQUIRE(frames.size() == 2);
    const Tensor& y = frames[0].get("y");
    CHECK(y.dtype == DType::F32);
    CHECK(y.shape == std::vector<int64_t>{2, 3});
    CHECK(floats(y) == std::vector<float>{1, 0, 1, 0, 0, 0});
    CHECK(floats(frames[0].get("w")) == std::vector<float>{0.5f, 0});
    CHECK(skipped_paths(frames[1]) == std::vector<std::string>{"bad"});
    CHECK(frames[1].get("y").shape == std::vector<int64_t>{1, 3});
    CHECK(floats(frames[1].get("y")) == std::vector<float>{0, 1, 0});
    CHECK(floats(frames[1].get("w")) == std::vector<float>{2.25f});
    CHECK(frames[1].paths() == std::vector<std::string>{"s2"});
}

TEST_CASE("the epoch writer writes numbers as F32 [n, k], cast from the list's doubles", "[stream][epoch]") {
    TargetLayout layout;
    layout.y = TargetLayout::Y::numbers, layout.columns = 2;
    auto frames = write_targets(layout, {target({}, {0.1, -3}, 1), target({}, {3.4e38, 2.5}, 1)}, 4);
    REQUIRE(frames.size() == 1);
    const Tensor& y = frames[0].get("y");
    CHECK(y.shape == std::vector<int64_t>{2, 2});
    CHECK(floats(y) == std::vector<float>{0.1f, -3.0f, 3.4e38f, 2.5f});
    CHECK(frames[0].find("w") == nullptr);  // unweighted: no w
    CHECK(skipped_paths(frames[0]) == std::vector<std::string>{"bad"});
    // A double no F32 holds would become inf (numpy's astype): refused, naming the sample.
    CHECK_THROWS_WITH(write_targets(layout, {target({}, {1, 1e39}, 1)}, 1),
                      "1e+39 is beyond the range of F32 (3.40282e+38)");
}

TEST_CASE("the epoch writer's input mode writes y as x, dtype and values", "[stream][epoch]") {
    TargetLayout layout;
    layout.y = TargetLayout::Y::image;
    auto frames = write_targets(layout, {target({}, {}, 1), target({}, {}, 1), target({}, {}, 1)}, 3);
    REQUIRE(frames.size() == 1);
    const Tensor& x = frames[0].get("x");
    const Tensor& y = frames[0].get("y");
    CHECK(y.dtype == DType::F32);
    CHECK(y.shape == x.shape);
    CHECK(y.data == x.data);
    CHECK(floats(y) == std::vector<float>{0.5f, 1.0f, 1.5f});
}
