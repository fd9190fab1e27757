#!/bin/sh
# Fine-tuning speed (issue 25, part 2, "Speed"), written to bench/results/finetune.md:
# a Keras MobileNetV2 (alpha 1.0, 224x224x3) with its base frozen by "trainable":
# false (trainable 393,985 of 2,651,969 parameters; a Dense 256, Dense 256, Dense 1
# sigmoid head with dropout), batch 32, binary crossentropy, Adam, trained by nntrain
# against the same model in PyTorch at its best (bench/finetune_torch.py: the graph
# built from the same JSON, frozen BatchNormalization in eval mode, the base's
# weights requires_grad_(False), OpenBLAS, the malloc fix, torch.set_num_threads,
# channels-last, its fastest layout here; with libgomp's default waits and with
# OMP_WAIT_POLICY=PASSIVE, which nntrain sets for itself: the faster of the two in
# each pass is the peer's best).
# The same data for both: 128 crops of scikit-image's photographs as one batch
# stream file, read by nntrain and by the peer (json + numpy).
# Each side: 4 warm-up steps (nntrain: its first epoch of 4 batches, start-up
# included), then 8 timed steps (nntrain: epochs 2 and 3, from --history).
# Interleaved passes (ours, PyTorch, PyTorch with passive waits) at 1 and 2 threads;
# medians and ranges. FINETUNE_REPS (default 3) passes; FINETUNE_MODEL (default
# the reference copy in ../shared, see below). About 6 minutes on 2 quiet cores.
set -u
cd "$(dirname "$0")/.." || exit 70
ROOT=$(pwd)
PY=/usr/bin/python3
PATH="$ROOT/bin:$PATH"
REPS=${FINETUNE_REPS:-3}
# The architecture is read where the project keeps its reference Keras models
# (../shared, as the test suite does; CI has it): a third-party file, not copied
# into the repository. Its source: ../shared/reference/keras-models/functional/README.md.
MODEL=${FINETUNE_MODEL:-../shared/reference/keras-models/functional/mobilenetv2_monkeypox_keras2.json}
RESULT=bench/results/finetune.md
. bench/common.sh
fail() { echo "bench/finetune.sh: $*" >&2; exit 1; }
load() { cut -d' ' -f1-3 /proc/loadavg; }
[ -x bin/nntrain ] || fail "bin/nntrain is missing (make first)"
[ -r "$MODEL" ] || fail "$MODEL: cannot read the model (set FINETUNE_MODEL)"
$PY -c 'import torch, skimage' 2>/dev/null || fail "$PY lacks torch or skimage (make deps)"
$PY -c 'import ctypes; ctypes.CDLL("libblas.so.3").openblas_get_config' 2>/dev/null ||
    fail "the system BLAS is not OpenBLAS: PyTorch would run on the reference BLAS (make deps installs libopenblas0-pthread)"
[ -x /usr/bin/time ] || fail "/usr/bin/time is missing (peak memory; Debian's time package)"
W=$(mktemp -d "${TMPDIR:-/tmp}/imgpipe-bench-finetune.XXXXXX") || exit 73
trap 'rm -rf "$W"' EXIT
mkdir -p bench/results

$PY bench/finetune_torch.py stream 128 32 > "$W/data.bs" || fail "finetune_torch.py stream failed"
cp "$MODEL" "$W/model.json" || fail "cannot copy $MODEL"
calc() { awk "BEGIN { printf \"%.${2:-2}f\", $1 }"; }
jget() { $PY -c "import json,sys; print(json.loads(open(sys.argv[1]).read().strip().split('\n')[-1])['$2'])" "$1"; }

# ours J: steps/s over epochs 2-3 (8 steps), and the peak RSS in MiB.
ours() {
    rm -f "$W/h.jsonl"
    /usr/bin/time -f %M -o "$W/rss" nntrain -q -j"$1" --seed 1 -m "$W/model.json" --loss binary_crossentropy --optimizer adam \
        --epochs 3 --history "$W/h.jsonl" -o "$W/ft.model" "$W/data.bs" || fail "nntrain failed"
    steps=$($PY -c "import json; s = [json.loads(l)['seconds'] for l in open('$W/h.jsonl')]; print(8 / (s[1] + s[2]))")
    echo "$steps $(calc "$(tail -n 1 "$W/rss") / 1024" 0)"
}
# peer J [ENV=VALUE...]: the same.
peer() {
    j=$1
    shift
    env OPENBLAS_NUM_THREADS=$j "$@" /usr/bin/time -f %M -o "$W/rss" $PY bench/finetune_torch.py --model "$W/model.json" --stream "$W/data.bs" \
        --threads "$j" --malloc-fix --channels-last --warmup 4 --steps 8 > "$W/peer.json" || fail "finetune_torch.py failed"
    echo "$(jget "$W/peer.json" steps_per_s) $(calc "$(tail -n 1 "$W/rss") / 1024" 0)"
}

start_load=$(load)
start_date=$(date -u '+%Y-%m-%d %H:%M UTC')
rows=
for j in 1 2; do
    o= p= n= r= om= pm= nm=
    for rep in $(seq "$REPS"); do
        res=$(ours $j) || exit 1
        set -- $res; o="$o $1" om="$om $2"; a=$1
        res=$(peer $j) || exit 1
        set -- $res; p="$p $1" pm="$pm $2"; b=$1
        res=$(peer $j OMP_WAIT_POLICY=PASSIVE) || exit 1
        set -- $res; n="$n $1" nm="$nm $2"; c=$1
        r="$r $(calc "$a / (($b > $c) ? $b : $c)" 3)"
        echo "bench/finetune.sh: -j$j pass $rep: nntrain $a, PyTorch $b, with passive waits $c steps/s (load $(load))" >&2
    done
    eval "ratio_$j=\$(median $r)"
    rows="$rows
| **nntrain** | $j | **$(median $o)** ($(range $o)) | $(median $om | cut -d. -f1) | **$(median $r)x** ($(range $r)) |
| PyTorch, channels-last | $j | $(median $p) ($(range $p)) | $(median $pm | cut -d. -f1) | |
| PyTorch, channels-last, OMP_WAIT_POLICY=PASSIVE | $j | $(median $n) ($(range $n)) | $(median $nm | cut -d. -f1) | |"
done
end_load=$(load)
# The same graph on both sides: the model nntrain trained last, in the peer, against nnpredict.
nnpredict -q -m "$W/ft.model" -f stream --steps 1 "$W/data.bs" > "$W/outputs.bs" || fail "nnpredict failed"
$PY bench/finetune_torch.py --model "$W/model.json" --stream "$W/data.bs" --threads 1 --check "$W/ft.model" "$W/outputs.bs" \
    > "$W/check.json" || fail "the peer's graph does not compute nntrain's outputs: $(cat "$W/check.json")"
goal() { [ "$(calc "($1 >= 1.15)" 0)" = 1 ] && echo "met" || echo "NOT met"; }
{
    echo "## Fine-tuning a MobileNetV2 with a frozen base (bench/finetune.sh)"
    echo
    echo "Run $start_date on $(cpu); libtorch $(dpkg-query -W -f='${Version}' libtorch1.13 2>/dev/null)," \
         "PyTorch $($PY -c 'import torch; print(torch.__version__)'), BLAS $(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3 | sed 's|/usr/lib/x86_64-linux-gnu/||')."
    echo "Load average $start_load at the start, $end_load at the end (the machine is shared: other work slows the 2-thread runs most)."
    echo
    echo "The model: \`$(basename "$MODEL")\` (../shared/reference/keras-models/functional: a real Keras MobileNetV2, alpha 1.0,"
    echo "224x224x3, its base frozen by \`\"trainable\": false\`; 2,651,969 parameters, 393,985 trainable), batch 32, binary"
    echo "crossentropy, Adam, 128 crops of scikit-image's photographs (one batch stream file, read by both). Steps/s over 8"
    echo "timed steps after 4 warm-up steps; peak memory is the process's maximum resident set (/usr/bin/time). Medians of"
    echo "$REPS interleaved passes (nntrain, PyTorch, PyTorch with passive waits), ranges in brackets; the ratio is the median"
    echo "of the passes' own ratios, each against the faster PyTorch of its pass. Higher is better."
    echo
    echo "Both compute the same graph: the model nntrain trained last, loaded into the peer, gives nnpredict's outputs on"
    echo "the first batch (32 images) within $($PY -c "import json; print('%.1e' % json.load(open('$W/check.json'))['max_abs_diff'])")"
    echo "(\`finetune_torch.py --check\`; the first four: $($PY -c "import json; print(', '.join('%.4f' % v for v in json.load(open('$W/check.json'))['outputs']))"))."
    echo
    echo "| engine | threads | steps/s | peak MiB | ours is faster by |"
    echo "|---|---:|---:|---:|---:|$rows"
    echo
    echo "Goal: at least 1.15x against PyTorch at its best: $(median "$ratio_1")x at 1 thread ($(goal "$ratio_1")), $(median "$ratio_2")x at 2 threads ($(goal "$ratio_2"))."
    echo
    echo '```sh'
    echo "$PY bench/finetune_torch.py stream 128 32 > data.bs"
    echo "cp $MODEL model.json"
    echo "nntrain -q -j J --seed 1 -m model.json --loss binary_crossentropy --optimizer adam --epochs 3 --history h.jsonl -o ft.model data.bs"
    echo "OPENBLAS_NUM_THREADS=J $PY bench/finetune_torch.py --model model.json --stream data.bs --threads J --malloc-fix --channels-last --warmup 4 --steps 8  # also with OMP_WAIT_POLICY=PASSIVE"
    echo "nnpredict -q -m ft.model -f stream --steps 1 data.bs > outputs.bs"
    echo "$PY bench/finetune_torch.py --model model.json --stream data.bs --threads 1 --check ft.model outputs.bs"
    echo '```'
    echo
    cat <<'NOTE'
Where the time went, and what changed (nntrain --profile and PyTorch's profiler, 1 thread, batch 32,
bench/profile_summary.py, ms a step, traced; 2026-12-06 at load 7-10, so the totals are slower than above):

| | total | convolutions | BatchNormalization | ReLU6 | padding and copies |
|---|---:|---:|---:|---:|---:|
| nntrain before the fold (commit e59ba92) | 1,315 | 698 | 154 | 342 (relu, then clamp_max) | 96 |
| nntrain with the fold (lib/nn/fold.hpp) | 749 | 582 | 0 (in the weights) | 69 (clamp_, in place) | 73 |
| PyTorch, channels-last | 962 | 610 | 143 | 117 (hardtanh) | 63 |

Nothing is recorded for autograd below the head on either side (no input or weight there needs a
gradient), so the step is the base's forward pass, the head's three Dense layers and Adam on 393,985
weights. nntrain's edge is the fold: each frozen Conv2D or DepthwiseConv2D, the frozen
BatchNormalization after it and the ReLU6 after that are one convolution whose output is clamped in
place, where PyTorch in eval mode runs three operators and writes three tensors; and it frees each
value after its last reader, hence the lower peak memory. The outputs and the head's gradients
agree with the unfolded layers within 1e-5 (tests/nn/test_fold.cpp). Channels-last is no edge:
nntrain's convolutions already run channels-last (its NHWC input is a channels-last view), as the
peer's do with `--channels-last` (its NCHW default is slower: 0.77 against 0.85 steps/s at 1 thread
in the first run of this bench).

The 2-thread rows need care on a busy machine: with libgomp's default waits, PyTorch at 2 threads
ran slower than at 1 (0.21-0.33 steps/s at load 10-12 in the first run) because each thread spins at
every barrier while the other waits for a core; nntrain runs with OMP_WAIT_POLICY=PASSIVE (it sets
it for itself), so the peer is timed with it too, and the faster of the two counts. With the
machine's 2 cores shared by 6-12 runnable processes, neither side gains much from a second thread,
and the 2-thread ratio is mostly the scheduler's; how it reads on quiet cores was not measured.

The check above compares the final outputs, which are all alike here: with BatchNormalization at
its initial statistics (mean 0, variance 1) and Glorot kernels, MobileNetV2's activations shrink
about 10x a block (1e-11 at the end of the base), so the head sees nearly the same features for
every image. That changes no timing (no subnormal floats: the smallest nonzero value is 8e-19);
the fold's numbers are checked with random statistics in tests/nn/test_fold.cpp.

Earlier runs on 2026-12-06, for the record: at 20:12, load 6-12, 3 passes, the peer with libgomp's
default waits only (and its NCHW layout as a third row): 1.39x (1.31-1.55) at 1 thread and 3.90x
(3.16-5.66) at 2 threads, the spinning collapse above; at 20:22, load 9-12, 3 passes against the
passive peer too: 1.24x (0.69-1.29) and 0.95x (0.88-1.31), the 2-thread goal NOT met; at 20:29, load
6-8, 5 passes: 1.33x (1.06-1.67) and 1.16x (0.98-1.30). The 1-thread goal holds in every run; the
2-thread one is met in some runs and missed in others: on this shared machine, read it as even to
1.3x, not as settled.
NOTE
} > "$W/result.md"
mv "$W/result.md" "$RESULT" || fail "cannot write $RESULT"
echo "bench/finetune.sh: wrote $RESULT" >&2
