#!/bin/sh
# onnxruntime against nnpredict (issue 27, "Speed"): the lecture's CNN
# (bench/nn_lecture.json: 64x64x3 U8, Lambda x/255, Conv32, pool, Conv64, pool,
# Flatten, Dense 256, Dense 1 sigmoid), exported by nnexport, on the same
# batches (nn_synth.py's random images, frames of 128): nnpredict -j 1 and -j 2
# against onnxruntime-node 1.20.1 (tests/node/ort_run.js, intraOpNumThreads 1
# and 2, one run a batch of 128, as nnpredict runs a frame). Two timings each:
# the whole command (start-up, model load, reading, predicting, writing) and the
# prediction alone (onnxruntime: session.run over the batches, in the process;
# nnpredict: its layers' spans in a --profile trace, summed by
# bench/profile_summary.py, which also says where nnpredict's time goes).
# Best of BENCH_ROUNDS (default 5) runs, the whole commands alternated. Writes bench/results/onnx.md.
#
# Environment: BENCH_ROUNDS (5), BENCH_SAMPLES (2048).
set -u
cd "$(dirname "$0")/.." || exit 70
ROOT=$(pwd)
PY=/usr/bin/python3
PATH="$ROOT/bin:$PATH"
ROUNDS=${BENCH_ROUNDS:-5}
SAMPLES=${BENCH_SAMPLES:-2048}
RESULT=bench/results/onnx.md
die() { echo "bench/onnx.sh: $*" >&2; exit 1; }
for t in nntrain nnpredict nnexport; do [ -x "bin/$t" ] || die "bin/$t is missing (make first)"; done
make -s node-deps || die "make node-deps failed"
W=$(mktemp -d "${TMPDIR:-/tmp}/imgpipe-bench-onnx.XXXXXX") || exit 73
trap 'rm -rf "$W"' EXIT
mkdir -p bench/results
. bench/common.sh
now() { date +%s.%N; }
load() { cut -d' ' -f1-3 /proc/loadavg; }
best() { sort -g "$W/$1" | head -n 1; }
layers_ms() {  # the layers' spans in ms a batch, from a profile summary's first table
    awk -F'|' '/\((Lambda|Conv2D|MaxPooling2D|Flatten|Dense)\)/ { gsub(/ /, "", $3); s += $3 } END { printf "%.1f", s }' "$1"
}

# The model (its weights do not change the speed): one epoch on 256 images.
$PY bench/nn_synth.py 256 128 > "$W/train.bs" || die "nn_synth.py failed"
nntrain -q -j 2 --seed 1 -m bench/nn_lecture.json -o "$W/lecture.model" "$W/train.bs" || die "nntrain failed"
nnexport -q "$W/lecture.model" -o "$W/lecture.onnx" || die "nnexport failed"
# The batches: a stream for nnpredict, the same pixels as one .npy for onnxruntime.
$PY bench/nn_synth.py "$SAMPLES" 128 > "$W/test.bs"
$PY - "$W/test.bs" "$W/test.npy" <<'PY' || die "the .npy failed"
import json, struct, sys
import numpy as np
xs = []
with open(sys.argv[1], "rb") as f:
    while (p := f.read(8)):
        n, = struct.unpack("<Q", p); h = json.loads(f.read(n)); h.pop("__metadata__", None)
        data = f.read(max(t["data_offsets"][1] for t in h.values()))
        a, b = h["x"]["data_offsets"]; xs.append(np.frombuffer(data[a:b], np.uint8).reshape(h["x"]["shape"]))
np.save(sys.argv[2], np.concatenate(xs))
PY

# The two agree before they are timed.
nnpredict -q -m "$W/lecture.model" -f stream -o "$W/pred.bs" "$W/test.bs" || die "nnpredict failed"
node tests/node/ort_run.js "$W/lecture.onnx" "$W/test.npy" "$W/ort.npy" --batch 128 || die "ort_run.js failed"
diff=$($PY tests/shell/stream.py max-diff "$W/pred.bs" x "$W/ort.npy")
echo "bench/onnx.sh: outputs agree within $diff; timing $ROUNDS rounds" >&2

load_start=$(load)
for r in $(seq "$ROUNDS"); do
    for j in 1 2; do
        t0=$(now); nnpredict -q -j $j -m "$W/lecture.model" -f stream -o /dev/null "$W/test.bs" || die "nnpredict failed"
        t1=$(now); echo "$t1 - $t0" | bc >> "$W/nnpredict.$j"
        t0=$(now)
        node tests/node/ort_run.js "$W/lecture.onnx" "$W/test.npy" "$W/ort.$j.npy" --batch 128 --threads $j || die "ort_run.js failed"
        t1=$(now); echo "$t1 - $t0" | bc >> "$W/ort.$j"
    done
done
# The prediction alone. onnxruntime: session.run over the batches, best of ROUNDS passes
# in one process. nnpredict: its layers' spans in a --profile trace (the run whose layers
# took least of ROUNDS), which also says where its time goes.
for j in 1 2; do
    node tests/node/ort_run.js "$W/lecture.onnx" "$W/test.npy" "$W/ort.$j.npy" --batch 128 --threads $j --repeat "$ROUNDS" |
        sed -n 's/^best //p' > "$W/ort_run.$j" || die "ort_run.js failed"
    for r in $(seq "$ROUNDS"); do
        nnpredict -q -j $j -m "$W/lecture.model" -o /dev/null --profile "$W/trace.json" "$W/test.bs" || die "nnpredict --profile failed"
        $PY bench/profile_summary.py "$W/trace.json" $((SAMPLES / 128)) --after-first 1 > "$W/profile.md" || die "profile_summary.py failed"
        ms=$(layers_ms "$W/profile.md")
        if [ ! -s "$W/profile.$j.md" ] || awk "BEGIN { exit !($ms < $(layers_ms "$W/profile.$j.md")) }"; then
            cp "$W/profile.md" "$W/profile.$j.md"
        fi
    done
done
load_end=$(load)

{
    echo "# onnxruntime against nnpredict: the lecture CNN"
    echo
    echo "Run $(date -u '+%Y-%m-%d %H:%M UTC') on $(cpu); load average $load_start at the start, $load_end at the end."
    echo "Command: \`sh bench/onnx.sh\` (BENCH_ROUNDS=$ROUNDS, BENCH_SAMPLES=$SAMPLES): bench/nn_lecture.json exported by"
    echo "nnexport (opset 17), $SAMPLES random 64x64x3 U8 images in batches of 128, the same pixels to both;"
    echo "their outputs agree within $diff. onnxruntime-node 1.20.1 (CPU, intraOpNumThreads as -j, one"
    echo "session.run a batch); nnpredict -f stream -o /dev/null. Best of $ROUNDS runs (the whole commands"
    echo "alternated; the prediction alone: onnxruntime's best pass of $ROUNDS in one process, nnpredict's"
    echo "layers in the --profile run of $ROUNDS where they took least)."
    echo
    echo "| threads | nnpredict, whole command (s) | onnxruntime, whole command (s) | ratio (nnpredict / onnxruntime) | nnpredict, layers alone (ms a batch) | onnxruntime, runs alone (ms a batch) | ratio, prediction alone |"
    echo "|---|---|---|---|---|---|---|"
    for j in 1 2; do
        np=$(best nnpredict.$j) ort=$(best ort.$j) run=$(best ort_run.$j)
        nl=$(layers_ms "$W/profile.$j.md") ol=$(awk "BEGIN { printf \"%.1f\", $run * 1000 / ($SAMPLES / 128) }")
        echo "| $j | $(printf %.2f "$np") | $(printf %.2f "$ort") | $(awk "BEGIN { printf \"%.2f\", $np / $ort }") | $nl | $ol | $(awk "BEGIN { printf \"%.2f\", $nl / $ol }") |"
    done
    for j in 1 2; do
        echo
        echo "## Where nnpredict's time goes (-j $j; nnpredict --profile, bench/profile_summary.py, ms a batch of 128)"
        echo
        cat "$W/profile.$j.md"
    done
} > "$RESULT"
cat "$RESULT"
