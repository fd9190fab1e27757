#include <unistd.h>

#include <cstdlib>
#include <utility>

#include "cli/app.hpp"
#include "nn/collective.hpp"
#include "nn/engine.hpp"

namespace imgpipe::nn {

void exec_with_passive_openmp(char** argv) {
    bool again = false;
    for (auto [name, value] : {std::pair{"OMP_WAIT_POLICY", "PASSIVE"},
                               // c10d logs what it also throws (which we report, in our words)
                               std::pair{"GLOG_minloglevel", "3"}})
        if (!std::getenv(name)) again |= ::setenv(name, value, 1) == 0;  // unless the user's choice, or done
    if (!again) return;
    ::execv("/proc/self/exe", argv);
    // Without /proc (a chroot, say) the run goes on with spinning threads.
}

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
