// Where a process of a distributed run stands, read from the launchers people
// already use (torchrun, Slurm's srun, Open MPI's mpirun) or from the options
// of a run started by hand. Torch-free: the process group is collective.cpp's.
#include <cerrno>
#include <cstdlib>

#include <CLI/CLI.hpp>

#include "cli/error.hpp"
#include "nn/collective.hpp"

namespace imgpipe::nn {

namespace {

// A whole decimal number from 0 to 2^24 (more ranks, or ports, than any run has), or -1.
long whole_number(const char* text) {
    if (!text || !*text) return -1;
    errno = 0;
    char* end = nullptr;
    long v = std::strtol(text, &end, 10);
    if (*end || errno || v < 0 || v > (1 << 24) || text[0] == '-' || text[0] == '+' || text[0] == ' ') return -1;
    return v;
}

// "HOST:PORT" or "[IPv6]:PORT".
void parse_master(const std::string& text, const std::string& what, Placement& p) {
    size_t colon = text.rfind(':');
    long port = colon == std::string::npos ? -1 : whole_number(text.c_str() + colon + 1);
    std::string host = colon == std::string::npos ? "" : text.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    if (host.empty() || port < 1 || port > 65535)
        throw UsageError(what + " wants HOST:PORT (rank 0's address and a free port, e.g. 127.0.0.1:29500), not \"" +
                         text + "\"");
    p.host = host;
    p.port = int(port);
}

}  // namespace

Placement find_placement(const PlacementOptions& options, const std::function<const char*(const char*)>& env_in) {
    auto env = [&](const char* name) -> const char* {
        const char* v = env_in ? env_in(name) : std::getenv(name);
        return v && *v ? v : nullptr;
    };
    // One launcher's three variables: all numbers, or an error naming the bad one.
    auto number = [&](const char* name) {
        long v = whole_number(env(name));
        if (v < 0) throw UsageError(std::string(name) + " is \"" + env(name) + "\", not a whole number");
        return int(v);
    };
    Placement p;
    bool by_hand = options.rank >= 0 || options.world_size >= 0;
    if (by_hand) {
        if (options.rank < 0 || options.world_size < 0)
            throw UsageError("--rank and --world-size go together (and --master HOST:PORT, or MASTER_ADDR and MASTER_PORT)");
        p.rank = options.rank;
        p.size = options.world_size;
        p.local_rank = env("LOCAL_RANK") ? number("LOCAL_RANK") : options.rank;
        p.launcher = "--rank";
    } else {
        // The launchers' variables for rank, size and local rank, in their order.
        struct Launcher { const char *name, *rank, *size, *local; };
        static const Launcher launchers[] = {
            {"torchrun", "RANK", "WORLD_SIZE", "LOCAL_RANK"},
            {"srun", "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID"},
            {"mpirun", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK"}};
        for (const Launcher& l : launchers) {
            if (!env(l.rank) || !env(l.size)) continue;
            p.rank = number(l.rank);
            p.size = number(l.size);
            p.local_rank = env(l.local) ? number(l.local) : 0;
            p.launcher = l.name;
            break;
        }
        // Under torchrun's agent the launcher serves the store on MASTER_PORT:
        // every rank is its client, under the prefix PyTorch's env:// uses.
        if (const char* agent = env("TORCHELASTIC_USE_AGENT_STORE");
            p.launcher == "torchrun" && agent && std::string(agent) == "True")
            p.store_prefix = "/worker/attempt_" +
                             std::to_string(env("TORCHELASTIC_RESTART_COUNT") ? number("TORCHELASTIC_RESTART_COUNT") : 0);
    }
    if (p.size < 1) throw UsageError("the world size is 0 (" + p.launcher + ")");
    if (p.rank >= p.size)
        throw UsageError("rank " + std::to_string(p.rank) + " is not below the world size " + std::to_string(p.size) +
                         " (ranks count from 0)");
    if (p.size == 1) return p;

    if (!options.master.empty()) {
        parse_master(options.master, "--master", p);
    } else if (env("MASTER_ADDR") && env("MASTER_PORT")) {
        parse_master(std::string(env("MASTER_ADDR")) + ":" + env("MASTER_PORT"), "MASTER_ADDR:MASTER_PORT", p);
    } else if (p.launcher == "mpirun" && env("OMPI_COMM_WORLD_LOCAL_SIZE") &&
               std::string(env("OMPI_COMM_WORLD_LOCAL_SIZE")) == env("OMPI_COMM_WORLD_SIZE")) {
        p.host = "127.0.0.1";  // every rank on this machine: PyTorch's default port
        p.port = 29500;
    } else {
        throw UsageError("rank " + std::to_string(p.rank) + " of " + std::to_string(p.size) + " (" + p.launcher +
                         ") has no rendezvous: give --master HOST:PORT, or set MASTER_ADDR and MASTER_PORT "
                         "(rank 0's address and a free port)");
    }
    return p;
}

void add_world_options(CLI::App& cli, PlacementOptions& place, CollectiveOptions& together) {
    cli.add_option("--rank", place.rank, "This process's rank in a data-parallel run started by hand (from 0)")
        ->check(CLI::NonNegativeNumber);
    cli.add_option("--world-size", place.world_size, "Processes in the data-parallel run")->check(CLI::PositiveNumber);
    cli.add_option("--master", place.master, "Rank 0's HOST:PORT for the rendezvous (default MASTER_ADDR:MASTER_PORT)");
    cli.add_option("--connect-timeout", together.connect_timeout,
                   "Seconds for every rank to arrive at the rendezvous (default 60)")
        ->check(CLI::PositiveNumber);
    cli.add_option("--timeout", together.timeout, "Seconds a rank waits for the others at a step (default 120)")
        ->check(CLI::PositiveNumber);
}

int Collective::run(const std::function<int()>& f) {
    try {
        return f();
    } catch (const Error& e) {
        if (e.status() != kUnavailable) fail((e.where().empty() ? "" : e.where() + ": ") + e.what());
        throw;
    }
}

}  // namespace imgpipe::nn
