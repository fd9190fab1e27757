#!/bin/sh
# The table examples against PyTorch at its best (issue 24, "Proof"), side by side
# in one run, written to bench/results/table_examples.md:
#  1. rotation (regression, examples/rotation): the angle of each turned
#     Fashion-MNIST item, mse; test MAE in degrees.
#  2. mosaic (multi-label, examples/mosaic): the classes a 2x2 mosaic shows, 10
#     sigmoid units, binary crossentropy; test micro F1 at 0.5 and macro AUC.
# Ours: imglist --table | imgprep | batchpack to a file, then nntrain (the time
# counted is the whole: listing, decoding once, training). PyTorch: a Dataset
# over the same table (csv + PIL) with DataLoader(num_workers=2), the same CNN,
# Adam, the same epochs, with the malloc fix and OpenBLAS (bench/tables_torch.py).
# Both train on the same training table and are scored on the same test table.
#  3. the same images listed from class folders and from the table: decode
#     throughput of imglist | imgprep | batchpack, side by side.
# TABLE_BENCH_EPOCHS (default 5), TABLE_BENCH_REPS (default 2), TABLE_BENCH_TRAIN
# (training images of each example, default 20000).
set -u
cd "$(dirname "$0")/.." || exit 70
ROOT=$(pwd)
PY=/usr/bin/python3
PATH="$ROOT/bin:$PATH"
EPOCHS=${TABLE_BENCH_EPOCHS:-5}
REPS=${TABLE_BENCH_REPS:-2}
TRAIN=${TABLE_BENCH_TRAIN:-20000}
RESULT=bench/results/table_examples.md
DATA=bench/out/table-examples
. bench/common.sh
for t in imglist imgprep batchpack nntrain nneval; do
    [ -x "bin/$t" ] || { echo "bench/table_examples.sh: bin/$t is missing (make first)" >&2; exit 70; }
done
$PY -c 'import ctypes; ctypes.CDLL("libblas.so.3").openblas_get_config' 2>/dev/null || {
    echo "bench/table_examples.sh: the system BLAS is not OpenBLAS: PyTorch would run on the reference BLAS (make deps installs libopenblas0-pthread)" >&2
    exit 70
}
fail() { echo "bench/table_examples.sh: $*" >&2; exit 1; }
now() { date +%s.%N; }
load() { cut -d' ' -f1-3 /proc/loadavg; }
jget() { $PY -c "import json,sys; print(json.loads(open(sys.argv[1]).read())$2)" "$1"; }
mkdir -p bench/results "$DATA"
W=$(mktemp -d "${TMPDIR:-/tmp}/imgpipe-bench-tables.XXXXXX") || exit 73
trap 'rm -rf "$W"' EXIT

[ -e "$DATA/rotation/.exported-$TRAIN" ] || { rm -rf "$DATA/rotation" &&
    examples/rotation/export "$DATA/rotation" --limit "$TRAIN" && touch "$DATA/rotation/.exported-$TRAIN"; } || fail "rotation export failed"
[ -e "$DATA/mosaic/.exported-$TRAIN" ] || { rm -rf "$DATA/mosaic" &&
    examples/mosaic/export "$DATA/mosaic" --train "$TRAIN" --test 4000 && touch "$DATA/mosaic/.exported-$TRAIN"; } || fail "mosaic export failed"

# ours TASK REP: list, decode once, train, score; prints seconds (without scoring)
ours() {
    case $1 in
        rotation) table="--y-col angle --class-mode raw"; size=28x28 ;;
        mosaic) table="--y-col labels --class-mode categorical"; size=56x56 ;;
    esac
    d="$DATA/$1"
    t0=$(now)
    imglist -q --table "$d/train.csv" $table "$d/train" | imgprep -q --size $size --color grayscale --shuffle --seed "$2" \
        | batchpack -q -b 128 -o "$W/train.batches" || fail "$1: our pipeline failed"
    nntrain -q --model "examples/$1/$1.json" --epochs "$EPOCHS" --shuffle --seed "$2" -o "$W/$1.model" "$W/train.batches" \
        || fail "$1: nntrain failed"
    t1=$(now)
    imglist -q --table "$d/test.csv" $table "$d/test" | imgprep -q --size $size --color grayscale \
        | nneval -q --json --model "$W/$1.model" > "$W/ours-$1-$2.json" || fail "$1: nneval failed"
    awk "BEGIN { printf \"%.2f\", $t1 - $t0 }"
}
theirs() {
    $PY bench/tables_torch.py "$1" "$DATA/$1" --epochs "$EPOCHS" --malloc-fix > "$W/torch-$1-$2.json" || fail "$1: the PyTorch peer failed"
    jget "$W/torch-$1-$2.json" '["seconds"]'
}

{
    echo "## The table examples against PyTorch (bench/table_examples.sh)"
    echo
    echo "Run $(date -u '+%Y-%m-%d %H:%M UTC') on $(cpu); load average $(load) at the start."
    echo "$TRAIN training images each, $EPOCHS epochs, batch 128, Adam (1e-3), the same CNN (examples/TASK/TASK.json) in both;"
    echo "$REPS interleaved passes. Ours: imglist --table | imgprep | batchpack, then nntrain (listing and decoding counted)."
    echo "PyTorch: Dataset over the same CSV (csv + PIL), DataLoader(num_workers=2), malloc fix, OpenBLAS"
    echo "(bench/tables_torch.py; its time counts the training epochs only). Test scores on the test table."
} > "$W/result.md"
for task in rotation mosaic; do
    echo "bench/table_examples.sh: $task" >&2
    ratios=""; ours_s=""; theirs_s=""
    for rep in $(seq 1 "$REPS"); do
        a=$(ours "$task" "$rep") || exit 1
        b=$(theirs "$task" "$rep") || exit 1
        ours_s="$ours_s $a"; theirs_s="$theirs_s $b"
        ratios="$ratios $(awk "BEGIN { printf \"%.3f\", $b / $a }")"
    done
    {
        echo
        echo "### $task"
        echo
        echo "| pipeline | wall s (median) | test score (pass 1) |"
        echo "|---|---:|---|"
        if [ "$task" = rotation ]; then
            echo "| **imgpipe** | $(median $ours_s) | MAE $(jget "$W/ours-$task-1.json" '["regression"]["overall"]["mae"]') degrees |"
            echo "| PyTorch DataLoader | $(median $theirs_s) | MAE $(jget "$W/torch-$task-1.json" '["test_mae"]') degrees |"
        else
            echo "| **imgpipe** | $(median $ours_s) | micro F1 $(jget "$W/ours-$task-1.json" '["multi_label"]["micro"]["f1"]'), macro AUC $(jget "$W/ours-$task-1.json" '["multi_label"]["macro"]["auc"]') |"
            echo "| PyTorch DataLoader | $(median $theirs_s) | micro F1 $(jget "$W/torch-$task-1.json" '["test_f1"]'), macro AUC $(jget "$W/torch-$task-1.json" '["test_macro_auc"]') |"
        fi
        echo
        echo "Ours is faster by **$(median $ratios)x** (the median of the passes' ratios; range $(range $ratios))."
    } >> "$W/result.md"
done
# 3. The same images from class folders (hard links, by item) and from the table.
echo "bench/table_examples.sh: folders against the table" >&2
d="$DATA/rotation"
if [ ! -e "$d/byitem/.linked" ]; then
    rm -rf "$d/byitem"
    tail -n +2 "$d/train.csv" | while IFS=, read -r file angle item; do
        mkdir -p "$d/byitem/$item" && ln "$d/train/$file" "$d/byitem/$item/$file"
    done && touch "$d/byitem/.linked" || fail "linking the folders failed"
fi
folder_rates=""; table_rates=""; ratios=""
decode() { imgprep -q --size 28x28 --color grayscale | batchpack -q -b 128 -o "$W/decoded.batches"; }
for rep in 1 2 3; do
    t0=$(now); imglist -q "$d/byitem" | decode || fail "the folder pipeline failed"
    t1=$(now); imglist -q --table "$d/train.csv" --y-col angle --class-mode raw "$d/train" | decode || fail "the table pipeline failed"
    t2=$(now)
    folder_rates="$folder_rates $(awk "BEGIN { printf \"%.1f\", $TRAIN / ($t1 - $t0) }")"
    table_rates="$table_rates $(awk "BEGIN { printf \"%.1f\", $TRAIN / ($t2 - $t1) }")"
    ratios="$ratios $(awk "BEGIN { printf \"%.3f\", ($t1 - $t0) / ($t2 - $t1) }")"
done
{
    echo
    echo "### Table targets against folder labels: imglist | imgprep | batchpack, the same $TRAIN PNG files"
    echo
    echo "| list | images/s (median of 3, range) |"
    echo "|---|---:|"
    echo "| class folders (\\`imglist DIR\\`) | $(median $folder_rates) ($(range $folder_rates)) |"
    echo "| the table (\\`imglist --table train.csv --y-col angle --class-mode raw DIR\\`) | $(median $table_rates) ($(range $table_rates)) |"
    echo
    echo "Table over folders: $(median $ratios)x the speed (range $(range $ratios))."
} >> "$W/result.md"
echo "Load average at the end: $(load)." >> "$W/result.md"
cp "$W/result.md" "$RESULT"
cat "$RESULT"
