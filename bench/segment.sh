#!/bin/sh
# Segmentation (examples/segmentation) against PyTorch at its best on the same
# scenes: the same U-Net trained the same way (batches of 16, Adam, cross-entropy
# with the edge pixels' 255 ignored, the same epochs; flip and rotation drawn
# once per pair), side by side: training seconds (data loading included: our
# pipe imglist | imgprep | batchpack | nntrain; their DataLoader with 2 workers),
# test mean IoU and pixel accuracy. PyTorch with OpenBLAS and the malloc fix.
# Writes bench/results/segment.md. SEGMENT_TRAIN (default 2000), SEGMENT_EPOCHS (10),
# SEGMENT_SEEDS ("1 2").
set -u
cd "$(dirname "$0")/.." || exit 70
. bench/common.sh
PY=/usr/bin/python3
train=${SEGMENT_TRAIN:-2000}
epochs=${SEGMENT_EPOCHS:-10}
seeds=${SEGMENT_SEEDS:-1 2}
ex=examples/segmentation
out=bench/out/segment-example
data=bench/out/segment-scenes
mkdir -p "$out" bench/results
$PY -c 'import ctypes; ctypes.CDLL("libblas.so.3").openblas_get_config' 2>/dev/null || {
    echo "bench/segment.sh: the system BLAS is not OpenBLAS: PyTorch would run on the reference BLAS (make deps installs libopenblas0-pthread)" >&2
    exit 70
}
[ -f "$data/.exported-$train-500" ] || { $ex/export "$data" --train "$train" --test 500 > /dev/null && touch "$data/.exported-$train-500"; } || exit 70
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
ours_s="" ours_iou="" ours_acc="" theirs_s="" theirs_iou="" theirs_acc=""
for seed in $seeds; do
    rm -rf "$out" && mkdir -p "$out"
    PATH="$(pwd)/bin:$PATH"
    classes=background,trouser,sneaker,bag
    start=$(date +%s.%N)
    imglist -q --masks "$data/train/masks" --classes $classes "$data/train/images" \
        | imgprep -q --size 64x64 --ignore-index 255 --horizontal-flip --rotation-range 10 --fill-mode constant \
            --epochs "$epochs" --shuffle --seed "$seed" \
        | batchpack -q -b 16 | nntrain -q --model $ex/unet.json --seed "$seed" -o "$out/unet.model" || exit 70
    end=$(date +%s.%N)
    imglist -q --masks "$data/test/masks" --classes $classes "$data/test/images" | imgprep -q --size 64x64 --ignore-index 255 \
        | batchpack -q -b 100 | nneval -q --json --model "$out/unet.model" -o "$out/eval.json" || exit 70
    ours_s="$ours_s $(echo "$start $end" | awk '{printf "%.1f", $2 - $1}')"
    ours_iou="$ours_iou $($PY -c 'import json,sys; j=json.load(open(sys.argv[1])); print(round(j["segmentation"]["mean_iou"], 4))' "$out/eval.json")"
    ours_acc="$ours_acc $($PY -c 'import json,sys; j=json.load(open(sys.argv[1])); print(round(j["segmentation"]["pixel_accuracy"], 4))' "$out/eval.json")"
    line=$(cd bench && $PY segment_torch.py "../$data" --epochs "$epochs" --workers 2 --threads 2 --malloc-fix --seed "$seed") || exit 70
    theirs_s="$theirs_s $(echo "$line" | $PY -c 'import json,sys; print(json.load(sys.stdin)["seconds"])')"
    theirs_iou="$theirs_iou $(echo "$line" | $PY -c 'import json,sys; print(json.load(sys.stdin)["mean_iou"])')"
    theirs_acc="$theirs_acc $(echo "$line" | $PY -c 'import json,sys; print(json.load(sys.stdin)["pixel_accuracy"])')"
done
{
    echo "## Segmentation: examples/segmentation against PyTorch (bench/segment.sh)"
    echo
    echo "Run $(date -u '+%Y-%m-%d %H:%M') UTC on $(cpu); load average $load_start at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end."
    echo "$train training scenes and 500 test scenes (examples/segmentation/export), 64x64, 4 classes and an ignored edge;"
    echo "the U-Net of examples/segmentation/unet.json (105,524 parameters) in both, $epochs epochs of batches of 16, Adam (lr 2e-3),"
    echo "cross-entropy with 255 ignored, each pair flipped left-right with probability 1/2 and rotated uniformly in [-10, 10]"
    echo "degrees, drawn once for image and mask. Ours: \`imglist --masks | imgprep | batchpack | nntrain\` in one pipe."
    echo "PyTorch $($PY -c 'import torch; print(torch.__version__)'), torchvision $($PY -c 'import torchvision; print(torchvision.__version__)') (no v2 transforms"
    echo "in Debian 12: its functional API with one drawn angle and flip for both, nearest and fill 255 for the mask), a DataLoader with"
    echo "2 workers, 2 threads, OpenBLAS, the malloc fix. Seeds: $seeds; median (each seed's in brackets)."
    echo
    echo "| | training seconds | test mean IoU | test pixel accuracy |"
    echo "|---|---:|---:|---:|"
    list() { for v in "$@"; do printf "%s " "$v"; done | sed "s/ $//"; }
    echo "| imgpipe | **$(median $ours_s)** ($(list $ours_s)) | $(median $ours_iou) ($(list $ours_iou)) | $(median $ours_acc) ($(list $ours_acc)) |"
    echo "| PyTorch | $(median $theirs_s) ($(list $theirs_s)) | $(median $theirs_iou) ($(list $theirs_iou)) | $(median $theirs_acc) ($(list $theirs_acc)) |"
    echo
    echo "Speed: $(echo "$(median $theirs_s) $(median $ours_s)" | awk '{printf "%.2fx", $1 / $2}') PyTorch's (its seconds over ours)."
} > bench/results/segment.md
cat bench/results/segment.md
