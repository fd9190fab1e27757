#!/bin/sh
# Segmentation pairs must cost little more than images alone (issue 26: >= 0.9x the
# images/s): imgprep on N photos-sized JPEGs (320x240) with and without their PNG masks
# (8-bit gray, 3 classes), plain and augmented, pinned to one core, best of RUNS (3) CPU times
# of the N files listed R times (R=10: about a second a run, where one pass of 300 files
# took 0.1 s, as coarse as /usr/bin/time's 10 ms); and peak memory for N and 4N pairs
# (flat). Writes bench/results/segment_data.md (or $RESULT).
set -u
cd "$(dirname "$0")/.." || exit 70
PATH="${BIN:-$(pwd)/bin}:$PATH"  # BIN=DIR: time other builds (say, before a change)
OUT=bench/out/segment
DATA=$OUT/data
RESULT=${RESULT:-bench/results/segment_data.md}
N=${N:-300}
R=${R:-10}
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
sed -n "4,$((N + 3))p" "$OUT/all.list" > "$OUT/first.list"
{ head -n 3 "$OUT/all.list"; sed -n "4,$((N + 3))p" "$OUT/all.list"; } > "$OUT/pairs.list"
: > "$OUT/timed.list"
i=0; while [ $i -lt "$R" ]; do cat "$OUT/first.list" >> "$OUT/timed.list"; i=$((i + 1)); done
{ head -n 3 "$OUT/all.list"; cat "$OUT/timed.list"; } > "$OUT/pairs-timed.list"
cut -f1 "$OUT/timed.list" > "$OUT/images.list"
cut -f2 "$OUT/timed.list" | sed 's/^mask=//' > "$OUT/masks.list"
AUG="--rotation-range 20 --zoom-range 0.2 --horizontal-flip"

RUNS=${RUNS:-3}
run_once() {  # user+system seconds of one run on core 0
    /usr/bin/time -f "%U %S %M" -o "$OUT/t" taskset -c 0 sh -c "$1" > /dev/null 2> "$OUT/err" ||
        { echo "segment_data.sh: failed: $1" >&2; cat "$OUT/err" >&2; return 1; }
    awk '{printf "%.3f", $1 + $2}' "$OUT/t"
}
smaller() { echo "$1 $2" | awk '{print ($2 == "" || $1 < $2) ? $1 : $2}'; }
# Best of RUNS for images, masks and pairs, their runs interleaved so that the
# other load of a shared machine weighs on the three alike.
best_of() {
    ba="" bm="" bb=""
    i=0
    while [ $i -lt "$RUNS" ]; do
        t=$(run_once "$1") || return 1; ba=$(smaller "$t" "$ba")
        t=$(run_once "$2") || return 1; bm=$(smaller "$t" "$bm")
        t=$(run_once "$3") || return 1; bb=$(smaller "$t" "$bb")
        i=$((i + 1))
    done
    echo "$ba $bm $bb"
}
peak_kb() { /usr/bin/time -f "%M" -o "$OUT/m" sh -c "$1" > /dev/null 2>&1; cat "$OUT/m"; }

{
    echo "## Segmentation pairs: images/s per core, images alone and with their masks"
    echo
    echo "Made by \`bench/segment_data.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at the start."
    echo "$N JPEG images of 320x240 (quality 90) and their masks (8-bit gray PNG as PIL saves it, 3 classes), to 128x128, the list"
    echo "of them $R times over ($((N * R)) samples a run); \`imgprep -j 1\` pinned to one core (\`taskset -c 0\`), output to /dev/null;"
    echo "samples / (user + system seconds), best of $RUNS, the three commands' runs interleaved. Augmented: \`$AUG\`,"
    echo "drawn once and applied to both. Command: \`N=$N R=$R RUNS=$RUNS sh bench/segment_data.sh\`."
    echo
    echo "| | images alone | masks alone (as gray images) | pairs | pairs / images (goal >= 0.9) |"
    echo "|---|---:|---:|---:|---:|"
} > "$RESULT.tmp"
for mode in plain augmented; do
    extra=""; [ $mode = augmented ] && extra="$AUG --seed 1"
    times=$(best_of "imgprep -q -j 1 --size 128x128 $extra $OUT/images.list" \
        "imgprep -q -j 1 --size 128x128 --color grayscale --interpolation nearest $extra $OUT/masks.list" \
        "imgprep -q -j 1 --size 128x128 $extra $OUT/pairs-timed.list") || exit 1
    echo "$((N * R)) $times" | awk -v m=$mode '{printf "| %s | %.0f | %.0f | %.0f | %.3fx |\n", m, $1/$2, $1/$3, $1/$4, $2/$4}' >> "$RESULT.tmp"
done
m1=$(peak_kb "imgprep -q -j 2 --size 128x128 $AUG --seed 1 $OUT/pairs.list")
m4=$(peak_kb "imgprep -q -j 2 --size 128x128 $AUG --seed 1 $OUT/all.list")
{
    echo
    echo "Peak memory (maximum resident set, \`-j 2\`, augmented): $N pairs $((m1 / 1024)) MB, $((4 * N)) pairs $((m4 / 1024)) MB."
} >> "$RESULT.tmp"
mv "$RESULT.tmp" "$RESULT"
cat "$RESULT"
