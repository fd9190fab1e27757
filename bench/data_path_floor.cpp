// The decode floor of the data-path benchmark: read each file and decode it,
// nothing else (JPEG: TurboJPEG at the smallest DCT scale >= the target, as
// measured in doc/design.md, "Decoding: measured facts"; PNG: libspng to
// RGB8). Prints images/s.
// Usage: data_path_floor jpeg|png SIZE < list
#include <spng.h>
#include <turbojpeg.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

int main(int argc, char** argv) {
    if (argc != 3) return 64;
    const std::string kind = argv[1];
    const int target = std::stoi(argv[2]);
    std::vector<std::string> paths;
    for (std::string line; std::getline(std::cin, line);) paths.push_back(line);
    tjhandle tj = tjInitDecompress();
    std::vector<unsigned char> file, pixels;
    auto start = std::chrono::steady_clock::now();
    for (const std::string& p : paths) {
        int fd = open(p.c_str(), O_RDONLY);
        struct stat st;
        if (fd < 0 || fstat(fd, &st)) return 66;
        file.resize(size_t(st.st_size));
        if (read(fd, file.data(), file.size()) != st.st_size) return 74;
        close(fd);
        if (kind == "jpeg") {
            int w, h, ss, cs;
            if (tjDecompressHeader3(tj, file.data(), file.size(), &w, &h, &ss, &cs)) return 65;
            int n;
            tjscalingfactor* f = tjGetScalingFactors(&n);
            tjscalingfactor best{1, 1};
            for (int i = 0; i < n; ++i)
                if (TJSCALED(w, f[i]) >= target && TJSCALED(h, f[i]) >= target &&
                    f[i].num * best.denom < best.num * f[i].denom)
                    best = f[i];
            int sw = TJSCALED(w, best), sh = TJSCALED(h, best);
            pixels.resize(size_t(sw) * sh * 3);
            if (tjDecompress2(tj, file.data(), file.size(), pixels.data(), sw, 0, sh, TJPF_RGB, 0)) return 65;
        } else {
            spng_ctx* c = spng_ctx_new(0);
            spng_set_png_buffer(c, file.data(), file.size());
            size_t len;
            if (spng_decoded_image_size(c, SPNG_FMT_RGB8, &len)) return 65;
            pixels.resize(len);
            if (spng_decode_image(c, pixels.data(), len, SPNG_FMT_RGB8, 0)) return 65;
            spng_ctx_free(c);
        }
    }
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("%.0f\n", paths.size() / s);
    return 0;
}
