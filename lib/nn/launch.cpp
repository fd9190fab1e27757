#include <unistd.h>

#include <cstdlib>

#include "nn/engine.hpp"

namespace imgpipe::nn {

void exec_with_passive_openmp(char** argv) {
    if (std::getenv("OMP_WAIT_POLICY")) return;  // the user's choice, or already done
    if (::setenv("OMP_WAIT_POLICY", "PASSIVE", 1) != 0) return;
    ::execv("/proc/self/exe", argv);
    // Without /proc (a chroot, say) the run goes on with spinning threads.
}

}  // namespace imgpipe::nn
