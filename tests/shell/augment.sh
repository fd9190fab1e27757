# imgprep's augmentation and normalization (Keras ImageDataGenerator), and imgstats with it.
. "$ROOT/tests/shell/lib.sh"
load='import sys, json; sys.path.insert(0, "'"$ROOT"'/tests/shell"); import stream, numpy as np
frames = list(stream.read_frames(open(sys.argv[1], "rb")))
x = np.concatenate([t["x"] for t, m in frames]); meta = [m for t, m in frames]'

"$ROOT/examples/fashion-mnist/export" fm --limit 60 2> /dev/null
imglist -q fm/train > train.list
AUG="--rotation-range 20 --zoom-range 0.2 --horizontal-flip --width-shift-range 0.1 --height-shift-range 2 --shear-range 10"

imgprep -q --size 28x28 --color grayscale -j 1 --seed 3 --epochs 2 $AUG train.list > a1.bin
imgprep -q --size 28x28 --color grayscale -j 2 --seed 3 --epochs 2 $AUG train.list > a2.bin
imgprep -q --size 28x28 --color grayscale -j 3 --seed 3 --epochs 2 --shuffle $AUG train.list > s3.bin
imgprep -q --size 28x28 --color grayscale -j 1 --seed 3 --epochs 2 --shuffle $AUG train.list > s1.bin
imgprep -q --size 28x28 --color grayscale -j 1 --seed 4 --epochs 2 $AUG train.list > b.bin
imgprep -q --size 28x28 --color grayscale -j 1 --epochs 2 train.list > plain.bin
check "the same seed gives the same bytes for -j 1 and -j 2" 'cmp -s a1.bin a2.bin'
check "and with --shuffle for -j 1 and -j 3" 'cmp -s s1.bin s3.bin'
# Decoding threads take images in chunks from a ring of slots (lib/image/source.cpp):
# 3 epochs of 60 go round it several times, with frames of 7 that straddle the chunks.
imgprep -q --size 28x28 -j 1 --seed 5 --epochs 3 --shuffle -b 7 $AUG train.list > r1.bin
imgprep -q --size 28x28 -j 2 --seed 5 --epochs 3 --shuffle -b 7 $AUG train.list > r2.bin
check "-j 2 and -j 1: the same bytes over many chunks, shuffled, augmented, in frames of 7" 'cmp -s r1.bin r2.bin && [ $(wc -c < r1.bin) -gt 400000 ]'
check "another seed gives other draws" '! cmp -s a1.bin b.bin'
check "augmentation changes the images, and each epoch draws anew" 'py -c "$load
p = np.concatenate([t[\"x\"] for t, m in stream.read_frames(open(\"plain.bin\", \"rb\"))])
n = len(p) // 2
assert (x != p).any(axis=(1, 2, 3)).mean() > 0.9
assert (x[:n] != x[n:]).any(axis=(1, 2, 3)).mean() > 0.9
assert (p[:n] == p[n:]).all()
" a1.bin'

imgprep -q --size 28x28 --color grayscale --horizontal-flip --seed 1 train.list > flip.bin
check "--horizontal-flip mirrors about half the images exactly" 'py -c "$load
p = np.concatenate([t[\"x\"] for t, m in stream.read_frames(open(\"plain.bin\", \"rb\"))])[:len(x)]
flipped = (x == p[:, :, ::-1]).all(axis=(1, 2, 3)) & ~(x == p).all(axis=(1, 2, 3))
same = (x == p).all(axis=(1, 2, 3))
assert (flipped | same).all() and 0.25 < flipped.mean() < 0.75, flipped.mean()
" flip.bin'
imgprep -q --size 28x28 --color grayscale --brightness-range 0.5,0.5 train.list > dark.bin
check "--brightness-range scales pixels (PIL's Brightness)" 'py -c "$load
p = np.concatenate([t[\"x\"] for t, m in stream.read_frames(open(\"plain.bin\", \"rb\"))])[:len(x)].astype(float)
assert np.abs(x - np.round(p * 0.5)).max() <= 1
" dark.bin'

imgprep -q --size 28x28 --color grayscale train.list | imgstats -q -o stats.json
imgprep -q --size 28x28 --color grayscale --rescale 1/255 --stats stats.json --featurewise-center --featurewise-std-normalization train.list > fw.bin
check "featurewise normalization with imgstats' U8 statistics follows --rescale" 'py -c "$load
assert x.dtype == np.float32 and abs(x.mean()) < 1e-4 and abs(x.std() - 1) < 1e-3, (x.mean(), x.std())
" fw.bin'
imgprep -q --size 28x28 --color grayscale --samplewise-std-normalization train.list > sw.bin
check "samplewise normalization centres and scales each image" 'py -c "$load
m = x.reshape(len(x), -1)
assert x.dtype == np.float32 and np.abs(m.mean(1)).max() < 1e-4 and np.abs(m.std(1) - 1).max() < 1e-3
" sw.bin'

run imgprep --size 28x28 --zoom-range -0.5,1 train.list
check_status "a negative zoom is a usage error" 64
check_err "naming the option" "--zoom-range must give factors 0 < lo <= hi"
run imgprep --size 28x28 --brightness-range 0,0 train.list
check_status "brightness 0 is refused" 64
run imgprep --size 28x28 --fill-mode mirror --rotation-range 5 train.list
check_status "an unknown fill mode" 64
run imgprep --size 28x28 --featurewise-center train.list
check_status "featurewise without statistics" 64
check_err "says where to get them" "make it with imgstats"
printf '{"mean": [1, 2, 3], "std": [1, 1, 1]}' > rgb.json
run imgprep --size 28x28 --color grayscale --stats rgb.json --featurewise-center train.list
check_status "statistics for other channels are bad data" 65
check_err "with both counts" "statistics for 3 channels, images have 1"
run imgprep --size 28x28 --dtype u8 --samplewise-center train.list
check_status "normalization cannot make bytes" 64
