#!/bin/sh
# Augmentation must not make imgprep the bottleneck: images/s per core with and
# without --rotation-range 20 --zoom-range 0.2 --horizontal-flip on 2000 PNGs of
# 64x64 (bench/data/png64, made by bench/data_path.sh), next to Keras'
# ImageDataGenerator path and PIL's affine path measured the same way
# (bench/augment_peers.py), each pinned to one core. Writes bench/results/augment.md.
set -u
cd "$(dirname "$0")/.." || exit 70
PATH="$(pwd)/bin:$PATH"
DATA=bench/data/png64
OUT=bench/out
RESULT=bench/results/augment.md
mkdir -p "$OUT" bench/results
[ -d "$DATA" ] || /usr/bin/python3 bench/data_path_corpus.py bench/data || { echo "augment.sh: no corpus" >&2; exit 1; }
n=$(find "$DATA" -name '*.png' | wc -l)
AUG="--rotation-range 20 --zoom-range 0.2 --horizontal-flip"

# cpu_seconds COMMAND: user+system seconds of the best of 3 runs on core 0.
cpu_seconds() {
    best=""
    for i in 1 2 3; do
        /usr/bin/time -f "%U %S" -o "$OUT/aug.time" taskset -c 0 sh -c "$1" > "$OUT/aug.out" 2> "$OUT/aug.err" ||
            { echo "augment.sh: failed: $1" >&2; cat "$OUT/aug.err" >&2; return 1; }
        t=$(awk '{printf "%.3f", $1 + $2}' "$OUT/aug.time")
        if [ -z "$best" ] || [ "$(echo "$t $best" | awk '{print ($1 < $2)}')" = 1 ]; then best=$t; fi
    done
    echo "$best"
}

{
    echo "## Augmentation: images/s per core, 2000 PNGs of 64x64"
    echo
    echo "Made by \`bench/augment.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg)."
    echo "Augmentation: \`$AUG\` (Keras: \`rotation_range=20, zoom_range=0.2, horizontal_flip=True\`)."
    echo "per core = images / (user + system seconds) of the whole pipeline, best of 3, pinned to one core."
    echo
    echo "| path | plain | augmented | cost of augmenting | command (augmented) |"
    echo "|---|---:|---:|---:|---|"
} > "$RESULT.tmp"
line() {  # line NAME PLAIN_CMD AUG_CMD
    p=$(cpu_seconds "$2") && a=$(cpu_seconds "$3") || { echo "| $1 | failed | | | |" >> "$RESULT.tmp"; return; }
    echo "$1 $p $a" >&2
    echo "$n $p $a" | awk -v name="$1" -v cmd="$3" '{printf "| %s | %.0f | %.0f | %+.0f%% | `%s` |\n", name, $1/$2, $1/$3, 100*($3/$2-1), cmd}' >> "$RESULT.tmp"
}
line "**imglist \| imgprep \| batchpack**" "imglist -q $DATA | imgprep -q -j 1 --size 64x64 | batchpack -q -b 128 > /dev/null" \
    "imglist -q $DATA | imgprep -q -j 1 --size 64x64 $AUG --seed 1 | batchpack -q -b 128 > /dev/null"
line "Keras ImageDataGenerator path (PIL load_img + scipy affine_transform)" "/usr/bin/python3 bench/augment_peers.py keras-none $DATA 64" \
    "/usr/bin/python3 bench/augment_peers.py keras $DATA 64"
line "PIL affine path (Image.transform, as torchvision RandomAffine)" "/usr/bin/python3 bench/augment_peers.py keras-none $DATA 64" \
    "/usr/bin/python3 bench/augment_peers.py pil $DATA 64"
mv "$RESULT.tmp" "$RESULT"
cat "$RESULT"
