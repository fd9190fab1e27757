# Sourced by the bench scripts. A shared machine moves every figure, so they
# report medians and ranges (lowest-highest) of numbers given as arguments, or
# one a line on standard input, to 2 decimals; and the processor they ran on
# (the machines differ from run to run: oneDNN's kernels follow the vector width).
numbers() { if [ $# -gt 0 ]; then printf '%s\n' "$@"; else cat; fi; }
median() { numbers "$@" | sort -g | awk '{ v[NR] = $1 } END { printf "%.2f", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
range() { numbers "$@" | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%.2f-%.2f", lo, hi }'; }
cpu() {
    model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
    if grep -qw avx512f /proc/cpuinfo; then vector=AVX-512; elif grep -qw avx2 /proc/cpuinfo; then vector=AVX2; else vector=SSE; fi
    echo "$model, $vector, $(nproc) cores"
}
