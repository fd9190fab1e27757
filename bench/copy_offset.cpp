// How fast glibc's memcpy copies 100 MB out of a mapped file into fresh memory
// (2 MB pages, as the optimizer's flat buffer), by where the destination starts
// in a 4 KB page relative to the source: the fact behind Optimizer::attach's
// placement of a Dense kernel loaded from a Keras file (bench/model_load.sh).
// Prints a Markdown table: a row per source offset in a page (each 2 bytes past
// a float boundary, as the bench's .keras kernel), a column per distance (the
// destination's offset in a page less the source's, modulo 4096: -2 is the
// float boundary below the source's offset, +2 the one above), the median of 7
// copies in ms.
// Usage: copy_offset FILE (at least 100 MB and 8 KB)
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

int main(int argc, char** argv) {
    if (argc != 2) return 64;
    const int fd = open(argv[1], O_RDONLY);
    const off_t size = fd < 0 ? -1 : lseek(fd, 0, SEEK_END);
    const size_t n = 100000000, huge = size_t(2) << 20;
    if (size < off_t(n + 8192)) {
        std::fprintf(stderr, "copy_offset: %s: not a readable file of at least 100 MB\n", argv[1]);
        return 66;
    }
    const int sources[] = {2, 906, 2998};
    const int distances[] = {-2, 2, 62, 250, 318, 2046};
    std::printf("| source's offset in a page |");
    for (int d : distances) std::printf(" %+d |", d);
    std::printf("\n|---|");
    for (size_t i = 0; i < sizeof distances / sizeof *distances; i++) std::printf("---:|");
    std::printf("\n");
    for (int s : sources) {
        std::printf("| %d |", s);
        for (int d : distances) {
            std::vector<double> ms;
            for (int r = 0; r < 7; r++) {
                auto* file = static_cast<char*>(mmap(nullptr, size_t(size), PROT_READ, MAP_PRIVATE, fd, 0));
                const size_t mapped = n + 2 * huge;
                auto* fresh = static_cast<char*>(mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
                if (file == MAP_FAILED || fresh == MAP_FAILED) return 71;
                char* page = reinterpret_cast<char*>((reinterpret_cast<uintptr_t>(fresh) + huge - 1) & ~uintptr_t(huge - 1));
                madvise(page, n + 4096, MADV_HUGEPAGE);
                char* to = page + (s + d + 4096) % 4096;
                auto t0 = std::chrono::steady_clock::now();
                std::memcpy(to, file + 4096 + s, n);
                ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
                munmap(file, size_t(size));
                munmap(fresh, mapped);
            }
            std::sort(ms.begin(), ms.end());
            std::printf(" %.2f |", ms[ms.size() / 2]);
        }
        std::printf("\n");
    }
    return 0;
}
