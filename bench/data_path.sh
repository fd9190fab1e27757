#!/bin/sh
# The data-path benchmark: our `imglist | imgprep | batchpack` against the
# Python data paths people use (bench/data_path_peers.py), side by side on the
# same files in one run, each pinned to one core, plus the decode floor
# (bench/data_path_floor.cpp: read + decode, nothing else). Writes its section
# to bench/results/data_path.md.
#
# Corpora (made once into bench/data/, from photos shipped in Debian packages,
# see bench/data_path_corpus.py): 2000 JPEGs of 1024x1024 and 2000 PNGs of
# 64x64 (both resized to 64x64), and Fashion-MNIST's 10000 test PNGs (28x28,
# kept at 28x28).
#
# Environment: BENCH_REPEAT (runs per command, best kept; default 2),
# BENCH_CORPORA (default "jpeg1024 png64 fashion").
set -u
cd "$(dirname "$0")/.." || exit 70
PY=/usr/bin/python3
DATA=bench/data
OUT=bench/out
RESULT=bench/results/data_path.md
REPEAT=${BENCH_REPEAT:-2}
CORPORA=${BENCH_CORPORA:-jpeg1024 png64 fashion}
PATH="$(pwd)/bin:$PATH"
export OMP_NUM_THREADS=1
mkdir -p "$DATA" "$OUT" bench/results

die() { echo "data_path.sh: $*" >&2; exit 1; }
[ -x /usr/bin/time ] || die "/usr/bin/time is missing (apt-get install time)"
command -v taskset > /dev/null || die "taskset is missing (util-linux)"
for t in imglist imgprep batchpack; do [ -x "bin/$t" ] || die "bin/$t is missing (make all)"; done
$PY -c "import numpy, PIL, skimage, torch, torchvision" 2> /dev/null ||
    die "the Python peers need python3-numpy python3-pil python3-skimage python3-torch python3-torchvision"

$PY bench/data_path_corpus.py "$DATA" || die "cannot make the corpora"
if [ ! -d "$DATA/fashion/test" ]; then
    examples/fashion-mnist/export "$DATA/fashion" --limit 10000 || die "cannot export Fashion-MNIST"
fi
g++ -O2 -std=c++17 bench/data_path_floor.cpp -o "$OUT/data_path_floor" $(pkg-config --cflags --libs libturbojpeg spng) ||
    die "cannot build the decode floor"

# measure CPUS COMMAND: runs COMMAND (sh -c) $REPEAT times pinned to CPUS; sets
# wall, cpu (user+sys seconds, of the best run), rss (peak KB over the runs)
# and stdout/stderr of the last run in $OUT/m.out and $OUT/m.err.
measure() {
    cpu=""; wall=""; rss=0
    rep=0
    while [ $rep -lt "$REPEAT" ]; do
        /usr/bin/time -f "%e %U %S %M" -o "$OUT/m.time" taskset -c "$1" sh -c "$2" > "$OUT/m.out" 2> "$OUT/m.err" ||
            { echo "data_path.sh: failed: $2" >&2; sed 's/^/    /' "$OUT/m.err" | tail -n 5 >&2; cpu=""; return 1; }
        set -- "$1" "$2" $(tail -n 1 "$OUT/m.time")
        c=$(echo "$4 $5" | awk '{printf "%.3f", $1 + $2}')
        if [ -z "$cpu" ] || [ "$(echo "$c $cpu" | awk '{print ($1 < $2)}')" = 1 ]; then cpu=$c; wall=$3; fi
        [ "$6" -gt "$rss" ] && rss=$6
        set -- "$1" "$2"
        rep=$((rep + 1))
    done
}

row() {  # row NAME COMMAND N [CPUS]: measures and appends a table row
    name=$1; cmd=$2; count=$3; cpus=${4:-0}
    echo "  $name" >&2
    if ! measure "$cpus" "$cmd"; then
        printf '| %s | failed | | | | `%s` |\n' "$name" "$cmd" >> "$OUT/table.md"
        return
    fi
    # Each row must have loaded every image.
    case $cmd in
        *floor*) ok=1 ;;
        *imgprep*) grep -q "^imgprep: $count images in" "$OUT/m.err" && ok=1 || ok=0 ;;
        *) [ "$(cat "$OUT/m.out")" = "$count" ] && ok=1 || ok=0 ;;
    esac
    if [ $ok = 0 ]; then
        echo "data_path.sh: $name did not load $count images" >&2
        printf '| %s | wrong count | | | | `%s` |\n' "$name" "$cmd" >> "$OUT/table.md"
        return
    fi
    per_core=$(echo "$count $cpu" | awk '{printf "%.0f", $1 / $2}')
    per_wall=$(echo "$count $wall" | awk '{printf "%.0f", $1 / $2}')
    [ -z "${ours:-}" ] && ours=$per_core
    ratio=$(echo "$ours $per_core" | awk '{printf "%.2f", $1 / $2}')
    printf '| %s | %s | %s | %s | %s | `%s` |\n' "$name" "$per_core" "$per_wall" "$ratio" \
        "$(echo "$rss" | awk '{printf "%.0f", $1 / 1024}')" "$cmd" >> "$OUT/table.md"
}

{
    echo "## Data path: decoding and resizing, images/s per core"
    echo
    echo "Made by \`bench/data_path.sh\` (\`make bench\`) on $(date -u '+%Y-%m-%d %H:%M UTC'), load average at start: $(cut -d' ' -f1-3 /proc/loadavg)."
    echo "Every command runs pinned to one core (\`taskset -c 0\`; the \`-j 2\` row gets cores 0 and 1), best of $REPEAT runs."
    echo "The \`-j 2\` row's wall rate counts only with core 1 idle (a load average well above 0 at the start says it was not):"
    echo "how -j scales is measured on its own, in alternating runs with the load recorded, by \`bench/imgprep-threads.sh\`."
    echo "**per core** = images / CPU seconds (user + system, every process of the pipeline): the throughput one core gives, and"
    echo "robust to other jobs on the machine. **wall** = images / elapsed seconds, process start-up included."
    echo "**ours/this** = our per-core rate divided by this row's. **RSS** = the largest resident set of any one process (MB)."
    echo "Our pipeline is the first row of each table; the decode floor is read + decode alone (TurboJPEG at the smallest DCT"
    echo "scale >= 64x64, libspng to RGB8), with no resize and no output."
} > "$OUT/section.md"

for corpus in $CORPORA; do
    case $corpus in
        jpeg1024) dir=$DATA/jpeg1024; size=64; kind=jpeg; title="2000 JPEGs, 1024x1024 (~190 KB each) -> 64x64" ;;
        png64) dir=$DATA/png64; size=64; kind=png; title="2000 PNGs, 64x64 RGB -> 64x64" ;;
        fashion) dir=$DATA/fashion/test; size=28; kind=png; title="Fashion-MNIST test set: 10000 PNGs, 28x28 gray -> 28x28 RGB" ;;
        *) die "unknown corpus $corpus" ;;
    esac
    echo "== $corpus" >&2
    n=$(find "$dir" -type f | wc -l)
    find "$dir" -type f | sort > "$OUT/$corpus.list"
    cat $(cat "$OUT/$corpus.list") > /dev/null  # warm the page cache: every row reads from memory
    ours=""
    : > "$OUT/table.md"
    s="${size}x${size}"
    row "**imglist \\| imgprep \\| batchpack**" "imglist $dir | imgprep --size $s -j 1 | batchpack -b 128 > /dev/null" "$n"
    imglist "$dir" > "$OUT/$corpus.lines" 2> /dev/null
    row "imgprep alone (on imglist's saved output)" "imgprep --size $s -j 1 $OUT/$corpus.lines > /dev/null" "$n"
    row "imgprep --interpolation area" "imglist $dir | imgprep --size $s -j 1 --interpolation area | batchpack -b 128 > /dev/null" "$n"
    row "imgprep --vips-only (libvips for every file)" "imglist $dir | imgprep --size $s -j 1 --vips-only | batchpack -b 128 > /dev/null" "$n"
    row "imgprep -j 2 (two cores)" "imglist $dir | imgprep --size $s -j 2 | batchpack -b 128 > /dev/null" "$n" 0,1
    row "decode floor (read + decode only)" "$OUT/data_path_floor $kind $size < $OUT/$corpus.list" "$n"
    if [ "$corpus" = jpeg1024 ]; then  # 0.2 s an image: every 10th file is enough for its rate
        row "(a) lecture: skimage imread + resize (every 10th file)" "$PY bench/data_path_peers.py skimage $dir $size 10" "$((n / 10))"
    else
        row "(a) lecture: skimage imread + resize" "$PY bench/data_path_peers.py skimage $dir $size" "$n"
    fi
    row "(b) Keras load_img: PIL, RGB, resize NEAREST" "$PY bench/data_path_peers.py keras $dir $size" "$n"
    row "(c) PIL draft() + resize BILINEAR" "$PY bench/data_path_peers.py pil-draft $dir $size" "$n"
    row "(d) torchvision ImageFolder + DataLoader(num_workers=0)" "$PY bench/data_path_peers.py torchvision $dir $size" "$n"
    {
        echo
        echo "### $title"
        echo
        echo "| path | per core | wall | ours/this | RSS MB | command |"
        echo "|---|---:|---:|---:|---:|---|"
        cat "$OUT/table.md"
    } >> "$OUT/section.md"
done
# imgprep against the decode floor, in alternating runs so that both see the
# same load: the median of the per-pair ratios.
{
    echo
    echo "### imgprep against the decode floor (median of ${BENCH_PAIRS:-5} alternating pairs of runs, one core)"
    echo
    echo "| corpus | floor per core | imgprep per core | imgprep / floor |"
    echo "|---|---:|---:|---:|"
} >> "$OUT/section.md"
for corpus in jpeg1024 png64; do
    [ -e "$OUT/$corpus.lines" ] || continue
    case $corpus in jpeg1024) kind=jpeg ;; *) kind=png ;; esac
    n=$(wc -l < "$OUT/$corpus.list")
    : > "$OUT/pairs.txt"
    pair=0
    while [ $pair -lt "${BENCH_PAIRS:-5}" ]; do
        REPEAT=1; measure 0 "$OUT/data_path_floor $kind 64 < $OUT/$corpus.list" || break
        f=$cpu
        measure 0 "imgprep -q --size 64x64 -j 1 $OUT/$corpus.lines > /dev/null" || break
        echo "$f $cpu" >> "$OUT/pairs.txt"
        pair=$((pair + 1))
    done
    sort -n -k1 "$OUT/pairs.txt" | awk -v n="$n" '{f[NR] = $1} END {printf "%.0f", n / f[int((NR + 1) / 2)]}' > "$OUT/f.txt"
    sort -n -k2 "$OUT/pairs.txt" | awk -v n="$n" '{o[NR] = $2} END {printf "%.0f", n / o[int((NR + 1) / 2)]}' > "$OUT/o.txt"
    awk '{print $1 / $2}' "$OUT/pairs.txt" | sort -n | awk '{r[NR] = $1} END {printf "%.0f%%", 100 * r[int((NR + 1) / 2)]}' > "$OUT/r.txt"
    echo "| $corpus | $(cat "$OUT/f.txt") | $(cat "$OUT/o.txt") | $(cat "$OUT/r.txt") |" >> "$OUT/section.md"
done

# Start-up: libvips is loaded only when a file needs it (lib/image/vips.cpp).
find "$DATA/png64" -type f | head -n 1 > "$OUT/one.list"
startup() {  # startup COMMAND: CPU milliseconds per run, over 50 runs
    /usr/bin/time -f "%U %S" -o "$OUT/s.time" sh -c "i=0; while [ \$i -lt 50 ]; do $1 > /dev/null 2>&1; i=\$((i + 1)); done"
    awk '{printf "%.1f", ($1 + $2) * 1000 / 50}' "$OUT/s.time"
}
{
    echo
    echo "### Start-up, CPU ms per run (50 runs of one 64x64 PNG)"
    echo
    echo "| command | CPU ms |"
    echo "|---|---:|"
    echo "| \`imgprep -q one.list\` (libspng; libvips never loaded) | $(startup "imgprep -q $OUT/one.list") |"
    echo "| \`imgprep -q --vips-only one.list\` (libvips loaded and started) | $(startup "imgprep -q --vips-only $OUT/one.list") |"
    echo "| \`batchpack --version\` (a tool without images, for scale) | $(startup "batchpack --version") |"
} >> "$OUT/section.md"
cp "$OUT/section.md" "$RESULT"
echo "data_path.sh: wrote $RESULT" >&2
