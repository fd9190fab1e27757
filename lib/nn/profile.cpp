// Profile (nn/engine.hpp): a RecordFunction observer that keeps each
// operator's and each span's start and end, written as a Chrome trace.
// libtorch's own profiler (RecordProfile) was tried first: it made the
// lecture CNN's step 5x slower and its elementwise operators 30x slower (its
// event lists leave the allocator faulting in fresh pages on every step),
// which is no measurement of anything. This one keeps 40 bytes an event.
#include <chrono>
#include <mutex>
#include <thread>
#include <unordered_map>

#include <ATen/record_function.h>
#include <nlohmann/json.hpp>

#include "cli/error.hpp"
#include "cli/io.hpp"
#include "nn/engine.hpp"

namespace imgpipe::nn {

namespace {
using Clock = std::chrono::steady_clock;

struct Event {
    uint32_t name, thread;
    int64_t start_ns, end_ns;
};

// What the observer records into: one recording at a time (the callbacks
// are plain functions).
struct Recording {
    std::mutex mutex;
    Clock::time_point origin = Clock::now();
    std::vector<Event> events;
    std::vector<std::string> names;
    std::unordered_map<std::string, uint32_t> name_index;  // names are interned: most repeat every step
    std::unordered_map<std::thread::id, uint32_t> threads;
};
Recording* recording = nullptr;

struct Start : at::ObserverContext {
    int64_t ns;
};

int64_t since_origin() { return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - recording->origin).count(); }

std::unique_ptr<at::ObserverContext> on_start(const at::RecordFunction&) {
    auto start = std::make_unique<Start>();
    start->ns = since_origin();
    return start;
}

void on_end(const at::RecordFunction& fn, at::ObserverContext* context) {
    const int64_t end = since_origin();
    Recording& r = *recording;
    std::lock_guard<std::mutex> lock(r.mutex);
    auto [name, fresh] = r.name_index.emplace(fn.name(), uint32_t(r.names.size()));
    if (fresh) r.names.push_back(fn.name());
    auto thread = r.threads.emplace(std::this_thread::get_id(), uint32_t(r.threads.size())).first;
    r.events.push_back({name->second, thread->second, static_cast<Start*>(context)->ns, end});
}

class TorchProfile : public Profile {
public:
    // The file is opened now: a path that cannot be written fails before the
    // work, not after it.
    explicit TorchProfile(const std::string& path) : out_(path, false) {
        if (recording) throw Error(kSoftware, "", "a profile is already recording");
        recording = &recording_;
        handle_ = at::addGlobalCallback(at::RecordFunctionCallback(&on_start, &on_end).needsInputs(false));
    }
    ~TorchProfile() override { stop(); }

    void save() override {
        stop();
        nlohmann::json events = nlohmann::json::array();
        for (const Event& e : recording_.events)
            events.push_back({{"name", recording_.names[e.name]}, {"ph", "X"}, {"pid", 0}, {"tid", e.thread},
                              {"ts", double(e.start_ns) / 1000}, {"dur", double(e.end_ns - e.start_ns) / 1000}});
        out_.write(nlohmann::json({{"traceEvents", events}, {"displayTimeUnit", "ms"}})
                       .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
        out_.write("\n");
        out_.commit();
    }

private:
    void stop() {
        if (recording != &recording_) return;
        at::removeCallback(handle_);
        recording = nullptr;
    }

    Output out_;
    Recording recording_;
    at::CallbackHandle handle_ = 0;
};
}  // namespace

std::unique_ptr<Profile> start_profile(const std::string& path) {
    if (path.empty()) return nullptr;
    if (path == "-") throw UsageError("--profile: give a file for the trace (stdout is the tool's output)");
    return std::make_unique<TorchProfile>(path);
}

}  // namespace imgpipe::nn
