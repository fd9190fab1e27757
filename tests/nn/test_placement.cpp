// find_placement: the launchers' environments and the options, in their order.
#include <catch2/catch.hpp>

#include <map>
#include <string>

#include "cli/error.hpp"
#include "nn/collective.hpp"

using namespace imgpipe;
using namespace imgpipe::nn;

namespace {
Placement place(const std::map<std::string, std::string>& vars, const PlacementOptions& options = {}) {
    return find_placement(options, [&](const char* name) -> const char* {
        auto it = vars.find(name);
        return it == vars.end() ? nullptr : it->second.c_str();
    });
}
std::string error_of(const std::map<std::string, std::string>& vars, const PlacementOptions& options = {}) {
    try {
        place(vars, options);
    } catch (const UsageError& e) {
        return e.what();
    }
    return "";
}
}  // namespace

TEST_CASE("no launcher, no options: a world of one", "[placement]") {
    Placement p = place({});
    CHECK(p.rank == 0);
    CHECK(p.size == 1);
    CHECK(p.launcher.empty());
    CHECK(place({{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "1"}}).size == 1);  // an sbatch job of one task
}

TEST_CASE("torchrun: RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT; its agent's store", "[placement]") {
    std::map<std::string, std::string> env = {{"RANK", "3"},          {"WORLD_SIZE", "4"},   {"LOCAL_RANK", "1"},
                                              {"MASTER_ADDR", "node7"}, {"MASTER_PORT", "29400"}};
    Placement p = place(env);
    CHECK(p.rank == 3);
    CHECK(p.size == 4);
    CHECK(p.local_rank == 1);
    CHECK(p.host == "node7");
    CHECK(p.port == 29400);
    CHECK(p.launcher == "torchrun");
    CHECK(p.store_prefix.empty());
    env["TORCHELASTIC_USE_AGENT_STORE"] = "True";
    env["TORCHELASTIC_RESTART_COUNT"] = "2";
    CHECK(place(env).store_prefix == "/worker/attempt_2");  // rank 0 too is the agent's client
}

TEST_CASE("srun and mpirun", "[placement]") {
    Placement s = place({{"SLURM_PROCID", "5"}, {"SLURM_NTASKS", "8"}, {"SLURM_LOCALID", "1"},
                         {"MASTER_ADDR", "10.0.0.1"}, {"MASTER_PORT", "12345"}});
    CHECK((s.rank == 5 && s.size == 8 && s.local_rank == 1 && s.launcher == "srun"));
    CHECK(error_of({{"SLURM_PROCID", "1"}, {"SLURM_NTASKS", "2"}}) ==
          "rank 1 of 2 (srun) has no rendezvous: give --master HOST:PORT, or set MASTER_ADDR and MASTER_PORT "
          "(rank 0's address and a free port)");
    // mpirun on one machine: rank 0 is local, at PyTorch's default port
    Placement m = place({{"OMPI_COMM_WORLD_RANK", "1"}, {"OMPI_COMM_WORLD_SIZE", "2"},
                         {"OMPI_COMM_WORLD_LOCAL_RANK", "1"}, {"OMPI_COMM_WORLD_LOCAL_SIZE", "2"}});
    CHECK((m.rank == 1 && m.size == 2 && m.local_rank == 1 && m.launcher == "mpirun"));
    CHECK((m.host == "127.0.0.1" && m.port == 29500));
    // over several machines it needs the address
    CHECK(!error_of({{"OMPI_COMM_WORLD_RANK", "1"}, {"OMPI_COMM_WORLD_SIZE", "4"}, {"OMPI_COMM_WORLD_LOCAL_SIZE", "2"}})
               .empty());
}

TEST_CASE("the options come first; --master over MASTER_ADDR", "[placement]") {
    PlacementOptions o;
    o.rank = 1;
    o.world_size = 2;
    o.master = "[::1]:29501";
    Placement p = place({{"RANK", "0"}, {"WORLD_SIZE", "8"}, {"MASTER_ADDR", "x"}, {"MASTER_PORT", "1"}}, o);
    CHECK((p.rank == 1 && p.size == 2 && p.local_rank == 1 && p.launcher == "--rank"));
    CHECK((p.host == "::1" && p.port == 29501));
}

TEST_CASE("placements that cannot be are usage errors", "[placement]") {
    PlacementOptions half;
    half.rank = 0;
    CHECK(error_of({}, half) ==
          "--rank and --world-size go together (and --master HOST:PORT, or MASTER_ADDR and MASTER_PORT)");
    CHECK(error_of({{"RANK", "2"}, {"WORLD_SIZE", "2"}}) == "rank 2 is not below the world size 2 (ranks count from 0)");
    CHECK(error_of({{"RANK", "0"}, {"WORLD_SIZE", "0"}}) == "the world size is 0 (torchrun)");
    CHECK(error_of({{"RANK", "-1"}, {"WORLD_SIZE", "2"}}) == "RANK is \"-1\", not a whole number");
    CHECK(error_of({{"RANK", "1x"}, {"WORLD_SIZE", "2"}}) == "RANK is \"1x\", not a whole number");
    // the fuzzer's: a number past int's range once became a negative rank
    CHECK(error_of({{"RANK", "34444444444444444"}, {"WORLD_SIZE", "2"}}) ==
          "RANK is \"34444444444444444\", not a whole number");
    CHECK(error_of({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"LOCAL_RANK", "4294967296"}}) ==
          "LOCAL_RANK is \"4294967296\", not a whole number");
    for (const char* bad : {"host", "host:", ":29500", "host:0", "host:65536", "host:12a"})
        CHECK(error_of({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "h"}, {"MASTER_PORT", "1"}},
                       [&] {
                           PlacementOptions o;
                           o.master = bad;
                           return o;
                       }())
                  .find("--master wants HOST:PORT") == 0);
}
