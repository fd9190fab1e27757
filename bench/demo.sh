#!/bin/sh
# The demo (`make demo`'s examples/fashion-mnist) from nothing: the PNG export, the
# lists, decoding, 10 epochs of training, evaluation, predictions and the drawings,
# timed as one wall-clock figure, with the test accuracy of the model it keeps.
# Writes bench/results/demo.md. DEMO_ABLATION=1 also trains the variants in
# bench/demo_models/ on the same decoded stream and scores each on the test set
# (8 to 15 minutes each).
set -u
cd "$(dirname "$0")/.." || exit 70
RESULT=bench/results/demo.md
OUT=bench/out/demo
DATA=bench/out/demo-data
mkdir -p bench/results bench/out
rm -rf "$OUT" "$DATA"
start=$(date +%s)
make -s -C examples/fashion-mnist OUT="$(pwd)/$OUT" DATA="$(pwd)/$DATA" BIN="$(pwd)/bin" > "$OUT.log" 2>&1 ||
    { echo "demo.sh: the Fashion-MNIST workflow failed" >&2; tail -n 5 "$OUT.log" >&2; exit 1; }
seconds=$(( $(date +%s) - start ))
per_epoch() {
    /usr/bin/python3 -c 'import json,sys
for l in open(sys.argv[1]): h=json.loads(l); print("epoch %2d  accuracy %.4f  val_accuracy %.4f  lr %.6f  %.0f s" % (h["epoch"], h["accuracy"], h["val_accuracy"], h["lr"], h["seconds"]))' "$1"
}
{
    echo "## The demo: Fashion-MNIST end to end"
    echo
    echo "Made by \`bench/demo.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC') (load average $(cut -d' ' -f1-3 /proc/loadavg))."
    echo "\`make -C examples/fashion-mnist\` from nothing (exporting 70,000 PNG files, listing, decoding,"
    echo "training examples/models/fashion-mnist-tuned.json for 10 epochs, evaluating, predicting, drawing):"
    echo "**${seconds} s** of wall-clock time on this machine. The test accuracy of the epoch kept (the best by"
    echo "validation accuracy):"
    echo
    echo '```'
    head -n 1 "$OUT/evaluation.txt"
    echo '```'
    echo
    echo '```'
    per_epoch "$OUT/history.jsonl"
    echo '```'
} > "$RESULT"
if [ "${DEMO_ABLATION:-0}" = 1 ]; then
    {
        echo
        echo "Variants on the same decoded stream (\`DEMO_ABLATION=1 bench/demo.sh\`), test accuracy of the best epoch:"
        echo
        echo "| model | epochs | best val_accuracy | test accuracy |"
        echo "|---|---:|---:|---:|"
    } >> "$RESULT"
    for spec in bench/demo_models/*.json; do
        name=$(basename "$spec" .json)
        epochs=$(/usr/bin/python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print(s["optimizer"]["learning_rate"]["decay_steps"] // 422)' "$spec")
        rm -rf "$OUT/$name"
        bin/nntrain -q --model "$spec" --epochs "$epochs" --shuffle --seed 1 --val "$OUT/val.batches" --history "$OUT/$name.jsonl" \
            --checkpoint-dir "$OUT/$name" --keep 0 --monitor val_accuracy "$OUT/train.batches" || exit 1
        best=$(/usr/bin/python3 -c 'import json,sys; print("%.4f" % max(json.loads(l)["val_accuracy"] for l in open(sys.argv[1])))' "$OUT/$name.jsonl")
        test=$(bin/nneval -q --model "$OUT/$name/best.model" "$OUT/test.batches" | head -n 1 | sed 's/.*accuracy: //')
        echo "| $name | $epochs | $best | $test |" >> "$RESULT"
    done
fi
cat "$RESULT"
