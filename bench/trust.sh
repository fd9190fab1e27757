#!/bin/sh
# What issue 23's checks cost nntrain (doc/design.md, "The batch stream"): the
# content digest that decides whether ranks share a file (every frame's header
# and the first and last frames' bytes, where the base build hashed the frame
# sizes) and the per-batch count of class runs (the class-sorted warning),
# against nntrain built from the commit before them (BENCH_BASE, default
# bafe32b), side by side on the same file in one run, interleaved, each on one
# core: start-up to the first step (--steps-per-epoch 1), and a whole epoch.
# Builds the base's nntrain in a git worktree under bench/out/ (minutes, once).
# Writes its section to bench/results/trust.md.
#
# Environment: BENCH_REPEAT (interleaved rounds; default 5), BENCH_SAMPLES
# (Fashion-MNIST training samples, batches of 128; default 60000).
set -u
cd "$(dirname "$0")/.." || exit 70
. bench/common.sh
OUT=bench/out
RESULT=bench/results/trust.md
BASE=${BENCH_BASE:-bafe32b}
REPEAT=${BENCH_REPEAT:-5}
SAMPLES=${BENCH_SAMPLES:-60000}
mkdir -p "$OUT" bench/results
die() { echo "trust.sh: $*" >&2; exit 1; }
[ -x bin/nntrain ] || die "bin/nntrain is missing (make all)"
command -v taskset > /dev/null || die "taskset is missing (util-linux)"

base_rev=$(git rev-parse --short "$BASE") || die "no commit $BASE"
base="$OUT/base-$base_rev"
if [ ! -x "$base/bin/nntrain" ]; then
    git worktree add -f "$base" "$base_rev" > /dev/null 2>&1 || die "cannot check out $base_rev"
    make -C "$base" -j"$(nproc)" bin/nntrain > "$OUT/base-build.log" 2>&1 || die "cannot build $base_rev (see $OUT/base-build.log)"
fi

stream="$OUT/trust-$SAMPLES.bs"
[ -s "$stream" ] || /usr/bin/python3 tests/nn/fmnist_stream.py --count "$SAMPLES" --batch 128 > "$stream" || die "cannot make the stream"
spec="$OUT/trust.json"
cat > "$spec" <<'JSON'
{"input_shape": [28, 28, 1], "layers": [
  {"type": "Lambda", "function": "x/255."},
  {"type": "Conv2D", "filters": 8, "kernel_size": [3, 3], "activation": "relu"},
  {"type": "MaxPooling2D", "pool_size": [2, 2]},
  {"type": "Flatten"},
  {"type": "Dense", "units": 10, "activation": "softmax"}],
 "loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"]}
JSON
cat "$stream" > /dev/null  # warm the page cache

seconds() {  # seconds of one command's run
    start=$(date +%s.%N)
    taskset -c 0 "$@" > /dev/null 2>&1 || die "failed: $*"
    end=$(date +%s.%N)
    echo "$end $start" | awk '{ printf "%.3f\n", $1 - $2 }'
}
rm -f "$OUT"/trust-t-*
i=0
while [ $i -lt "$REPEAT" ]; do
    for build in new old; do
        tool=bin/nntrain; [ $build = old ] && tool="$base/bin/nntrain"
        seconds "$tool" -q -j 1 -m "$spec" --steps-per-epoch 1 "$stream" >> "$OUT/trust-t-$build-start"
        seconds "$tool" -q -j 1 -m "$spec" "$stream" >> "$OUT/trust-t-$build-epoch"
    done
    i=$((i + 1))
done

row() {  # name label
    o=$(median < "$OUT/trust-t-old-$2"); n=$(median < "$OUT/trust-t-new-$2")
    printf '| %s | %s s (%s) | %s s (%s) | %s |\n' "$1" "$o" "$(range < "$OUT/trust-t-old-$2")" \
        "$n" "$(range < "$OUT/trust-t-new-$2")" "$(echo "$n $o" | awk '{ printf "%.3f", $1 / $2 }')"
}
{
    echo "## What the training checks cost (bench/trust.sh)"
    echo
    echo "nntrain on $SAMPLES Fashion-MNIST samples in batches of 128 ($(du -m "$stream" | cut -f1) MB file), one core,"
    echo "this checkout against $base_rev (before the content digest and the class-run count), $REPEAT interleaved"
    echo "rounds, medians (range). $(date -u '+%Y-%m-%d %H:%M') UTC, $(cpu), load $(cut -d' ' -f1 /proc/loadavg)."
    echo
    echo "| run | before | after | after/before |"
    echo "|---|---:|---:|---:|"
    row "start-up to the first step (--steps-per-epoch 1)" start
    row "one epoch" epoch
} > "$RESULT"
cat "$RESULT"
