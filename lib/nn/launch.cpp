#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "cli/app.hpp"
#include "nn/collective.hpp"
#include "nn/engine.hpp"

namespace imgpipe::nn {

namespace {

// OpenMP threads that spin while they wait collapse when another process wants
// the core (the other stages of a pipeline, a second job): measured here, the
// Fashion-MNIST CNN fell from 1,490 to 505 samples/s on 2 busy cores. libgomp
// reads OMP_WAIT_POLICY, and glog GLOG_minloglevel, once, as they load; and
// libc, as it starts, resets the environment a setenv would change. So when
// either is unset the tool runs itself again with them, from .preinit_array:
// after the loader, before any library's initializer, so that libtorch's
// second of start-up is not paid twice (an exec from main() cost 0.7-0.9 s).
void run_with_passive_openmp(int, char** argv, char** envp) {
    static const char* const wanted[] = {
        "OMP_WAIT_POLICY=PASSIVE",
        "GLOG_minloglevel=3",  // c10d logs what it also throws (which we report, in our words)
    };
    constexpr size_t kWanted = sizeof wanted / sizeof *wanted;
    bool present[kWanted] = {};
    size_t n = 0;
    for (; envp[n]; ++n)
        for (size_t k = 0; k < kWanted; ++k)
            present[k] |= std::strncmp(envp[n], wanted[k], size_t(std::strchr(wanted[k], '=') - wanted[k]) + 1) == 0;
    if (std::all_of(present, present + kWanted, [](bool p) { return p; })) return;  // set, or the user's choice
    std::vector<char*> env(envp, envp + n);  // malloc works here (glibc's early start-up is done)
    for (size_t k = 0; k < kWanted; ++k)
        if (!present[k]) env.push_back(const_cast<char*>(wanted[k]));
    env.push_back(nullptr);
    ::execve("/proc/self/exe", argv, env.data());
    // Without /proc (a chroot, say) the run goes on with spinning threads.
}

__attribute__((section(".preinit_array"), used)) void (*const run_first)(int, char**, char**) = run_with_passive_openmp;

}  // namespace

Placement find_placement(App& app, const PlacementOptions& options) {
    Placement placement = find_placement(options);
    if (placement.rank > 0) app.set_tool_label(app.tool() + " (rank " + std::to_string(placement.rank) + ")");
    return placement;
}

std::unique_ptr<Collective> start_world(App& app, const PlacementOptions& place, CollectiveOptions together,
                                        const std::string& device) {
    Placement placement = find_placement(app, place);
    configure_runtime(app.thread_count());
    together.device = device;
    return join_world(placement, together);
}

}  // namespace imgpipe::nn
