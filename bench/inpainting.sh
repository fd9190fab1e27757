#!/bin/sh
# The lecture's face inpainting (examples/faces): the error inside the masked
# region, of the masked input and of each network's reconstruction, on the
# held-out faces: the lecture's autoencoder and a small U-Net (skip connections),
# same data, same seed, same steps. Writes bench/results/inpainting.md.
set -u
cd "$(dirname "$0")/.." || exit 70
RESULT=bench/results/inpainting.md
EPOCHS=${FACES_EPOCHS:-60}
mkdir -p bench/results
start=$(date +%s)
for model in autoencoder unet; do
    out=bench/out/faces-$model
    rm -rf "$out"
    make -s -C examples/faces MODEL="$model.json" OUT="$(pwd)/$out" DATA="$(pwd)/bench/data/faces" BIN="$(pwd)/bin" \
        EPOCHS="$EPOCHS" > "$out.log" 2>&1 ||
        { echo "inpainting.sh: the faces workflow failed with $model.json" >&2; tail -n 5 "$out.log" >&2; exit 1; }
done
seconds=$(( $(date +%s) - start ))
{
    echo "## Face inpainting: the lecture's masked faces through an autoencoder and a U-Net"
    echo
    echo "Made by \`bench/inpainting.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC') in ${seconds}s (load average $(cut -d' ' -f1-3 /proc/loadavg))."
    echo "\`make -C examples/faces EPOCHS=$EPOCHS MODEL=...\`: the 100 faces of scikit-image's LFW subset at 32x32 gray, a seeded"
    echo "hash split holding out about 20%, a black box over the nose (\`imgmask --mask\`), an endless shuffled generator"
    echo "(\`imgprep --epochs 0 --shuffle | imgmask | batchpack -b 16\`) into \`nntrain --steps-per-epoch 10\`."
    echo "\`autoencoder.json\` is the lecture's (Conv2D / MaxPooling2D / UpSampling2D, 74,497 parameters); \`unet.json\`"
    echo "adds skip connections (Conv2DTranspose up, Concatenate with the encoder's features; 172,961 parameters)."
    echo "Errors are mean squared errors on pixels in 0..1, over the held-out faces, inside the mask unless said."
    for model in autoencoder unet; do
        echo
        echo "\`examples/faces/$model.json\`:"
        echo
        echo '```'
        cat "bench/out/faces-$model/region-error.txt"
        echo '```'
    done
    echo
    echo "The sheets (masked / reconstructed / original, held-out faces): \`bench/out/faces-*/inpainting.png\`."
} > "$RESULT"
cat "$RESULT"
