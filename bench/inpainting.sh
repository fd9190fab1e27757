#!/bin/sh
# The lecture's face inpainting (examples/faces): the error inside the masked
# region, of the masked input and of the autoencoder's reconstruction, on the
# held-out faces. Writes bench/results/inpainting.md.
set -u
cd "$(dirname "$0")/.." || exit 70
OUT=bench/out/faces
RESULT=bench/results/inpainting.md
EPOCHS=${FACES_EPOCHS:-60}
mkdir -p bench/results
rm -rf "$OUT"
start=$(date +%s)
make -s -C examples/faces OUT="$(pwd)/$OUT" DATA="$(pwd)/bench/data/faces" BIN="$(pwd)/bin" EPOCHS="$EPOCHS" > "$OUT.log" 2>&1 ||
    { echo "inpainting.sh: the faces workflow failed" >&2; tail -n 5 "$OUT.log" >&2; exit 1; }
seconds=$(( $(date +%s) - start ))
{
    echo "## Face inpainting: the lecture's masked faces through an autoencoder"
    echo
    echo "Made by \`bench/inpainting.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC') in ${seconds}s (load average $(cut -d' ' -f1-3 /proc/loadavg))."
    echo "\`make -C examples/faces EPOCHS=$EPOCHS\`: the 100 faces of scikit-image's LFW subset at 32x32 gray, a seeded hash"
    echo "split holding out about 20%, a black box over the nose (\`imgmask --mask\`), an endless shuffled generator"
    echo "(\`imgprep --epochs 0 --shuffle | imgmask | batchpack -b 16\`) into \`nntrain --steps-per-epoch 10\` with the"
    echo "autoencoder in \`examples/faces/autoencoder.json\` (Conv2D / MaxPooling2D / UpSampling2D, sigmoid, mse)."
    echo "Errors are mean squared errors on pixels in 0..1, over the held-out faces, inside the mask unless said."
    echo
    echo '```'
    cat "$OUT/region-error.txt"
    echo '```'
    echo
    echo "The sheet (masked / reconstructed / original, held-out faces): \`$OUT/inpainting.png\`."
} > "$RESULT"
cat "$RESULT"
