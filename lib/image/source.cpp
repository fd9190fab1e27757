// Ordered parallel decoding: a ring of slots, issued in sequence order by the
// consumer, filled by whichever worker takes them, consumed in sequence order.
#include "image/source.hpp"

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

struct Slot {
    Item item;
    bool issued = false, done = false;
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
    std::unique_ptr<ImageLoader> loader;
    Slot single;

    // -j N: workers.
    std::vector<Slot> slots;
    uint64_t next_issue = 0, next_take = 0, next_consume = 0;
    bool returned_previous = false, stopping = false, exhausted = false;
    std::mutex mutex;
    std::condition_variable work_ready, work_done;
    std::vector<std::thread> workers;

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

    void decode(ImageLoader& l, Slot& s) {
        s.error = nullptr;
        if (s.item.known_bad) return;
        try {
            l.load_file(list.entries[s.item.entry].path, s.pixels.data());
            if (options.after_decode) options.after_decode(s.pixels.data(), s.item.epoch, s.item.position);
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

    void worker() {
        ImageLoader l(prep);
        for (;;) {
            Slot* s;
            {
                std::unique_lock<std::mutex> lock(mutex);
                work_ready.wait(lock, [&] { return stopping || next_take < next_issue; });
                if (stopping) return;
                s = &slots[next_take % slots.size()];
                ++next_take;
            }
            decode(l, *s);
            {
                std::lock_guard<std::mutex> lock(mutex);
                s->done = true;
            }
            work_done.notify_all();
        }
    }

    // Hands the slot of sequence number next_issue to the workers, if any work is left.
    void issue() {
        if (exhausted) return;
        Slot& s = slots[next_issue % slots.size()];
        Item it;
        exhausted = !make_item(it);
        std::lock_guard<std::mutex> lock(mutex);
        s.issued = !exhausted;
        s.done = false;
        if (exhausted) return;
        s.item = it;
        ++next_issue;
        work_ready.notify_one();
    }

    void start_workers() {
        slots.resize(size_t(std::max(4, 3 * options.threads)));
        for (Slot& s : slots) s.pixels.resize(prep.sample_bytes());
        for (size_t i = 0; i < slots.size(); ++i) issue();
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
        return true;
    }

    bool next_threaded(Sample& out) {
        for (;;) {
            if (returned_previous) {
                // The slot returned last time is free again: reuse it for new work.
                returned_previous = false;
                issue();
            }
            Slot& s = slots[next_consume % slots.size()];
            {
                std::unique_lock<std::mutex> lock(mutex);
                if (!s.issued) return false;
                work_done.wait(lock, [&] { return s.done; });
            }
            ++next_consume;
            returned_previous = true;
            if (s.item.epoch >= 1 && !good_seen) return false;
            if (!accept(s)) continue;
            out.epoch = s.item.epoch;
            out.position = s.item.position;
            out.entry = s.item.entry;
            out.pixels = s.pixels.data();
            return true;
        }
    }
};

SampleSource::SampleSource(const ImageList& list, const PrepOptions& prep, const SourceOptions& options, SkipHandler on_skip)
    : impl_(new Impl(list, prep, options, std::move(on_skip))) {
    if (options.threads <= 1) {
        impl_->loader.reset(new ImageLoader(impl_->prep));
        impl_->single.pixels.resize(prep.sample_bytes());
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
