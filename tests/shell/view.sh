# Seeing the data: imgsave (save_to_dir), imgsheet (contact sheets), nnplot (learning curves).
. "$ROOT/tests/shell/lib.sh"
S="$ROOT/tests/shell/stream.py"
size() { py -c 'import sys; from PIL import Image; im = Image.open(sys.argv[1]); print("%dx%d %s" % (im.size + (im.mode,)))' "$1"; }

py "$S" make 5 6 4 3 --batch 2 > s.bin
run imgsave -d saved --prefix aug s.bin
check_status "imgsave writes a stream back to images" 0
check "one file per sample, named by epoch and index" '[ "$(ls saved | tr "\n" " ")" = "aug_000_000000.png aug_000_000001.png aug_000_000002.png aug_000_000003.png aug_000_000004.png " ]'
check "and prints their list lines, labels included" '[ "$(sed -n 4p out)" = "saved/aug_000_000003.png	1	b" ]'
check "pixels survive the round trip" 'py -c "
import numpy as np; from PIL import Image
a = np.asarray(Image.open(\"saved/aug_000_000003.png\"))
assert a.shape == (6, 4, 3) and (a == 3).all(), (a.shape, a.max())"'
run imgsave -d jp --format jpg --max 2 s.bin
check "--format jpg and --max" '[ "$(ls jp | wc -l)" -eq 2 ] && [ "$(size jp/img_000_000000.jpg)" = "4x6 RGB" ]'
run imgsave -d saved --tensor y s.bin
check_status "a tensor that is not an image is refused" 65
check_err "with its shape" "is not an image"
run imgsave s.bin
check_status "-d is required" 64

run imgsheet --columns 2 --scale 3 -o sheet.png s.bin
check_status "imgsheet draws a contact sheet" 0
check "a 2-column grid of 3x-scaled tiles" '[ "$(size sheet.png)" = "$((4 + 2 * (12 + 4)))x$((4 + 3 * (18 + 4))) RGB" ]'
run imgsheet --label class --max 3 -o labelled.png s.bin
check_err "--max limits the samples" "drew 3 samples"
check "captions add a 14-pixel strip under each tile" '[ "$(size labelled.png)" = "28x28 RGB" ]'
py -c 'from PIL import Image; m = Image.new("L", (4, 6), 255); m.paste(0, (0, 0, 2, 6)); m.save("half.png")'
imgmask -q --mask half.png s.bin > pairs.bin
run imgsheet --columns 1 -o pairs.png pairs.bin
check "masked pairs: input and target side by side" '[ "$(size pairs.png)" = "$((4 + 4 + 2 + 4 + 4))x$((4 + 5 * (6 + 4))) RGB" ]'
check "the left tile is masked, the right one is not" 'py -c "
import numpy as np; from PIL import Image
a = np.asarray(Image.open(\"pairs.png\"))
row = a[4 + 10 + 2]  # sample 1 (value 1 everywhere, masked to 0 on the left half)
assert (row[4:6] == 0).all() and (row[10:14] == 1).all(), row[:16, 0]"'
printf '%s\t%s\n' img1.png "wrong: b" > captions.tsv
run imgsheet --captions captions.tsv -o cap.png s.bin
check_status "--captions by source path" 0
run imgsheet -o two.png s.bin:x s.bin:x
check "several streams are drawn side by side" '[ "$(size two.png)" = "74x14 RGB" ]'
head -c 400 s.bin > t.bin
run imgsheet -o t.png t.bin
check_status "a truncated stream" 65
check "leaves no picture behind" '[ ! -e t.png ]'

cat > h.jsonl <<'H'
{"epoch": 1, "loss": 0.9, "accuracy": 0.6, "val_loss": 0.8, "val_accuracy": 0.65, "lr": 0.001, "seconds": 3.1}
{"epoch": 2, "loss": 0.6, "accuracy": 0.75, "val_loss": 0.62, "val_accuracy": 0.73, "lr": 0.001, "seconds": 3.0}
{"epoch": 3, "loss": 0.45, "accuracy": 0.82, "val_loss": 0.55, "val_accuracy": 0.79, "lr": 0.001, "seconds": 3.0}
H
run nnplot --svg curve.svg -o curve.png h.jsonl
check_status "nnplot draws learning curves" 0
check "a PNG with one panel per quantity" '[ "$(size curve.png)" = "840x300 RGB" ]'
check "loss and val_loss, accuracy and val_accuracy" 'grep -q ">val_loss<" curve.svg && grep -q ">val_accuracy<" curve.svg && ! grep -q ">lr<" curve.svg'
check "the loss panel comes first" '[ "$(grep -o "font-size=\"15\">[a-z]*" curve.svg | head -1)" = "font-size=\"15\">loss" ]'
printf '{"epoch": 4, "loss": 0.3\n' >> h.jsonl
run nnplot -o broken.png h.jsonl
check_status "a broken history line is bad data" 65
check_err "named by line" "h.jsonl:4: not a JSON object"
check "and no picture is left" '[ ! -e broken.png ]'
: > empty.jsonl
run nnplot -o e.png empty.jsonl
check_status "an empty history" 65
