#!/bin/sh
# Loading a 100 MB model (issue 25: at most twice `cat FILE > /dev/null`, warm
# cache), from our model file and from the same weights as a Keras 2 .h5, a
# Keras 3 .keras and a TF.js model.json. The model: Flatten, Dense 4096, Dense 2
# on 32x64x3 inputs (25.2 million floats), one SGD step of nntrain (no optimizer
# slots: the file is the weights). The .h5 is written from the model file by
# bench/model_load.py, the .keras by tests/shell/keras_convert.py, the TF.js
# files by ../shared's h5_to_tfjs_layers.py (left out where ../shared is absent).
# Each round times, for each format in turn (interleaved; files read once
# before, so the cache is warm): cat, and nnpredict on a one-sample stream,
# which prints the load's own seconds with IMGPIPE_LOAD_TIME set (Model::load:
# from opening the file to the model ready, weights in place; libtorch's
# start-up excluded) and, for a Keras file, those of the copy into the
# parameters alone. Medians and ranges in milliseconds.
# BASE_BIN=DIR also times DIR/nnpredict, whole, each round (another build, say
# main's before this change: it has no IMGPIPE_LOAD_TIME), and the time of a
# batch of 32 in nnpredict and of a training step in nntrain (sgd) from the .h5,
# in DIR's build and in this one (whose Dense kernel from a Keras file is the
# transposed view of Keras' array), and from our model file in this one (from
# --profile's trace: a batch's spans, the median of batches 2-9).
# Writes bench/results/model_load.md. Environment: BENCH_ROUNDS (default 7).
set -u
cd "$(dirname "$0")/.." || exit 70
ROOT=$(pwd)
. bench/common.sh
W=bench/out/model_load
RESULT=bench/results/model_load.md
ROUNDS=${BENCH_ROUNDS:-7}
PY=/usr/bin/python3
TFJS=$ROOT/../shared/reference/keras-models/weights/h5_to_tfjs_layers.py
PATH="$ROOT/bin:$PATH"
rm -rf "$W"
mkdir -p "$W" bench/results
die() { echo "model_load.sh: $*" >&2; exit 1; }
[ -x bin/nnpredict ] || die "bin/nnpredict is missing (make all)"
ms() { date +%s%N; }

$PY tests/shell/stream.py make 4 32 64 3 --batch 4 --classes a,b > "$W/tiny.bs" || die "stream.py failed"
$PY tests/shell/stream.py make 1 32 64 3 > "$W/one.bs"
$PY tests/shell/stream.py make 288 32 64 3 --batch 32 --classes a,b > "$W/steps.bs"
cat > "$W/big.json" <<'JSON'
{"input_shape": [32, 64, 3], "layers": [
  {"type": "Flatten", "name": "flatten"},
  {"type": "Dense", "units": 4096, "activation": "relu", "name": "dense"},
  {"type": "Dense", "units": 2, "activation": "softmax", "name": "dense_1"}],
 "optimizer": {"type": "sgd", "learning_rate": 0.01}, "loss": "sparse_categorical_crossentropy"}
JSON
nntrain -q -j 1 --seed 1 -m "$W/big.json" -o "$W/big.model" "$W/tiny.bs" 2> /dev/null || die "nntrain failed"
$PY bench/model_load.py "$W/big.model" "$W/big.h5" || die "model_load.py failed"
$PY tests/shell/keras_convert.py "$W/big.h5" keras3 "$W/big.keras" || die "keras_convert.py failed"
formats="model:big.model h5:big.h5 keras:big.keras"
if [ -f "$TFJS" ]; then
    $PY "$TFJS" "$W/big.h5" "$W/tfjs" > /dev/null || die "h5_to_tfjs_layers.py failed"
    formats="$formats tfjs:tfjs/model.json"
fi

# The same probabilities from every format (our file also names the classes).
for f in $formats; do
    file=${f#*:}
    nnpredict -q -j 1 -m "$W/$file" "$W/one.bs" | cut -f 3 > "$W/${f%%:*}.out" || die "nnpredict $file failed"
    cmp -s "$W/model.out" "$W/${f%%:*}.out" || die "$file predicts other numbers than big.model"
done

data_of() {  # the bytes cat reads: the model file, or model.json and its shard
    case $1 in tfjs/*) echo "$W/tfjs/model.json $W/tfjs/group1-shard1of1.bin" ;; *) echo "$W/$1" ;; esac
}
g++ -O2 -std=c++17 bench/copy_offset.cpp -o "$W/copy_offset" || die "cannot build bench/copy_offset.cpp"
load=$(cut -d ' ' -f 1 /proc/loadavg)
for f in $formats; do cat $(data_of "${f#*:}") > /dev/null; done
r=0
while [ $r -lt "$ROUNDS" ]; do
    r=$((r + 1))
    for f in $formats; do
        name=${f%%:*} file=${f#*:}
        a=$(ms); cat $(data_of "$file") > /dev/null; b=$(ms)
        echo "($b - $a) / 1000000" | bc -l >> "$W/$name.cat"
        a=$(ms)
        IMGPIPE_LOAD_TIME=1 nnpredict -q -j 1 -m "$W/$file" "$W/one.bs" 2> "$W/err" > /dev/null || die "nnpredict $file failed"
        b=$(ms)
        echo "($b - $a) / 1000000" | bc -l >> "$W/$name.whole"
        sed -n 's/.*: load \([0-9.]*\) s$/\1 * 1000/p' "$W/err" | bc -l >> "$W/$name.load"
        sed -n 's/.*: weights copied in \([0-9.]*\) s$/\1 * 1000/p' "$W/err" | bc -l >> "$W/$name.copy"
        sed -n 's/.*: file read in \([0-9.]*\) s$/\1 * 1000/p' "$W/err" | bc -l >> "$W/$name.read"
        if [ -n "${BASE_BIN:-}" ]; then
            a=$(ms)
            "$BASE_BIN/nnpredict" -q -j 1 -m "$W/$file" "$W/one.bs" > /dev/null 2>&1 || die "$BASE_BIN/nnpredict $file failed"
            b=$(ms)
            echo "($b - $a) / 1000000" | bc -l >> "$W/$name.base"
        fi
    done
done

# Per batch (BASE_BIN given): nnpredict's batch of 32 and nntrain's step, the
# .h5 in BASE_BIN's build and in this one, our file in this one; interleaved.
# From --profile's trace: a batch's engine spans (input, each layer, loss,
# backward, metrics, optimizer, output) summed, the median over batches 2-9.
per_batch() {  # per_batch TRACE: ms
    $PY - "$1" <<'PY'
import json, re, sys
events = json.load(open(sys.argv[1]))
events = events["traceEvents"] if isinstance(events, dict) else events
top = {"input", "zero_grad", "loss", "backward", "metrics", "optimizer", "output"}
spans = {}
for e in sorted(events, key=lambda e: e.get("ts", 0)):
    name = e.get("name", "")
    if e.get("ph") == "X" and (name in top or re.fullmatch(r"\S+ \(\w+\)", name)):
        spans.setdefault(name, []).append(e["dur"] / 1000)
n = min(len(v) for v in spans.values())
batches = sorted(sum(v[k] for v in spans.values()) for k in range(1, n))
print(batches[len(batches) // 2])
PY
}
# predict|train BIN h5|model: 9 batches, from the .h5 or from our file (nntrain: --init-from, our layout).
predict() {
    m=big.h5; [ "$2" = model ] && m=big.model
    "$1/nnpredict" -q -j 1 -m "$W/$m" --steps 9 --profile "$W/trace.json" "$W/steps.bs" > /dev/null 2>&1 || die "$1/nnpredict $m failed"
}
train() {
    set -- "$1" -m "$W/big.h5"
    [ "$kind" = model ] && set -- "$1" -m "$W/big.json" --init-from "$W/big.model"
    bin=$1; shift
    "$bin/nntrain" -q -j 1 --seed 1 "$@" --optimizer sgd --lr 0.001 --epochs 1 --steps-per-epoch 9 \
        --profile "$W/trace.json" -o "$W/trained.model" "$W/steps.bs" > /dev/null 2>&1 || die "$bin/nntrain $* failed"
}
if [ -n "${BASE_BIN:-}" ]; then
    r=0
    while [ $r -lt "$ROUNDS" ]; do
        r=$((r + 1))
        for run in "base $BASE_BIN h5" "h5 bin h5" "model bin model"; do
            set -- $run
            kind=$3
            predict "$2" "$3" && per_batch "$W/trace.json" >> "$W/$1.predict"
            train "$2" && per_batch "$W/trace.json" >> "$W/$1.train"
        done
    done
fi
"$W/copy_offset" "$W/big.keras" > "$W/copy_offset.md" || die "copy_offset failed"
load_end=$(cut -d ' ' -f 1 /proc/loadavg)

{
    echo "## Loading a 100 MB model"
    echo
    echo "$(date -u +%Y-%m-%d), $(cpu); load average $load at the start, $load_end at the end; $ROUNDS rounds,"
    echo "formats interleaved, warm cache. A Dense-heavy model (Flatten, Dense 4096, Dense 2 on 32x64x3: 25.2 million"
    echo "floats), the same weights in each format (every format's predictions checked equal). Milliseconds, median"
    echo "(lowest-highest). *cat*: \`cat FILE > /dev/null\` (TF.js: model.json and its shard), process included."
    echo "*load*: Model::load alone (IMGPIPE_LOAD_TIME: opening the file to the weights in place). *nnpredict*:"
    echo "the whole process on a one-sample stream, libtorch's start-up included. The goal: load <= 2x cat."
    echo
    base_head= base_rule=
    [ -n "${BASE_BIN:-}" ] && base_head=" nnpredict, $BASE_BIN |" base_rule="---:|"
    echo "| format | MB | cat | load | load / cat | nnpredict |$base_head"
    echo "|---|---:|---:|---:|---:|---:|$base_rule"
    for f in $formats; do
        name=${f%%:*} file=${f#*:}
        mb=$(cat $(data_of "$file") | wc -c | awk '{printf "%.1f", $1 / 1e6}')
        c=$(median < "$W/$name.cat") l=$(median < "$W/$name.load")
        echo "| $name | $mb | $c ($(range < "$W/$name.cat")) | $l ($(range < "$W/$name.load")) | $(awk "BEGIN {printf \"%.1f\", $l / $c}")x | $(median < "$W/$name.whole") ($(range < "$W/$name.whole")) |$(
            [ -n "${BASE_BIN:-}" ] && echo " $(median < "$W/$name.base") ($(range < "$W/$name.base")) |")"
    done
    echo
    echo "Where a Keras load's time goes (IMGPIPE_LOAD_TIME, medians, ms): *file read*: read_keras_file (open, map,"
    echo "the HDF5 child's fork and parse while the parent fills the mapping's page tables; TF.js: the manifest,"
    echo "the shard mapped); *copied*: the weights from the mapping into the parameters; the rest: the spec, the"
    echo "network and its flat buffers (the load's median less the others': medians do not add, it may be below 0)."
    echo
    echo "| format | file read | copied | rest |"
    echo "|---|---:|---:|---:|"
    for f in $formats; do
        name=${f%%:*}
        [ -s "$W/$name.copy" ] || continue
        rd=$(median < "$W/$name.read") cp=$(median < "$W/$name.copy") l=$(median < "$W/$name.load")
        echo "| $name | $rd | $cp | $(awk "BEGIN {printf \"%.2f\", $l - $rd - $cp}") |"
    done
    if [ -n "${BASE_BIN:-}" ]; then
        echo
        echo "Per batch of 32 (ms, median (lowest-highest) over the rounds of each run's median over batches 2-9;"
        echo "\`--profile\`'s spans of a batch summed: input, each layer, loss, backward, metrics, optimizer, output):"
        echo "nnpredict, and nntrain's step (sgd), from the .h5 in $BASE_BIN's build (the kernel transposed into our"
        echo "layout at load), in this one (the kernel in Keras' layout), and from our model file in this one"
        echo "(nntrain: \`--init-from\`, our layout)."
        echo
        echo "| model | nnpredict | nntrain |"
        echo "|---|---:|---:|"
        for row in "base:.h5, $BASE_BIN" "h5:.h5, this build" "model:our model file, this build"; do
            n=${row%%:*}
            echo "| ${row#*:} | $(median < "$W/$n.predict") ($(range < "$W/$n.predict")) | $(median < "$W/$n.train") ($(range < "$W/$n.train")) |"
        done
    fi
    echo
    echo "Our model file's load is its header, checked, then one \`pread\` per tensor straight into the model's"
    echo "parameters (the optimizer's flat buffer, in 2 MB pages): the same bytes cat reads, into memory the"
    echo "process must fault in once. The Keras formats are mapped (page tables filled at once) and each weight"
    echo "is copied once from the page cache into its parameter (read_weight), with no array of its own; the"
    echo "HDF5 (.h5, the .keras' stored member in place) is parsed in a forked child first, which sends the"
    echo "datasets' offsets. A Dense kernel is not transposed: the parameter [out, in] is the transposed view of"
    echo "Keras' [in, out] array, which is copied as it lies (Dense's sgemm blocks and torch::linear read it with"
    echo "the other trans flag), into a place that starts in its 4 KB page at the first float boundary at or past"
    echo "its bytes' offset in theirs. The .keras' stored model.weights.h5 starts where the zip's headers end, and"
    echo "this one's kernel 2 bytes past a float boundary. Where the copy lands decides its speed (glibc's memcpy,"
    echo "bench/copy_offset.cpp, ms for 100 MB from the file's mapping into fresh 2 MB pages, by the distance from"
    echo "the source's offset in a page to the destination's, -2 the float boundary below it; before, a kernel"
    echo "whose bytes were not float-aligned went wherever the buffer put it, and this .keras loaded in 1.9-2.3x cat):"
    echo
    cat "$W/copy_offset.md"
    echo
    echo "Command: \`sh bench/model_load.sh\` (\`BASE_BIN=../main/bin\` adds the whole nnpredict of another build, and the"
    echo "per-batch table). Environment: BENCH_ROUNDS."
} > "$RESULT"
cat "$RESULT"
