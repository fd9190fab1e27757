// libFuzzer target: the launchers' environment and --master (find_placement).
// The input is NUL-separated values for the variables below, in order, then
// --master. A placement either is a UsageError, or is one that can be: rank
// below size, a port in range and a host for more than one rank.
#include <string>
#include <vector>

#include "cli/error.hpp"
#include "fuzz.hpp"
#include "nn/collective.hpp"

using namespace imgpipe;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const char* const names[] = {
        "RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT", "TORCHELASTIC_USE_AGENT_STORE",
        "TORCHELASTIC_RESTART_COUNT", "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID", "OMPI_COMM_WORLD_RANK",
        "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_SIZE"};
    constexpr size_t kNames = sizeof names / sizeof names[0];
    std::vector<std::string> values;
    std::string text(reinterpret_cast<const char*>(data), size);
    for (size_t at = 0; values.size() <= kNames;) {
        size_t end = text.find('\0', at);
        values.push_back(text.substr(at, end == std::string::npos ? std::string::npos : end - at));
        if (end == std::string::npos) break;
        at = end + 1;
    }
    values.resize(kNames + 1);
    nn::PlacementOptions options;
    options.master = values[kNames];
    try {
        nn::Placement p = nn::find_placement(options, [&](const char* name) -> const char* {
            for (size_t i = 0; i < kNames; ++i)
                if (std::string(name) == names[i]) return values[i].empty() ? nullptr : values[i].c_str();
            return nullptr;
        });
        if (p.size < 1 || p.rank < 0 || p.rank >= p.size || p.local_rank < 0) fuzz::finding("placement", "rank out of range");
        if (p.size > 1 && (p.host.empty() || p.port < 1 || p.port > 65535)) fuzz::finding("placement", "no rendezvous");
    } catch (const UsageError&) {
    } catch (const std::exception& e) {
        fuzz::finding("exception other than UsageError", e.what());
    }
    return 0;
}
