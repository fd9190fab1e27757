#!/bin/sh
# A small ResNet (examples/models/fashion-mnist-resnet.json: Add, BatchNormalization,
# a strided projection shortcut) through the Fashion-MNIST demo's whole pipeline:
# test accuracy of the best epoch by validation accuracy. Writes bench/results/resnet.md.
set -u
cd "$(dirname "$0")/.." || exit 70
RESULT=bench/results/resnet.md
EPOCHS=${RESNET_EPOCHS:-6}
OUT=bench/out/fashion-resnet
mkdir -p bench/results
rm -rf "$OUT"
start=$(date +%s)
make -s -C examples/fashion-mnist MODEL=../models/fashion-mnist-resnet.json OUT="$(pwd)/$OUT" DATA="$(pwd)/bench/data/fashion" \
    BIN="$(pwd)/bin" EPOCHS="$EPOCHS" > "$OUT.log" 2>&1 ||
    { echo "resnet.sh: the Fashion-MNIST workflow failed" >&2; tail -n 5 "$OUT.log" >&2; exit 1; }
seconds=$(( $(date +%s) - start ))
{
    echo "## A small ResNet on Fashion-MNIST (the Functional API)"
    echo
    echo "Made by \`bench/resnet.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC') in ${seconds}s (load average $(cut -d' ' -f1-3 /proc/loadavg))."
    echo "\`make -C examples/fashion-mnist MODEL=../models/fashion-mnist-resnet.json EPOCHS=$EPOCHS\`: 82,026 parameters (a"
    echo "stem, one identity block, one strided block with a 1x1 projection shortcut, global average pooling,"
    echo "dropout, two Dense), Adam 0.001, batches of 128, the best epoch by validation accuracy, scored on the 10,000:"
    echo
    echo '```'
    head -n 1 "$OUT/evaluation.txt"
    echo '```'
    echo
    echo "Per epoch (\`$OUT/history.jsonl\`):"
    echo
    echo '```'
    /usr/bin/python3 -c 'import json,sys
for l in open(sys.argv[1]): h=json.loads(l); print("epoch %d  accuracy %.4f  val_accuracy %.4f  %.0f s" % (h["epoch"], h["accuracy"], h["val_accuracy"], h["seconds"]))' "$OUT/history.jsonl"
    echo '```'
} > "$RESULT"
cat "$RESULT"
