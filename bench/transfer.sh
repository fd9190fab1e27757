#!/bin/sh
# Transfer learning (examples/transfer): fine-tuning from a pretrained model
# against training from scratch on the same small set, for several set sizes and
# seeds. The pretrained model is made once (six clothing classes of
# Fashion-MNIST); each run re-heads it for four other classes and fine-tunes
# with the first block frozen. Writes bench/results/transfer.md.
# TRANSFER_SIZES (images per class, default "5 10 25"), TRANSFER_SEEDS ("1 2 3").
set -u
cd "$(dirname "$0")/.." || exit 70
. bench/common.sh
sizes=${TRANSFER_SIZES:-5 10 25}
seeds=${TRANSFER_SEEDS:-1 2 3}
ex=examples/transfer
out=bench/out/transfer
mkdir -p "$out" bench/results
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
make -s -C $ex OUT="../../$out" "../../$out/source.model" > /dev/null || exit 70
rows=""
for n in $sizes; do
    tuned="" scratch="" tuned_s="" scratch_s=""
    for seed in $seeds; do
        rm -f "$out"/small.* "$out"/finetuned.* "$out"/scratch.* "$out"/report.txt
        make -s -C $ex OUT="../../$out" PER_CLASS="$n" SEED="$seed" "../../$out/report.txt" > /dev/null || exit 70
        acc() { sed -n 's/.*"accuracy": *\([0-9.]*\).*/\1/p' "$out/$1.eval.json" | head -n 1; }
        tuned="$tuned $(acc finetuned)" scratch="$scratch $(acc scratch)"
        tuned_s="$tuned_s $(cat "$out/finetuned.seconds")" scratch_s="$scratch_s $(cat "$out/scratch.seconds")"
    done
    list() { for v in "$@"; do printf "%.3f " "$v"; done | sed "s/ $//"; }
    rows="$rows| $n | **$(median $tuned)** ($(list $tuned)) | $(median $scratch) ($(list $scratch)) | $(median $tuned_s) | $(median $scratch_s) |
"
done
{
    echo "## Transfer learning: fine-tuning against training from scratch (bench/transfer.sh)"
    echo
    echo "Run $(date -u '+%Y-%m-%d %H:%M') UTC on $(cpu); load average $load_start at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end."
    echo "examples/transfer: a CNN pretrained by nntrain on six clothing classes of Fashion-MNIST (36,000 images,"
    echo "3 epochs: $(cat "$out/source.seconds") s, once), re-headed for sandals, sneakers, bags and ankle boots"
    echo "(\`--init-from source.model --skip-mismatch --freeze 'conv_1,bn_1'\`) and fine-tuned on N training images per"
    echo "class, against the same spec trained from scratch on the same images; 30 epochs, batch 8, both. Test accuracy"
    echo "on the 4,000 test images of those classes: median over the seeds ($seeds), each seed's in brackets; seconds"
    echo "of training (median)."
    echo
    echo "| images per class | fine-tuned | from scratch | fine-tuning s | from scratch s |"
    echo "|---:|---:|---:|---:|---:|"
    printf '%s' "$rows"
} > bench/results/transfer.md
cat bench/results/transfer.md
