// The process group behind nn/collective.hpp: libtorch's c10d, as PyTorch's
// DistributedDataParallel uses it. Gloo on CPU (compiled into libtorch_cpu;
// the headers need -DUSE_C10D_GLOO), NCCL on CUDA (a CUDA libtorch, built with
// -DUSE_C10D_NCCL). The only file that includes c10d, and it builds against
// libtorch 1.13 (Debian 12) and 2.x, whose signatures moved a little.
#include <ATen/ATen.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/types.h>
#ifdef USE_C10D_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>

#include "cli/error.hpp"
#include "nn/collective.hpp"

namespace imgpipe::nn {

namespace {

using c10d::ProcessGroupGloo;

// Gloo's device factories gained a lazyInit flag in libtorch 2.x: call either.
template <class G>
auto host_device(const std::string& host, int) -> decltype(G::createDeviceForHostname(host, false)) {
    return G::createDeviceForHostname(host, false);
}
template <class G>
auto host_device(const std::string& host, long) -> decltype(G::createDeviceForHostname(host)) {
    return G::createDeviceForHostname(host);
}
template <class G>
auto interface_device(const std::string& name, int) -> decltype(G::createDeviceForInterface(name, false)) {
    return G::createDeviceForInterface(name, false);
}
template <class G>
auto interface_device(const std::string& name, long) -> decltype(G::createDeviceForInterface(name)) {
    return G::createDeviceForInterface(name);
}

bool is_loopback(const std::string& host) {
    return host == "localhost" || host.rfind("127.", 0) == 0 || host == "::1";
}

std::chrono::milliseconds millis(double seconds) {
    return std::chrono::milliseconds(int64_t(seconds * 1000));
}

std::string seconds_text(double s) {
    char text[32];
    std::snprintf(text, sizeof text, "%g s", s);
    return text;
}

std::string arrived_key(int rank) { return "imgpipe/arrived/" + std::to_string(rank); }

std::string host_and_pid() {
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    return std::string(host) + " " + std::to_string(::getpid());
}

template <class Group>
class GroupCollective final : public Collective {
public:
    GroupCollective(const Placement& p, c10::intrusive_ptr<c10d::Store> store, c10::intrusive_ptr<Group> group,
                    torch::Device device, double timeout)
        : store_(std::move(store)), group_(std::move(group)), device_(device), timeout_(timeout) {
        placement_ = p;
    }

    void start_sum(const at::Tensor& part) override {
        if (part.numel() == 0) return;
        auto start = std::chrono::steady_clock::now();
        std::vector<at::Tensor> tensors{part};
        c10d::AllreduceOptions sum;
        sum.reduceOp = c10d::ReduceOp::SUM;  // Gloo's AVG from a worker thread ends the process: sum, then divide
        guarded("averaging gradients", [&] { works_.push_back(group_->allreduce(tensors, sum)); });
        averaging_seconds_ += seconds_since(start);
    }

    void finish_average(at::Tensor& flat) override {
        auto start = std::chrono::steady_clock::now();
        std::vector<c10::intrusive_ptr<c10d::Work>> works;
        works.swap(works_);
        guarded("averaging gradients", [&] {
            for (auto& work : works) work->wait();
        });
        flat.div_(double(size()));
        averaging_seconds_ += seconds_since(start);
    }

    void broadcast(at::Tensor& flat) override {
        if (flat.numel() == 0) return;
        std::vector<at::Tensor> tensors{flat};
        c10d::BroadcastOptions from_root;
        from_root.rootRank = 0;
        guarded("broadcasting rank 0's weights", [&] { group_->broadcast(tensors, from_root)->wait(); });
    }

    void sum(std::vector<double>& values) override {
        if (values.empty()) return;
        at::Tensor t = torch::tensor(values, torch::kDouble).to(device_);
        std::vector<at::Tensor> tensors{t};
        c10d::AllreduceOptions sum;
        sum.reduceOp = c10d::ReduceOp::SUM;
        guarded("agreeing with the other ranks", [&] { group_->allreduce(tensors, sum)->wait(); });
        t = t.to(torch::kCPU).contiguous();
        std::copy(t.data_ptr<double>(), t.data_ptr<double>() + values.size(), values.begin());
    }

    std::vector<std::string> gather(const std::string& bytes) override {
        std::vector<double> sizes(size_t(size()), 0.0);  // every rank learns every size: one allreduce
        sizes[size_t(rank())] = double(bytes.size());
        sum(sizes);
        int64_t longest = int64_t(*std::max_element(sizes.begin(), sizes.end()));
        if (longest == 0) return rank() == 0 ? std::vector<std::string>(size_t(size())) : std::vector<std::string>{};
        // Gloo gathers tensors of one size: each rank's bytes padded to the longest.
        at::Tensor mine = torch::zeros({longest}, torch::kUInt8);
        std::copy(bytes.begin(), bytes.end(), mine.data_ptr<uint8_t>());
        std::vector<at::Tensor> inputs{mine.to(device_)};
        std::vector<std::vector<at::Tensor>> outputs(rank() == 0 ? 1 : 0);
        for (int r = 0; r < size() && rank() == 0; ++r) outputs[0].push_back(torch::empty({longest}, inputs[0].options()));
        c10d::GatherOptions to_root;
        to_root.rootRank = 0;
        guarded("gathering the ranks' outputs", [&] { group_->gather(outputs, inputs, to_root)->wait(); });
        std::vector<std::string> all;
        for (int r = 0; r < size() && rank() == 0; ++r) {
            at::Tensor t = outputs[0][size_t(r)].to(torch::kCPU);
            const char* p = reinterpret_cast<const char*>(t.data_ptr<uint8_t>());
            all.emplace_back(p, p + int64_t(sizes[size_t(r)]));
        }
        return all;
    }

    void fail(const std::string& message) override {
        try {
            store_->set(failure_key(rank()), std::vector<uint8_t>(message.begin(), message.end()));
        } catch (const std::exception&) {  // the store is gone too: the others will say so
        }
    }

private:
    static std::string failure_key(int rank) { return "imgpipe/failed/" + std::to_string(rank); }

    // Runs a collective operation; its failure becomes an error that names
    // the rank that gave up, when it said so before it went.
    template <class F>
    void guarded(const char* doing, F&& f) {
        try {
            f();
        } catch (const std::exception& e) {
            throw UnavailableError("", std::string(doing) + ": " + blame(e.what()));
        }
    }

    std::string blame(const std::string& what) {
        bool timed_out = what.find("imed out") != std::string::npos;
        try {
            for (int r = 0; r < size(); ++r) {
                if (r == rank() || !store_->check({failure_key(r)})) continue;
                std::vector<uint8_t> m = store_->get(failure_key(r));
                return "rank " + std::to_string(r) + " failed: " + std::string(m.begin(), m.end());
            }
        } catch (const std::exception&) {
            if (placement_.store_prefix.empty() && rank() != 0)
                return "rank 0 is gone (it ended, or was killed; its messages say why)";
        }
        if (timed_out)
            return "no answer from every rank within " + seconds_text(timeout_) +
                   " (--timeout): a rank hung, was stopped, or waits on its input";
        return gone_rank() + " ended without a word (killed, or out of memory?): " + first_line(what);
    }

    // Which rank went without a word: of two, the other one; else a rank on
    // this machine whose process is gone (each left its host and pid when it
    // arrived); else "a rank".
    std::string gone_rank() {
        if (size() == 2) return "rank " + std::to_string(1 - rank());
        std::string me = host_and_pid(), here = me.substr(0, me.rfind(' '));
        std::string gone;
        try {
            for (int r = 0; r < size(); ++r) {
                if (r == rank()) continue;
                std::vector<uint8_t> v = store_->get(arrived_key(r));
                std::string there(v.begin(), v.end());
                size_t space = there.rfind(' ');
                if (space == std::string::npos || there.substr(0, space) != here) continue;
                long pid = std::atol(there.c_str() + space + 1);
                if (pid > 0 && ::kill(pid_t(pid), 0) != 0 && errno == ESRCH)
                    gone += (gone.empty() ? "rank " : ", rank ") + std::to_string(r) + " (pid " + std::to_string(pid) + ")";
            }
        } catch (const std::exception&) {
        }
        return gone.empty() ? "a rank" : gone;
    }

    static std::string first_line(const std::string& text) {
        std::string line = text.substr(0, text.find('\n'));
        // c10d's messages start with the source location in brackets: keep the words.
        if (size_t close = line.find("] "); line.rfind("[", 0) == 0 && close != std::string::npos) line.erase(0, close + 2);
        return line;
    }

    static double seconds_since(std::chrono::steady_clock::time_point start) {
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    }

    c10::intrusive_ptr<c10d::Store> store_;
    c10::intrusive_ptr<Group> group_;
    std::vector<c10::intrusive_ptr<c10d::Work>> works_;  // the gradient sums started and not yet waited for
    torch::Device device_;
    double timeout_;
};

c10::intrusive_ptr<c10d::Store> rendezvous(const Placement& p, const CollectiveOptions& o) {
    c10d::TCPStoreOptions so;
    so.port = uint16_t(p.port);
    so.isServer = p.rank == 0 && p.store_prefix.empty();
    so.waitWorkers = true;  // in libtorch 1.13 a client counts itself in only when it waits too
    // The server does not wait (1.13's wait ends silently at the timeout): every rank checks in below.
    so.timeout = millis(o.connect_timeout);
    std::string where = p.host + ":" + std::to_string(p.port);
    c10::intrusive_ptr<c10d::Store> store;
    try {
        store = c10::make_intrusive<c10d::TCPStore>(p.host, so);
    } catch (const std::exception& e) {
        std::string what = e.what();
        std::string why = what.find("Address already in use") != std::string::npos
                              ? "the port is taken (another job on it? pick another --master port)"
                          : "no rank 0 there within " + seconds_text(o.connect_timeout) +
                                              " (--connect-timeout); is rank 0 running, and the address right?";
        throw UnavailableError("", "rendezvous at " + where + ": " + why);
    }
    if (!p.store_prefix.empty()) store = c10::make_intrusive<c10d::PrefixStore>(p.store_prefix, store);
    // Every rank says it came, and waits for the others: those missing are named.
    std::vector<std::string> keys;
    for (int r = 0; r < p.size; ++r) keys.push_back(arrived_key(r));
    try {
        std::string me = host_and_pid();  // for naming this rank if it goes without a word
        store->set(keys[size_t(p.rank)], std::vector<uint8_t>(me.begin(), me.end()));
        store->wait(keys, millis(o.connect_timeout));
    } catch (const std::exception&) {
        std::string missing;
        int count = 0;
        try {
            for (int r = 0; r < p.size; ++r)
                if (!store->check({keys[size_t(r)]})) missing += (count++ ? ", " : "") + std::to_string(r);
        } catch (const std::exception&) {
            throw UnavailableError("", "rendezvous at " + where + ": rank 0, which holds it, is gone");
        }
        throw UnavailableError("", "rendezvous at " + where + ": rank" + (count > 1 ? "s " : " ") + missing + " of " +
                                       std::to_string(p.size) + " did not arrive within " +
                                       seconds_text(o.connect_timeout) + " (--connect-timeout)");
    }
    return store;
}

}  // namespace

std::unique_ptr<Collective> join_world(const Placement& p, const CollectiveOptions& o) {
    if (p.size <= 1) {
        return std::make_unique<Collective>();
    }
    c10::intrusive_ptr<c10d::Store> store = rendezvous(p, o);
    if (o.device == "cuda") {
#ifdef USE_C10D_NCCL
        auto options = c10d::ProcessGroupNCCL::Options::create();
        options->timeout = millis(o.timeout);
        torch::Device device(torch::kCUDA, int8_t(p.local_rank));
        auto group = c10::make_intrusive<c10d::ProcessGroupNCCL>(store, p.rank, p.size, options);
        return std::make_unique<GroupCollective<c10d::ProcessGroupNCCL>>(p, store, group, device, o.timeout);
#else
        throw UsageError("--device cuda with " + std::to_string(p.size) +
                         " ranks needs NCCL: build with make TORCH=/path/to/cuda/libtorch");
#endif
    }
    auto options = ProcessGroupGloo::Options::create();
    options->timeout = millis(o.timeout);  // every operation's (Gloo ignores an operation's own)
    try {
        if (const char* names = std::getenv("GLOO_SOCKET_IFNAME"); names && *names) {
            std::string list = names;  // as PyTorch: one device per interface named
            for (size_t at = 0; at <= list.size();) {
                size_t comma = std::min(list.find(',', at), list.size());
                if (comma > at) options->devices.push_back(interface_device<ProcessGroupGloo>(list.substr(at, comma - at), 0));
                at = comma + 1;
            }
        } else if (is_loopback(p.host)) {
            options->devices.push_back(host_device<ProcessGroupGloo>("127.0.0.1", 0));
        } else {
            options->devices.push_back(ProcessGroupGloo::createDefaultDevice());
        }
    } catch (const std::exception& e) {
        throw UnavailableError("", std::string("no network device for Gloo: ") + e.what());
    }
    c10::intrusive_ptr<ProcessGroupGloo> group;
    try {
        group = c10::make_intrusive<ProcessGroupGloo>(store, p.rank, p.size, options);
    } catch (const std::exception& e) {
        throw UnavailableError("", "joining the process group at " + p.host + ":" + std::to_string(p.port) + ": " +
                                        std::string(e.what()).substr(0, std::string(e.what()).find('\n')));
    }
    store->setTimeout(millis(o.timeout));  // from now on the store only carries failures
    return std::make_unique<GroupCollective<ProcessGroupGloo>>(p, store, group, torch::kCPU, o.timeout);
}

}  // namespace imgpipe::nn
