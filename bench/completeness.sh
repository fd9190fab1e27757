#!/bin/sh
# What the completeness check costs (batchstream(5), COMPLETENESS): the stream
# readers of this checkout against the same tools built from the commit before
# the check came in (BENCH_BASE, default b15324f^), side by side on the same
# stream in one run, interleaved, each pinned to one core. Builds the base's
# data tools in a git worktree under bench/out/ (a few minutes, once).
# Writes its section to bench/results/completeness.md.
#
# Environment: BENCH_REPEAT (interleaved rounds, best kept; default 5),
# BENCH_SAMPLES (default 20000 unbatched 64x64x3 U8 samples, 245 MB).
set -u
cd "$(dirname "$0")/.." || exit 70
OUT=bench/out
RESULT=bench/results/completeness.md
BASE=${BENCH_BASE:-b15324f^}
REPEAT=${BENCH_REPEAT:-5}
SAMPLES=${BENCH_SAMPLES:-20000}
mkdir -p "$OUT" bench/results
die() { echo "completeness.sh: $*" >&2; exit 1; }
for t in batchpack imgstats; do [ -x "bin/$t" ] || die "bin/$t is missing (make all)"; done
command -v taskset > /dev/null || die "taskset is missing (util-linux)"

base_rev=$(git rev-parse --short "$BASE") || die "no commit $BASE"
base="$OUT/base-$base_rev"
if [ ! -x "$base/bin/batchpack" ]; then
    git worktree add -f "$base" "$base_rev" > /dev/null 2>&1 || die "cannot check out $base_rev"
    make -C "$base" -j"$(nproc)" bin/batchpack bin/imgstats > "$OUT/base-build.log" 2>&1 || die "cannot build $base_rev (see $OUT/base-build.log)"
fi

# An unbatched stream, as imgprep writes it by default: one frame per sample.
stream="$OUT/completeness-$SAMPLES.bs"
[ -s "$stream" ] || /usr/bin/python3 tests/shell/stream.py make "$SAMPLES" 64 64 3 > "$stream" || die "cannot make the stream"
cat "$stream" > /dev/null  # warm the page cache

best() {  # best wall seconds of one command, from the rounds' files
    sort -n "$1" | head -n 1
}
time_one() {  # label command...: appends its wall time to $OUT/t-label
    label=$1; shift
    start=$(date +%s.%N)
    taskset -c 0 "$@" < "$stream" > /dev/null 2>&1
    end=$(date +%s.%N)
    echo "$end - $start" | bc >> "$OUT/t-$label"
}
rm -f "$OUT"/t-*
i=0
while [ $i -lt "$REPEAT" ]; do
    time_one new-pack bin/batchpack -q -b 32
    time_one old-pack "$base/bin/batchpack" -q -b 32
    time_one new-stats bin/imgstats -q
    time_one old-stats "$base/bin/imgstats" -q
    time_one new-info bin/batchpack --info
    time_one old-info "$base/bin/batchpack" --info
    i=$((i + 1))
done

row() {  # name label
    n=$(best "$OUT/t-new-$2"); o=$(best "$OUT/t-old-$2")
    printf '| %s | %.2f s (%.0f samples/s) | %.2f s (%.0f samples/s) | %.3f |\n' "$1" "$o" "$(echo "$SAMPLES / $o" | bc -l)" \
        "$n" "$(echo "$SAMPLES / $n" | bc -l)" "$(echo "$o / $n" | bc -l)"
}
{
    echo "## The completeness check's cost"
    echo
    echo "\`bench/completeness.sh\` ($(date -u +%F), BENCH_REPEAT=$REPEAT): readers of a stream of $SAMPLES unbatched"
    echo "64x64x3 U8 samples (one frame each, as \`imgprep\` writes by default; 245 MB, page cache warm), each"
    echo "pinned to one core, best of $REPEAT interleaved rounds, before ($base_rev) and after the"
    echo "completeness check (every frame counted against its epoch, records carried through \`batchpack\`)."
    echo "Speed ratio > 1: the new one is faster."
    echo
    echo "| reader | before | after | before / after time |"
    echo "|---|---:|---:|---:|"
    row "batchpack -b 32" pack
    row "imgstats" stats
    row "batchpack --info" info
} > "$RESULT"
cat "$RESULT"
