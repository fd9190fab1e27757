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
#  4. paired (only when TABLE_BENCH_TASKS names it): rotation's engines alone, on the
#     same random draws: for each seed, nntrain's run of part 1, and PyTorch from
#     the same initial weights (nntrain's, read back from a 1-step run at lr 1e-30)
#     on the same batch stream, with Keras' Adam (tables_torch.py --init-model
#     --batches --adam keras).
# TABLE_BENCH_EPOCHS (default 5), TABLE_BENCH_REPS (default 3; pass K seeds both sides with
# TABLE_BENCH_SEED + K - 1, TABLE_BENCH_SEED default 1), TABLE_BENCH_TRAIN (training images of each
# example, default 20000), TABLE_BENCH_TASKS (default "rotation mosaic folders": a subset runs
# only those parts), TABLE_BENCH_RESULT (default bench/results/table_examples.md).
set -u
cd "$(dirname "$0")/.." || exit 70
ROOT=$(pwd)
PY=/usr/bin/python3
PATH="$ROOT/bin:$PATH"
EPOCHS=${TABLE_BENCH_EPOCHS:-5}
REPS=${TABLE_BENCH_REPS:-3}
TRAIN=${TABLE_BENCH_TRAIN:-20000}
SEED=${TABLE_BENCH_SEED:-1}
TASKS=${TABLE_BENCH_TASKS:-rotation mosaic folders}
RESULT=${TABLE_BENCH_RESULT:-bench/results/table_examples.md}
has() { case " $TASKS " in *" $1 "*) return 0 ;; esac; return 1; }
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
! has mosaic || [ -e "$DATA/mosaic/.exported-$TRAIN" ] || { rm -rf "$DATA/mosaic" &&
    examples/mosaic/export "$DATA/mosaic" --train "$TRAIN" --test 4000 && touch "$DATA/mosaic/.exported-$TRAIN"; } || fail "mosaic export failed"

# ours TASK REP: list, decode once, train, score; prints seconds (without scoring)
ours() {
    case $1 in
        rotation) table="--y-col angle --class-mode raw"; size=28x28 ;;
        mosaic) table="--y-col labels --class-mode categorical"; size=56x56 ;;
    esac
    d="$DATA/$1"
    t0=$(now)
    # A fresh permutation every epoch, as PyTorch's DataLoader(shuffle=True) draws: imgprep writes
    # the epochs, each shuffled, and nntrain reads them in turn.
    imglist -q --table "$d/train.csv" $table "$d/train" \
        | imgprep -q --size $size --color grayscale --epochs "$EPOCHS" --shuffle --seed "$2" \
        | batchpack -q -b 128 -o "$W/train.batches" || fail "$1: our pipeline failed"
    nntrain -q --model "examples/$1/$1.json" --epochs "$EPOCHS" --seed "$2" -o "$W/$1.model" "$W/train.batches" \
        || fail "$1: nntrain failed"
    t1=$(now)
    imglist -q --table "$d/test.csv" $table "$d/test" | imgprep -q --size $size --color grayscale \
        | nneval -q --json --model "$W/$1.model" > "$W/ours-$1-$2.json" || fail "$1: nneval failed"
    awk "BEGIN { printf \"%.2f\", $t1 - $t0 }"
}
theirs() {
    $PY bench/tables_torch.py "$1" "$DATA/$1" --epochs "$EPOCHS" --seed "$2" --malloc-fix > "$W/torch-$1-$2.json" || fail "$1: the PyTorch peer failed"
    jget "$W/torch-$1-$2.json" '["seconds"]'
}

{
    echo "## The table examples against PyTorch (bench/table_examples.sh)"
    echo
    echo "Run $(date -u '+%Y-%m-%d %H:%M UTC') on $(cpu); load average $(load) at the start."
    echo "$TRAIN training images each, $EPOCHS epochs, batch 128, Adam (1e-3), the same CNN (examples/TASK/TASK.json) in both;"
    echo "$REPS interleaved passes (seeds $SEED-$((SEED + REPS - 1))). Ours: imglist --table | imgprep --epochs N --shuffle (a fresh permutation each epoch, as DataLoader(shuffle=True)) | batchpack, then nntrain; listing and decoding counted."
    echo "PyTorch: Dataset over the same CSV (csv + PIL), DataLoader(num_workers=2), malloc fix, OpenBLAS"
    echo "(bench/tables_torch.py; its time counts the training epochs only). Test scores on the test table."
} > "$W/result.md"
# Scores to 4 decimals (common.sh's median and range give 2).
median4() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { printf "%.4f", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
range4() { printf '%s\n' "$@" | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%.4f-%.4f", lo, hi }'; }
score() {  # score FILE KEYS: a number of a JSON file, to 4 decimals
    $PY -c "import json,sys; print('%.4f' % json.loads(open(sys.argv[1]).read())$2)" "$1"
}
for task in rotation mosaic; do
    has "$task" || continue
    echo "bench/table_examples.sh: $task" >&2
    ratios=""; ours_s=""; theirs_s=""; ours_a=""; theirs_a=""; ours_b=""; theirs_b=""
    for rep in $(seq "$SEED" $((SEED + REPS - 1))); do
        a=$(ours "$task" "$rep") || exit 1
        b=$(theirs "$task" "$rep") || exit 1
        ours_s="$ours_s $a"; theirs_s="$theirs_s $b"
        ratios="$ratios $(awk "BEGIN { printf \"%.3f\", $b / $a }")"
        if [ "$task" = rotation ]; then
            ours_a="$ours_a $(score "$W/ours-$task-$rep.json" '["regression"]["overall"]["mae"]')"
            theirs_a="$theirs_a $(score "$W/torch-$task-$rep.json" '["test_mae"]')"
        else
            ours_a="$ours_a $(score "$W/ours-$task-$rep.json" '["multi_label"]["micro"]["f1"]')"
            theirs_a="$theirs_a $(score "$W/torch-$task-$rep.json" '["test_f1"]')"
            ours_b="$ours_b $(score "$W/ours-$task-$rep.json" '["multi_label"]["macro"]["auc"]')"
            theirs_b="$theirs_b $(score "$W/torch-$task-$rep.json" '["test_macro_auc"]')"
        fi
    done
    {
        echo
        echo "### $task"
        echo
        if [ "$task" = rotation ]; then
            echo "| pipeline | wall s (median, range) | test MAE, degrees (median, range; lower is better) |"
            echo "|---|---:|---:|"
            echo "| **imgpipe** | $(median $ours_s) ($(range $ours_s)) | $(median4 $ours_a) ($(range4 $ours_a)) |"
            echo "| PyTorch DataLoader | $(median $theirs_s) ($(range $theirs_s)) | $(median4 $theirs_a) ($(range4 $theirs_a)) |"
        else
            echo "| pipeline | wall s (median, range) | test micro F1 at 0.5 | test macro AUC |"
            echo "|---|---:|---:|---:|"
            echo "| **imgpipe** | $(median $ours_s) ($(range $ours_s)) | $(median4 $ours_a) ($(range4 $ours_a)) | $(median4 $ours_b) ($(range4 $ours_b)) |"
            echo "| PyTorch DataLoader | $(median $theirs_s) ($(range $theirs_s)) | $(median4 $theirs_a) ($(range4 $theirs_a)) | $(median4 $theirs_b) ($(range4 $theirs_b)) |"
        fi
        echo
        echo "Ours is faster by **$(median $ratios)x** (the median of the passes' ratios; range $(range $ratios))."
        if [ "$task" = rotation ]; then
            echo
            echo "Test MAE by seed (imgpipe, then PyTorch): $(seq -s ' ' "$SEED" $((SEED + REPS - 1)) | tr ' ' ',');"
            echo "imgpipe$(printf ' %s' $ours_a);"
            echo "PyTorch$(printf ' %s' $theirs_a)."
        fi
    } >> "$W/result.md"
done

# 4. The engines alone on the same draws (see the top).
if has paired; then
    echo "bench/table_examples.sh: rotation, paired draws" >&2
    ours_a=""; theirs_a=""; diffs=""
    for rep in $(seq "$SEED" $((SEED + REPS - 1))); do
        ours rotation "$rep" > /dev/null || exit 1
        nntrain -q --model examples/rotation/rotation.json --epochs 1 --steps-per-epoch 1 --lr 1e-30 --seed "$rep" \
            -o "$W/init.model" "$W/train.batches" || fail "paired: the initial weights failed"
        $PY bench/tables_torch.py rotation "$DATA/rotation" --init-model "$W/init.model" --batches "$W/train.batches" \
            --adam keras --malloc-fix > "$W/paired-$rep.json" || fail "paired: the PyTorch peer failed"
        a=$(score "$W/ours-rotation-$rep.json" '["regression"]["overall"]["mae"]')
        b=$(score "$W/paired-$rep.json" '["test_mae"]')
        ours_a="$ours_a $a"; theirs_a="$theirs_a $b"
        diffs="$diffs $(awk "BEGIN { d = $a - $b; printf \"%.4f\", d < 0 ? -d : d }")"
    done
    {
        echo
        echo "### rotation, the engines alone: the same initial weights and batches"
        echo
        echo "Per seed: nntrain's test MAE, then PyTorch's from nntrain's initial weights on nntrain's batch stream, with Keras' Adam."
        echo
        echo "| seed |$(printf ' %s |' $(seq "$SEED" $((SEED + REPS - 1))))"
        echo "|---|$(printf -- '---:|%.0s' $(seq 1 "$REPS"))"
        echo "| imgpipe |$(printf ' %s |' $ours_a)"
        echo "| PyTorch, same draws |$(printf ' %s |' $theirs_a)"
        echo
        echo "Medians $(median4 $ours_a) and $(median4 $theirs_a); the pairs differ by $(median4 $diffs) (median; range $(range4 $diffs))."
    } >> "$W/result.md"
fi

# 3. The same images from class folders (hard links, by item) and from the table.
if has folders; then
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
    echo '| class folders (`imglist DIR`) | '"$(median $folder_rates) ($(range $folder_rates))"' |'
    echo '| the table (`imglist --table train.csv --y-col angle --class-mode raw DIR`) | '"$(median $table_rates) ($(range $table_rates))"' |'
    echo
    echo "Table over folders: $(median $ratios)x the speed (range $(range $ratios))."
} >> "$W/result.md"
fi
echo "Load average at the end: $(load)." >> "$W/result.md"
cp "$W/result.md" "$RESULT"
cat "$RESULT"
