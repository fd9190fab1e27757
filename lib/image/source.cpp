// Ordered parallel decoding: a ring of slots, issued in sequence order by the
// consumer, filled by whichever worker takes them, consumed in sequence order.
//
// Hand-offs are batched. Handing over one image at a time (a ring of 3 slots
// a thread, refilled one slot per image, a wake-up per slot) cost more than a
// small image takes to decode: on 2 cores -j 2 was 1.06x -j 1 on 28x28 PNGs
// (Fashion-MNIST), 1.69x on 64x64 PNGs, the workers waiting for the consumer
// and the consumer for them, a futex wake and a context switch per image
// (bench/results/imgprep-threads.md). Now a worker takes a run of up to
// `chunk` images at once, the consumer refills the ring only when a chunk's
// worth of slots is free, and nobody is woken who is not waiting. A consumer
// that would wait decodes a share of the untaken work itself instead (ten
// times fewer context switches on Fashion-MNIST at -j 2).
#include "image/source.hpp"

#include <algorithm>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cli/random.hpp"

namespace imgpipe {

namespace {
struct Item {
    int64_t epoch = 0, position = 0;
    size_t entry = 0;
    bool known_bad = false;  // found bad in an earlier epoch: not decoded again
};

// One decoding thread's decoders: images, and masks for pairs.
struct Decoders {
    ImageLoader image;
    std::unique_ptr<MaskDecoder> masks;
    Decoders(const PrepOptions& prep, const SourceOptions& options) : image(prep) {
        if (options.masks) masks.reset(new MaskDecoder(*options.masks, prep.max_pixels));
    }
};

struct Slot {
    Item item;
    bool done = false;
    std::vector<uint8_t> pixels;
    std::exception_ptr error;
};
}  // namespace

struct SampleSource::Impl {
    const ImageList& list;
    PrepOptions prep;
    SourceOptions options;
    SkipHandler on_skip;
    const uint64_t n;

    // Issuing (consumer thread only).
    int64_t issue_epoch = -1;
    uint64_t issue_position = 0;
    std::vector<uint64_t> order;
    std::vector<char> bad;
    bool good_seen = false;
    int64_t skipped = 0;
    std::vector<Item> passed_over;  // bad items not yet handed to take_skipped()

    // -j 1: decoded here.
    std::unique_ptr<Decoders> loader;
    Slot single;

    // -j N: workers. Sequence numbers: issued < next_issue, taken by a
    // worker < next_take, handed to the caller < next_consume; the slot of
    // sequence k is slots[k % slots.size()].
    std::vector<Slot> slots;
    size_t chunk = 1;  // the most a worker takes at once, and the refill step
    uint64_t next_issue = 0, next_take = 0, next_consume = 0;
    bool stopping = false, exhausted = false;
    bool consumer_waiting = false;  // for the slot of sequence waiting_for: the worker that fills it wakes it
    uint64_t waiting_for = 0;
    int idle_workers = 0;
    std::mutex mutex;
    std::condition_variable work_ready, work_done;
    std::vector<std::thread> workers;
    std::unique_ptr<Decoders> helper;  // the consumer's, for when it would wait

    Impl(const ImageList& l, const PrepOptions& p, const SourceOptions& o, SkipHandler h)
        : list(l), prep(p), options(o), on_skip(std::move(h)), n(l.entries.size()), bad(l.entries.size(), 0) {
        if (prep.warn) {
            // Decoder warnings come from any worker, and again each epoch:
            // one line each, once.
            struct Said {
                std::mutex mutex;
                std::set<std::string> lines;
            };
            auto said = std::make_shared<Said>();
            prep.warn = [said, to = prep.warn](const std::string& where, const std::string& message) {
                std::lock_guard<std::mutex> lock(said->mutex);
                if (said->lines.insert(where + '\0' + message).second) to(where, message);
            };
        }
    }

    // The next item in output order; false when every epoch has been issued.
    bool make_item(Item& it) {
        if (n == 0) return false;
        if (issue_epoch < 0 || issue_position == n) {
            if (options.epochs > 0 && issue_epoch + 1 >= options.epochs) return false;
            ++issue_epoch;
            issue_position = 0;
            if (options.shuffle) order = permutation(n, options.seed, uint64_t(issue_epoch));
        }
        it.epoch = issue_epoch;
        it.position = int64_t(issue_position);
        it.entry = options.shuffle ? size_t(order[issue_position]) : size_t(issue_position);
        it.known_bad = bad[it.entry] != 0;
        ++issue_position;
        return true;
    }

    // The bytes of a slot: the image, then its mask.
    size_t slot_bytes() const { return prep.sample_bytes() + (options.masks ? size_t(prep.width) * size_t(prep.height) : 0); }
    uint8_t* mask_of(Slot& s) const { return options.masks ? s.pixels.data() + prep.sample_bytes() : nullptr; }

    void decode(Decoders& d, Slot& s) {
        s.error = nullptr;
        if (s.item.known_bad) return;
        try {
            const ListEntry& e = list.entries[s.item.entry];
            if (d.masks) d.image.load_pair(e.path, e.mask, *d.masks, s.pixels.data(), mask_of(s));
            else d.image.load_file(e.path, s.pixels.data());
            if (options.after_decode) options.after_decode(s.pixels.data(), mask_of(s), s.item.epoch, s.item.position);
        } catch (...) {
            s.error = std::current_exception();
        }
    }

    // Decides what the consumer does with a decoded slot: true to return it.
    bool accept(Slot& s) {
        if (bad[s.item.entry]) {  // skipped once already: quietly again
            passed_over.push_back(s.item);
            return false;
        }
        if (!s.error) {
            good_seen = true;
            return true;
        }
        try {
            std::rethrow_exception(s.error);
        } catch (const Error& e) {
            if (!options.keep_going) throw;
            bad[s.item.entry] = 1;
            ++skipped;
            if (on_skip) on_skip(e);
            passed_over.push_back(s.item);
        }
        return false;
    }

    // Takes a fair share of the issued work no one has taken, at most a
    // chunk (every decoder gets some); false if there is none. Under `mutex`.
    bool take(uint64_t& first, uint64_t& count) {
        if (next_take == next_issue) return false;
        const uint64_t decoders = uint64_t(options.threads) + 1;  // the consumer helps
        count = std::min<uint64_t>(chunk, std::max<uint64_t>(1, (next_issue - next_take) / decoders));
        first = next_take;
        next_take += count;
        return true;
    }

    // Decodes sequences [first, first + count); false if stopping.
    bool fill(Decoders& l, uint64_t first, uint64_t count) {
        for (uint64_t k = first; k < first + count; ++k) {
            Slot& s = slots[k % slots.size()];
            decode(l, s);
            bool wake;
            {
                std::lock_guard<std::mutex> lock(mutex);
                if (stopping) return false;
                s.done = true;
                wake = consumer_waiting && k == waiting_for;
            }
            if (wake) work_done.notify_one();
        }
        return true;
    }

    void worker() {
        Decoders l(prep, options);
        for (;;) {
            uint64_t first, count;
            {
                std::unique_lock<std::mutex> lock(mutex);
                if (!stopping && next_take == next_issue) {
                    ++idle_workers;
                    work_ready.wait(lock, [&] { return stopping || next_take < next_issue; });
                    --idle_workers;
                }
                if (stopping) return;
                take(first, count);
            }
            if (!fill(l, first, count)) return;
        }
    }

    // Hands every free slot to the workers, in sequence order, while work is left.
    void refill() {
        std::vector<Item> items;
        while (!exhausted && next_issue + items.size() - next_consume < slots.size()) {
            Item it;
            if (make_item(it)) items.push_back(it);
            else exhausted = true;
        }
        if (items.empty()) return;
        bool wake;
        {
            std::lock_guard<std::mutex> lock(mutex);
            for (const Item& it : items) {
                Slot& s = slots[next_issue % slots.size()];
                s.item = it;
                s.done = false;
                ++next_issue;
            }
            wake = idle_workers > 0;
        }
        if (wake) work_ready.notify_all();
    }

    void start_workers() {
        // Chunks of up to 64 images and 1 MB of pixels: with two chunks a
        // thread in flight, memory stays under 2 MB a thread, and large
        // outputs (whose decoding dwarfs a hand-off) go one at a time. (16
        // images a chunk left -j 2 on 28x28 PNGs 15% slower: the deeper ring
        // rides out the time slices the writing thread loses to the workers.)
        const size_t threads = size_t(options.threads);
        chunk = std::max<size_t>(1, std::min<size_t>(64, (size_t(1) << 20) / std::max<size_t>(1, slot_bytes())));
        slots.resize(std::max({size_t(4), 3 * threads, 2 * chunk * threads}));
        for (Slot& s : slots) s.pixels.resize(slot_bytes());
        helper.reset(new Decoders(prep, options));
        refill();
        for (int i = 0; i < options.threads; ++i) workers.emplace_back([this] { worker(); });
    }

    void stop_workers() {
        {
            std::lock_guard<std::mutex> lock(mutex);
            stopping = true;
        }
        work_ready.notify_all();
        for (std::thread& t : workers) t.join();
        workers.clear();
    }

    bool next_single(Sample& out) {
        Item it;
        for (;;) {
            if (!make_item(it)) return false;
            if (it.epoch >= 1 && !good_seen) return false;  // every file is bad: no point in going on
            single.item = it;
            decode(*loader, single);
            if (accept(single)) break;
        }
        out.epoch = it.epoch;
        out.position = it.position;
        out.entry = it.entry;
        out.pixels = single.pixels.data();
        out.mask = mask_of(single);
        return true;
    }

    bool next_threaded(Sample& out) {
        for (;;) {
            // Every slot before next_consume is free again (the caller is done
            // with the last one returned): refill a chunk's worth at a time.
            if (next_consume == next_issue || next_issue - next_consume + chunk <= slots.size()) refill();
            if (next_consume == next_issue) return false;  // every epoch issued and consumed
            Slot& s = slots[next_consume % slots.size()];
            {
                std::unique_lock<std::mutex> lock(mutex);
                uint64_t first, count;
                // Rather than sleep while a worker decodes this slot, decode
                // what no one has taken: the consumer's core is not left idle
                // and no wake-up is needed.
                if (!s.done && take(first, count)) {
                    lock.unlock();
                    fill(*helper, first, count);
                    continue;
                }
                if (!s.done) {
                    consumer_waiting = true;
                    waiting_for = next_consume;
                    work_done.wait(lock, [&] { return s.done; });
                    consumer_waiting = false;
                }
            }
            ++next_consume;
            if (s.item.epoch >= 1 && !good_seen) return false;
            if (!accept(s)) continue;
            out.epoch = s.item.epoch;
            out.position = s.item.position;
            out.entry = s.item.entry;
            out.pixels = s.pixels.data();
            out.mask = mask_of(s);
            return true;
        }
    }
};

SampleSource::SampleSource(const ImageList& list, const PrepOptions& prep, const SourceOptions& options, SkipHandler on_skip)
    : impl_(new Impl(list, prep, options, std::move(on_skip))) {
    if (options.threads <= 1) {
        impl_->loader.reset(new Decoders(impl_->prep, options));
        impl_->single.pixels.resize(impl_->slot_bytes());
    } else {
        impl_->start_workers();
    }
}

SampleSource::~SampleSource() { impl_->stop_workers(); }

bool SampleSource::next(Sample& sample) {
    return impl_->loader ? impl_->next_single(sample) : impl_->next_threaded(sample);
}

int64_t SampleSource::skipped() const { return impl_->skipped; }

std::vector<Sample> SampleSource::take_skipped() {
    std::vector<Sample> out;
    for (const auto& it : impl_->passed_over) {
        Sample s;
        s.epoch = it.epoch;
        s.position = it.position;
        s.entry = it.entry;
        out.push_back(s);
    }
    impl_->passed_over.clear();
    return out;
}

}  // namespace imgpipe
