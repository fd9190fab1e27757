#!/bin/sh
# Issue 12: training and inference against PyTorch at its best and against the
# machine's sgemm peak, side by side in one run, written to bench/results/speed.md.
#  1. the peak: GFLOP/s of a large sgemm through OpenBLAS at 1 and 2 threads;
#  2. the lecture CNN (64x64x3, binary) and the Fashion-MNIST CNN (28x28x1, 10
#     classes), batch 128, Adam: training steps (nntrain against PyTorch 1.13) and
#     inference (nneval against PyTorch's model.eval() under torch.no_grad(),
#     forward, loss and accuracy), at 1 and 2 threads, samples/s, the ratio, and
#     each as a fraction of the peak at that thread count;
#  3. where a lecture CNN training step goes, nntrain --profile against PyTorch's
#     profiler, both summed by bench/profile_summary.py.
# PyTorch at its best: OpenBLAS (libopenblas0-pthread, refused without it),
# glibc's malloc fixed as nntrain fixes it (mallopt via ctypes), its thread count
# given to torch and to OpenBLAS (OPENBLAS_NUM_THREADS; Debian's torch does not
# pass it on). Every figure is the best of BENCH_ROUNDS (default 5) interleaved
# rounds; every ratio the median of the rounds' own ratios (a quiet moment that
# lifts one engine's best says nothing of the other). About 6 minutes on 2 quiet cores.
set -u
cd "$(dirname "$0")/.." || exit 70
ROOT=$(pwd)
PY=/usr/bin/python3
PATH="$ROOT/bin:$PATH"
ROUNDS=${BENCH_ROUNDS:-5}
RESULT=bench/results/speed.md
fail() { echo "bench/speed.sh: $*" >&2; exit 1; }
for t in nntrain nneval; do [ -x "bin/$t" ] || fail "bin/$t is missing (make first)"; done
$PY -c 'import torch' 2>/dev/null || fail "$PY lacks torch (make bench-deps)"
$PY -c 'import ctypes; ctypes.CDLL("libblas.so.3").openblas_get_config' 2>/dev/null ||
    fail "the system BLAS is not OpenBLAS: PyTorch would run on the reference BLAS (apt-get install libopenblas0-pthread, or make bench-deps)"
W=$(mktemp -d "${TMPDIR:-/tmp}/imgpipe-bench-speed.XXXXXX") || exit 73
trap 'rm -rf "$W"' EXIT
mkdir -p bench/results
started=$(date +%s)
calc() { awk "BEGIN { printf \"%.${2:-1}f\", $1 }"; }
json_get() { $PY -c "import json,sys; print(json.loads(sys.stdin.read())['$1'])"; }
max() { calc "($1 > $2) ? $1 : $2"; }
. bench/common.sh
load() { cut -d' ' -f1-3 /proc/loadavg; }
torch_run() {  # torch_run THREADS ARGS...: samples/s of the PyTorch peer
    j=$1; shift
    OPENBLAS_NUM_THREADS=$j $PY bench/nn_torch_step.py --threads "$j" --warmup 2 --malloc-fix "$@" | json_get samples_per_s ||
        fail "nn_torch_step.py $* failed"
}

$PY bench/nn_synth.py 1024 128 > "$W/lecture.bs" || fail "nn_synth.py failed"
# inference on 32 batches of each: enough that nneval's first batch (its warm-up) weighs little
$PY bench/nn_synth.py 4096 128 > "$W/lecture_eval.bs" || fail "nn_synth.py failed"
$PY bench/nn_synth.py 4096 128 28x28x1 10 > "$W/fm.bs" || fail "nn_synth.py failed"
cp bench/nn_lecture.json "$W/lecture.json"
cp bench/nn_lecture_fm.json "$W/fm.json"

echo "bench/speed.sh: sgemm peak" >&2
peak_1=0 peak_2=0
for r in $(seq "$ROUNDS"); do
    for j in 1 2; do
        g=$(OPENBLAS_NUM_THREADS=$j $PY bench/sgemm_peak.py "$j" | json_get gflops) || fail "sgemm_peak.py failed"
        eval "peak_$j=\$(max \$peak_$j $g)"
    done
done
# the ceiling at the layers' own shapes, 1 thread
OPENBLAS_NUM_THREADS=1 $PY bench/sgemm_peak.py 1 --layers > "$W/layers.json" || fail "sgemm_peak.py --layers failed"

{
    echo "## Training and inference against PyTorch at its best (bench/speed.sh)"
    echo
    echo "Run $(date -u '+%Y-%m-%d %H:%M UTC') on $(cpu); load average $(load) at the start;"
    echo "$($PY -c 'import ctypes; c = ctypes.CDLL("libblas.so.3"); c.openblas_get_config.restype = ctypes.c_char_p; print("OpenBLAS", c.openblas_get_config().decode())')."
    echo
    echo "The peak: a large sgemm through that OpenBLAS (\`bench/sgemm_peak.py\`, n = 2048 and 4096, best of $ROUNDS rounds):"
    echo "**$peak_1 GFLOP/s at 1 thread, $peak_2 at 2**. Work per sample, counted from the layers (2 FLOP a multiply-add;"
    echo "training: the forward pass, the input gradients but the first layer's, the weight gradients): lecture CNN"
    echo "MFLOP_LECTURE_TRAIN training / MFLOP_LECTURE_INFER inference, Fashion-MNIST CNN MFLOP_FM_TRAIN / MFLOP_FM_INFER."
    echo
    echo "The ceiling at the networks' own shapes (\`bench/sgemm_peak.py 1 --layers\`, 1 thread): the largest layer, the second"
    echo "Conv2D at batch 128, as one sgemm over the batch for each pass (im2col not counted), and through libtorch's oneDNN"
    echo "convolution, which both nntrain and PyTorch run. GFLOP/s, and % of the large sgemm's peak:"
    echo
    echo "| layer | sgemm forward | sgemm weight gradient | sgemm input gradient | oneDNN forward | oneDNN backward |"
    echo "|---|---:|---:|---:|---:|---:|"
    $PY - "$W/layers.json" "$peak_1" <<'PY'
import json, sys
layers, peak = json.load(open(sys.argv[1]))["layers"], float(sys.argv[2])
keys = ["sgemm_forward", "sgemm_weight_gradient", "sgemm_input_gradient", "onednn_forward", "onednn_backward"]
names = {"lecture": "lecture, 31x31x32 -> 29x29x64", "fm": "Fashion-MNIST, 13x13x32 -> 11x11x64"}
for name, rates in layers.items():
    print("| %s | %s |" % (names[name], " | ".join("%.1f (%.0f%%)" % (rates[k], 100 * rates[k] / peak) for k in keys)))
PY
    echo
    echo "Batch 128, Adam. nntrain: 3 epochs of a file of random U8 images (the lecture CNN 1,024, Fashion-MNIST 4,096),"
    echo "the best epoch of 2 and 3; nneval: a file of 4,096 (32 batches), the seconds of its report (after loading the"
    echo "model, its first batch included). PyTorch (\`bench/nn_torch_step.py\`): the same layers and initializers, U8 NHWC"
    echo "batches permuted and divided by 255 in the step, 2 warm-up steps then 8 timed (Fashion-MNIST training and all"
    echo "inference: 32). Each figure is the best of $ROUNDS interleaved rounds; **nntrain / PyTorch** is the median of the"
    echo "rounds' own ratios (the machine is shared: a quiet moment lifts one engine's best, not the other's), with their range."
    echo "**% peak** = samples/s x MFLOP a sample / the peak at that thread count."
    echo
    echo "| model | pass | threads | nntrain samples/s | PyTorch samples/s | nntrain / PyTorch | nntrain % peak | PyTorch % peak |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|"
} > "$W/speed.md"

for model in lecture fm; do
    mt=$($PY bench/nn_torch_step.py --threads 1 --steps 1 --warmup 0 --model $model | json_get mflop_per_sample)
    mi=$($PY bench/nn_torch_step.py --threads 1 --steps 1 --warmup 0 --model $model --inference | json_get mflop_per_sample)
    M=$(echo $model | tr a-z A-Z)
    sed -i "s/MFLOP_${M}_TRAIN/$mt/; s/MFLOP_${M}_INFER/$mi/" "$W/speed.md"
    samples=$( [ $model = lecture ] && echo 1024 || echo 4096 )
    steps=$( [ $model = lecture ] && echo 8 || echo 32 )  # a Fashion-MNIST step is 10x shorter
    eval=$( [ $model = lecture ] && echo "$W/lecture_eval.bs" || echo "$W/fm.bs" )
    for j in 1 2; do
        echo "bench/speed.sh: $model, $j thread(s)" >&2
        ot=0 tt=0 oi=0 ti=0 rt="" ri=""
        for r in $(seq "$ROUNDS"); do
            rm -f "$W/h.jsonl"
            nntrain -q -j "$j" --seed 1 -m "$W/$model.json" --epochs 3 --history "$W/h.jsonl" -o "$W/$model.model" "$W/$model.bs" ||
                fail "nntrain failed"
            s=$($PY -c "import json; print(min(json.loads(l)['seconds'] for l in open('$W/h.jsonl').read().split('\n')[1:] if l))")
            o=$(calc "$samples / $s")
            t=$(torch_run "$j" --steps $steps --model $model)
            ot=$(max "$ot" "$o") tt=$(max "$tt" "$t") rt="$rt $(calc "$o / $t" 3)"
            s=$(nneval -q -j "$j" --json -m "$W/$model.model" "$eval" | json_get seconds) || fail "nneval failed"
            o=$(calc "4096 / $s")
            t=$(torch_run "$j" --steps 32 --model $model --inference)
            oi=$(max "$oi" "$o") ti=$(max "$ti" "$t") ri="$ri $(calc "$o / $t" 3)" 
        done
        eval "peak=\$peak_$j"
        {
            echo "| $model | training | $j | **$ot** | $tt | **$(median $rt)x** ($(range $rt)) | $(calc "100 * $ot * $mt / ($peak * 1000)")% | $(calc "100 * $tt * $mt / ($peak * 1000)")% |"
            echo "| $model | inference | $j | **$oi** | $ti | **$(median $ri)x** ($(range $ri)) | $(calc "100 * $oi * $mi / ($peak * 1000)")% | $(calc "100 * $ti * $mi / ($peak * 1000)")% |"
        } >> "$W/speed.md"
    done
done

echo "bench/speed.sh: profiles" >&2
nntrain -q -j 1 --seed 1 -m "$W/lecture.json" --epochs 2 --profile "$W/ours.trace" -o "$W/p.model" "$W/lecture.bs" || fail "nntrain --profile failed"
OPENBLAS_NUM_THREADS=1 $PY bench/nn_torch_step.py --threads 1 --warmup 2 --steps 8 --malloc-fix --profile "$W/torch.trace" > /dev/null ||
    fail "nn_torch_step.py --profile failed"
{
    echo
    echo "### Where a training step goes: the lecture CNN, 1 thread"
    echo
    echo "nntrain's second epoch (8 steps) from \`nntrain --profile\`; PyTorch's 8 timed steps from its profiler"
    echo "(\`torch.autograd.profiler.profile\`; its scopes are operators only). Both summed by \`bench/profile_summary.py\`:"
    echo "spans are inclusive, operators' times are self times (without the operators they call)."
    echo
    echo "**nntrain**"
    echo
    $PY bench/profile_summary.py "$W/ours.trace" 8 --top 12 --after-first 8
    echo
    echo "**PyTorch**"
    echo
    $PY bench/profile_summary.py "$W/torch.trace" 8 --top 12
    echo
    echo '```sh'
    echo "$PY bench/nn_synth.py 1024 128 > lecture.bs; $PY bench/nn_synth.py 4096 128 > lecture_eval.bs"
    echo "$PY bench/nn_synth.py 4096 128 28x28x1 10 > fm.bs"
    echo "OPENBLAS_NUM_THREADS=J $PY bench/sgemm_peak.py J; OPENBLAS_NUM_THREADS=1 $PY bench/sgemm_peak.py 1 --layers"
    echo "nntrain -q -j J --seed 1 -m bench/nn_lecture.json --epochs 3 --history h.jsonl -o lecture.model lecture.bs"
    echo "nneval -q -j J --json -m lecture.model lecture_eval.bs"
    echo "OPENBLAS_NUM_THREADS=J $PY bench/nn_torch_step.py --threads J --warmup 2 --steps 8|32 --malloc-fix --model lecture|fm [--inference]"
    echo "nntrain -q -j 1 --seed 1 -m bench/nn_lecture.json --epochs 2 --profile ours.trace -o p.model lecture.bs"
    echo "$PY bench/profile_summary.py ours.trace 8 --after-first 8"
    echo '```'
    echo
    echo "Load average at the end: $(load). The whole benchmark took $(( $(date +%s) - started )) s."
} >> "$W/speed.md"
cp "$W/speed.md" "$RESULT"
echo "bench/speed.sh: wrote $RESULT" >&2
