// Data-parallel training's one interface to the other processes (doc/design.md,
// "Data-parallel training"): where this process stands (its rank among `size`)
// and the few collective operations a training step needs. A world of one does nothing;
// a larger one runs on libtorch's c10d (Gloo on CPU, NCCL on CUDA), in
// collective.cpp, the only file that includes c10d. No torch type crosses
// this header beyond a declared at::Tensor.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cli/digest.hpp"

namespace at {
class Tensor;
}
namespace CLI {
class App;
}

namespace imgpipe {
class App;
}

namespace imgpipe::nn {

// The digest the ranks compare (cli/digest.hpp), by the name the nn tools use.
using imgpipe::Digest;

// Where this process stands, from the launcher's environment or the options.
struct Placement {
    int rank = 0, size = 1, local_rank = 0;
    std::string host;  // the rendezvous: rank 0's TCPStore (or torchrun's agent's)
    int port = 0;
    std::string launcher;      // "torchrun", "srun", "mpirun", "--rank" (the options), "" (one process)
    std::string store_prefix;  // torchrun's agent store: rank 0 is a client too, under this prefix
};

// The command line's --rank, --world-size and --master HOST:PORT (-1 / "": not given).
struct PlacementOptions {
    int rank = -1, world_size = -1;
    std::string master;
};

// The placement the options or the environment give, in this order: the
// options; torchrun's RANK/WORLD_SIZE/LOCAL_RANK; Slurm's SLURM_PROCID/
// SLURM_NTASKS/SLURM_LOCALID; Open MPI's OMPI_COMM_WORLD_RANK/SIZE/LOCAL_RANK;
// else a world of one. The rendezvous is --master or MASTER_ADDR:MASTER_PORT.
// UsageError for a placement that cannot be (rank 3 of 2, a world without a
// master). `env` is getenv, replaceable for tests.
Placement find_placement(const PlacementOptions& options,
                         const std::function<const char*(const char*)>& env = nullptr);

// find_placement for one of the nn tools: past rank 0, the tool's messages
// are labelled "TOOL (rank R)", as the others name it in theirs.
Placement find_placement(App& app, const PlacementOptions& options);

struct CollectiveOptions {
    double connect_timeout = 60;  // seconds for every rank to arrive at the rendezvous
    double timeout = 120;         // seconds one collective operation may wait for the others
    std::string device = "cpu";   // cpu: Gloo; cuda: NCCL (a CUDA build only)
};

// The nn tools' options for a data-parallel run: --rank, --world-size,
// --master, --connect-timeout, --timeout (nntrain(1), DISTRIBUTED TRAINING).
void add_world_options(CLI::App& cli, PlacementOptions& place, CollectiveOptions& together);

class Collective {
public:
    virtual ~Collective() = default;
    int rank() const { return placement_.rank; }
    int size() const { return placement_.size; }
    int local_rank() const { return placement_.local_rank; }
    const Placement& placement() const { return placement_; }

    // The gradients averaged over the ranks in parts, as DDP's buckets:
    // start_sum(part) starts summing one part over the ranks while backward
    // computes the rest (every rank must start the same parts in the same
    // order), and finish_average(flat) waits for every part started and
    // divides `flat`, which they make up, by the number of ranks.
    virtual void start_sum(const at::Tensor& part) { (void)part; }
    virtual void finish_average(at::Tensor& flat) { (void)flat; }
    // Rank 0's values on every rank, in place (weights, running statistics).
    virtual void broadcast(at::Tensor& flat) { (void)flat; }
    // Element-wise sums over the ranks, in place (scores, flags), in double.
    virtual void sum(std::vector<double>& values) { (void)values; }
    // Whether every rank has the same digest f (0: none, such as a pipe's), decided
    // alike on every rank: with f > 0 everywhere, n * sum(f^2) = sum(f)^2 exactly
    // when all are equal, and these sums are exact in doubles.
    bool same_everywhere(uint32_t f) {
        std::vector<double> sums = {f > 0 ? 1.0 : 0.0, double(f), double(f) * double(f)};
        sum(sums);
        double n = size();
        return sums[0] == n && n * sums[2] == sums[1] * sums[1];
    }
    // Rank 0's value on every rank (a seed drawn from the clock), exact to 64 bits.
    uint64_t from_root(uint64_t value) {
        if (size() == 1) return value;
        std::vector<double> parts(3, 0.0);  // 22 bits each: exact in a double's sum
        for (int i = 0; i < 3 && rank() == 0; ++i) parts[size_t(i)] = double((value >> (22 * i)) & 0x3fffff);
        sum(parts);
        return uint64_t(parts[0]) | uint64_t(parts[1]) << 22 | uint64_t(parts[2]) << 44;
    }
    // Every rank's bytes, in rank order, on rank 0 (an empty list on the
    // others): the pieces of an output only rank 0 writes.
    virtual std::vector<std::string> gather(const std::string& bytes) { return {bytes}; }
    // Runs f, this rank's part of the work; when it fails, the others are told
    // why before the error ends this rank, and name it in their errors.
    int run(const std::function<int()>& f);
    // Seconds this rank spent starting and waiting for gradient sums so far:
    // the communication a step adds beyond what backward hid (including the
    // wait for slower ranks).
    double averaging_seconds() const { return averaging_seconds_; }
    // Says, before this rank gives up, why: the others name it in their errors.
    virtual void fail(const std::string& message) { (void)message; }

protected:
    Placement placement_;
    double averaging_seconds_ = 0;
};

// The world `placement` describes: a world of one, or the process group,
// after every rank has joined (UnavailableError when they do not within the
// connect timeout). Errors of a later collective operation (a rank died,
// hung or failed) are UnavailableError too, naming the rank when it is known.
std::unique_ptr<Collective> join_world(const Placement& placement, const CollectiveOptions& options);
// What nneval and nnpredict do first: the placement (find_placement(app, ...)),
// the runtime at the tool's -j, then every rank joined, for `device`.
std::unique_ptr<Collective> start_world(App& app, const PlacementOptions& place, CollectiveOptions together,
                                        const std::string& device);

}  // namespace imgpipe::nn
