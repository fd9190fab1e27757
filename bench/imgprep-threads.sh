#!/bin/sh
# imgprep -j 1 against -j 2, wall clock, on the data-path corpora (made by
# bench/data_path.sh into bench/data/): imgprep alone on a saved list, output
# to /dev/null. Runs alternate -j 1 / -j 2 (the order swapped every pair), so
# both see the same machine; the medians and the ratio are reported, with the
# load: the load average at the start, and the CPU that other processes used
# while each run went on (from /proc/stat), in cores. Writes its section to
# bench/results/imgprep-threads.md.
#
# Environment: BENCH_PAIRS (pairs of runs per corpus, default 9),
# BENCH_CORPORA (default "jpeg1024 png64 fashion"), IMGPREP (the binary to
# time, default bin/imgprep: an older build, to compare), BENCH_RESULT (where
# to write the section, default bench/results/imgprep-threads.md).
set -u
cd "$(dirname "$0")/.." || exit 70
DATA=bench/data
OUT=bench/out
RESULT=${BENCH_RESULT:-bench/results/imgprep-threads.md}
IMGPREP=${IMGPREP:-bin/imgprep}
PAIRS=${BENCH_PAIRS:-9}
CORPORA=${BENCH_CORPORA:-jpeg1024 png64 fashion}
PATH="$(pwd)/bin:$PATH"
mkdir -p "$OUT" bench/results
die() { echo "imgprep-threads.sh: $*" >&2; exit 1; }
for t in imglist imgprep; do [ -x "bin/$t" ] || die "bin/$t is missing (make all)"; done
if [ ! -d "$DATA/jpeg1024" ] || [ ! -d "$DATA/png64" ]; then
    /usr/bin/python3 bench/data_path_corpus.py "$DATA" || die "cannot make the corpora"
fi
if [ ! -d "$DATA/fashion/test" ]; then
    examples/fashion-mnist/export "$DATA/fashion" --limit 10000 > /dev/null || die "cannot export Fashion-MNIST"
fi
tick=$(getconf CLK_TCK)

# busy: CPU seconds the whole machine has spent busy so far (every core).
busy() { awk -v t="$tick" '/^cpu /{print ($2 + $3 + $4 + $7 + $8 + $9) / t}' /proc/stat; }

# once J LIST SIZE: one run; appends "wall cpu others" (seconds, seconds, cores) to $OUT/threads.J
once() {
    b0=$(busy); t0=$(date +%s.%N)
    /usr/bin/time -f "%U %S" -o "$OUT/t.time" "$IMGPREP" -q --size "$3" -j "$1" "$2" > /dev/null 2> "$OUT/t.err" ||
        { cat "$OUT/t.err" >&2; die "imgprep -j $1 $2 failed"; }
    t1=$(date +%s.%N); b1=$(busy)
    awk -v t0="$t0" -v t1="$t1" -v b0="$b0" -v b1="$b1" '{
        wall = t1 - t0; cpu = $1 + $2; others = (b1 - b0 - cpu) / wall
        printf "%.3f %.3f %.2f\n", wall, cpu, others < 0 ? 0 : others }' "$OUT/t.time" >> "$OUT/threads.$1"
}

median() {  # median FILE COLUMN
    sort -n -k"$2" "$1" | awk -v c="$2" '{v[NR] = $c} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}

{
    echo "## imgprep -j 2 against -j 1: wall clock on two cores"
    echo
    echo "Made by \`bench/imgprep-threads.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load average at start:"
    echo "$(cut -d' ' -f1-3 /proc/loadavg). Each corpus: $PAIRS pairs of runs, -j 1 and -j 2 alternating (the order"
    echo "swapped every pair), page cache warm, unpinned:"
    echo
    echo '```sh'
    echo "imglist bench/data/CORPUS > CORPUS.lines"
    echo "$IMGPREP -q --size S -j J CORPUS.lines > /dev/null    # J = 1, 2, 2, 1, 1, 2, ..."
    echo '```'
    echo
    echo "**wall** = median elapsed seconds (start-up included), **img/s** = images / that; **ratio** = -j 1's median wall /"
    echo "-j 2's (the goal: >= 1.8); **pairwise** = the median of the ratios within each pair; **CPU** = median user + system"
    echo "seconds of imgprep; **others** = the median CPU, in cores, that other processes used during the runs (0 on an idle"
    echo "machine; up to 2 on two cores): a ratio measured while others is well above 0 says more about the machine than"
    echo "about imgprep."
    echo
    echo "| corpus | images | size | -j 1 wall | -j 1 img/s | -j 2 wall | -j 2 img/s | ratio | pairwise | CPU -j 1 / -j 2 | others -j 1 / -j 2 |"
    echo "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"
} > "$OUT/threads.md"

for corpus in $CORPORA; do
    case $corpus in
        jpeg1024) dir=$DATA/jpeg1024; size=64x64 ;;
        png64) dir=$DATA/png64; size=64x64 ;;
        fashion) dir=$DATA/fashion/test; size=28x28 ;;
        *) die "unknown corpus $corpus" ;;
    esac
    imglist -q "$dir" > "$OUT/$corpus.lines" || die "imglist $dir failed"
    n=$(wc -l < "$OUT/$corpus.lines")
    cut -f1 "$OUT/$corpus.lines" | xargs cat > /dev/null  # warm the page cache
    echo "== $corpus ($n images, $size): $(cut -d' ' -f1-3 /proc/loadavg)" >&2
    : > "$OUT/threads.1"; : > "$OUT/threads.2"
    "$IMGPREP" -q --size "$size" -j 2 "$OUT/$corpus.lines" > /dev/null  # warm-up, not counted
    pair=0
    while [ $pair -lt "$PAIRS" ]; do
        if [ $((pair % 2)) = 0 ]; then once 1 "$OUT/$corpus.lines" "$size"; once 2 "$OUT/$corpus.lines" "$size"
        else once 2 "$OUT/$corpus.lines" "$size"; once 1 "$OUT/$corpus.lines" "$size"; fi
        pair=$((pair + 1))
    done
    paste -d' ' "$OUT/threads.1" "$OUT/threads.2" | awk '{print $1 / $4}' > "$OUT/threads.r"
    w1=$(median "$OUT/threads.1" 1) w2=$(median "$OUT/threads.2" 1)
    awk -v c="$corpus" -v n="$n" -v s="$size" -v w1="$w1" -v w2="$w2" -v pr="$(median "$OUT/threads.r" 1)" \
        -v c1="$(median "$OUT/threads.1" 2)" -v c2="$(median "$OUT/threads.2" 2)" \
        -v o1="$(median "$OUT/threads.1" 3)" -v o2="$(median "$OUT/threads.2" 3)" 'BEGIN {
        printf "| %s | %d | %s | %.2f s | %.0f | %.2f s | %.0f | %.2f | %.2f | %.2f / %.2f s | %.2f / %.2f |\n",
            c, n, s, w1, n / w1, w2, n / w2, w1 / w2, pr, c1, c2, o1, o2 }' >> "$OUT/threads.md"
    tail -n 1 "$OUT/threads.md" >&2
done
echo >> "$OUT/threads.md"
echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)." >> "$OUT/threads.md"
cp "$OUT/threads.md" "$RESULT"
echo "imgprep-threads.sh: wrote $RESULT" >&2
