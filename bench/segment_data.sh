#!/bin/sh
# Segmentation pairs must cost little more than images alone (issue 26: >= 0.9x the
# images/s): imgprep on N photos-sized JPEGs (320x240) with and without their PNG masks
# (8-bit gray, 3 classes), plain and augmented, pinned to one core, best of 3 CPU times;
# and peak memory for N and 4N pairs (flat). Writes bench/results/segment_data.md.
set -u
cd "$(dirname "$0")/.." || exit 70
PATH="$(pwd)/bin:$PATH"
OUT=bench/out/segment
DATA=$OUT/data
RESULT=bench/results/segment_data.md
N=${N:-400}
mkdir -p "$OUT" bench/results
if [ ! -f "$DATA/done-$N" ]; then
    rm -rf "$DATA"
    /usr/bin/python3 - "$DATA" "$N" << 'PY' || exit 1
import os, sys
import numpy as np
from PIL import Image, ImageDraw, ImageFilter
root, n = sys.argv[1], int(sys.argv[2])
os.makedirs(f"{root}/images", exist_ok=True); os.makedirs(f"{root}/masks", exist_ok=True)
rng = np.random.default_rng(0)
for i in range(4 * n):  # 4N pairs; the first N are the timed set
    img = Image.fromarray(rng.integers(60, 200, (240, 320, 3), np.uint8)).filter(ImageFilter.GaussianBlur(3))
    mask = Image.new("L", (320, 240), 0)
    d, m = ImageDraw.Draw(img), ImageDraw.Draw(mask)
    for k in range(4):
        x, y, r = rng.integers(20, 300), rng.integers(20, 220), rng.integers(10, 60)
        c = int(rng.integers(1, 3))
        box = [x - r, y - r, x + r, y + r]
        (d.ellipse if c == 1 else d.rectangle)(box, fill=tuple(int(v) for v in rng.integers(0, 255, 3)))
        (m.ellipse if c == 1 else m.rectangle)(box, fill=c)
    img.save(f"{root}/images/{i:05d}.jpg", quality=90)
    mask.save(f"{root}/masks/{i:05d}.png")
open(f"{root}/done-{n}", "w").close()
PY
fi
imglist -q --masks "$DATA/masks" --classes bg,disc,box "$DATA/images" > "$OUT/all.list"
{ head -n 3 "$OUT/all.list"; sed -n "4,$((N + 3))p" "$OUT/all.list"; } > "$OUT/pairs.list"
sed -n "4,$((N + 3))p" "$OUT/all.list" | cut -f1 > "$OUT/images.list"
sed -n "4,$((N + 3))p" "$OUT/all.list" | cut -f2 | sed 's/^mask=//' > "$OUT/masks.list"
AUG="--rotation-range 20 --zoom-range 0.2 --horizontal-flip"

cpu_seconds() {  # best user+system seconds of 3 runs on core 0
    best=""
    for i in 1 2 3; do
        /usr/bin/time -f "%U %S %M" -o "$OUT/t" taskset -c 0 sh -c "$1" > /dev/null 2> "$OUT/err" ||
            { echo "segment_data.sh: failed: $1" >&2; cat "$OUT/err" >&2; return 1; }
        t=$(awk '{printf "%.3f", $1 + $2}' "$OUT/t")
        if [ -z "$best" ] || [ "$(echo "$t $best" | awk '{print ($1 < $2)}')" = 1 ]; then best=$t; fi
    done
    echo "$best"
}
peak_kb() { /usr/bin/time -f "%M" -o "$OUT/m" sh -c "$1" > /dev/null 2>&1; cat "$OUT/m"; }

{
    echo "## Segmentation pairs: images/s per core, images alone and with their masks"
    echo
    echo "Made by \`bench/segment_data.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at the start."
    echo "$N JPEG images of 320x240 (quality 90) and their masks (8-bit gray PNG, 3 classes), to 128x128; \`imgprep -j 1\` pinned to one core,"
    echo "images / (user + system seconds), best of 3. Augmented: \`$AUG\`, drawn once and applied to both."
    echo
    echo "| | images alone | masks alone (as gray images) | pairs | pairs / images (goal >= 0.9) |"
    echo "|---|---:|---:|---:|---:|"
} > "$RESULT.tmp"
for mode in plain augmented; do
    extra=""; [ $mode = augmented ] && extra="$AUG --seed 1"
    a=$(cpu_seconds "imgprep -q -j 1 --size 128x128 $extra $OUT/images.list") || exit 1
    m=$(cpu_seconds "imgprep -q -j 1 --size 128x128 --color grayscale --interpolation nearest $extra $OUT/masks.list") || exit 1
    b=$(cpu_seconds "imgprep -q -j 1 --size 128x128 $extra $OUT/pairs.list") || exit 1
    echo "$N $a $m $b" | awk -v m=$mode '{printf "| %s | %.0f | %.0f | %.0f | %.2fx |\n", m, $1/$2, $1/$3, $1/$4, $2/$4}' >> "$RESULT.tmp"
done
m1=$(peak_kb "imgprep -q -j 2 --size 128x128 $AUG --seed 1 $OUT/pairs.list")
m4=$(peak_kb "imgprep -q -j 2 --size 128x128 $AUG --seed 1 $OUT/all.list")
{
    echo
    echo "Peak memory (maximum resident set, \`-j 2\`, augmented): $N pairs $((m1 / 1024)) MB, $((4 * N)) pairs $((m4 / 1024)) MB."
} >> "$RESULT.tmp"
mv "$RESULT.tmp" "$RESULT"
cat "$RESULT"
