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
# --max stops reading early on purpose: the rest of the pipe is read, so the
# producer is not killed by SIGPIPE and a pipefail pipeline succeeds (issue 23).
py "$S" make 3000 16 16 3 > big.bin
run bash -c 'set -o pipefail; batchpack -q -b 1 big.bin | imgsheet -o big.png'
check_status "imgsheet --max 64 under pipefail: the producer ends normally" 0
check "and the sheet holds 64 samples" '[ "$(size big.png)" = "$((4 + 8 * 20))x$((4 + 8 * 20)) RGB" ]'
run bash -c 'set -o pipefail; batchpack -q -b 7 big.bin | imgsave --max 3 -d big-saved'
check_status "imgsave --max under pipefail" 0
check "saved 3" '[ $(ls big-saved | wc -l) -eq 3 ]'
# An endless stream (imgprep --epochs 0 says so in every frame) is not drained: the producer is stopped.
py -c 'from PIL import Image
for i in range(3): Image.new("RGB", (5, 5), (i, 0, 0)).save("e%d.png" % i)'
printf 'e0.png\ne1.png\ne2.png\n' > e.list
run timeout 60 sh -c 'imgprep -q --size 4x4 --epochs 0 e.list | imgsheet --max 5 -o endless.png'
check_status "an endless stream: imgsheet --max ends the pipe" 0
check "with its sheet" '[ -s endless.png ]'
: > none.bin
run imgsheet -o none.png none.bin
check_status "imgsheet: an empty stream is bad data" 65
check_err "and says why" "imgsheet: none.bin: no frames: the stream is empty (did its producer stop before its first frame? its own message says why)"
check "and leaves no picture" '[ ! -e none.png ]'
run sh -c ': | imgsave -d none-saved'
check_status "imgsave: an empty stream is bad data" 65
check_err "and says why" "imgsave: stdin: no frames: the stream is empty"
check "and saves nothing" '[ -z "$(ls none-saved 2>/dev/null)" ] && [ ! -s out ]'

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

# The axes of nnplot: whole-epoch x ticks, round y ticks, axes within the data's sense.
cat > ticks.py <<'P'
# ticks.py FILE.svg PANEL_WIDTH: prints one line per panel, "NAME|x ticks|y ticks", and
# fails when a tick label is not what a reader expects.
import re, sys, xml.etree.ElementTree as ET
from decimal import Decimal
svg, width = ET.parse(sys.argv[1]).getroot(), int(sys.argv[2])
panels = {}
for t in svg.iter("{http://www.w3.org/2000/svg}text"):
    p = int(float(t.get("x")) // width)
    d = panels.setdefault(p, {"name": None, "x": [], "y": []})
    if t.get("font-size") == "15": d["name"] = t.text
    elif t.get("font-size") == "11" and t.get("text-anchor") == "middle": d["x"].append(t.text)
    elif t.get("font-size") == "11" and t.get("text-anchor") == "end": d["y"].append(t.text)
bad = []
for p, d in sorted(panels.items()):
    name, xs, ys = d["name"], d["x"], d["y"]
    print("%s|%s|%s" % (name, " ".join(xs), " ".join(ys)))
    if len(xs) < 2 or len(ys) < 3: bad.append("%s: too few ticks" % name); continue
    # x: whole epochs, equally spaced by 1, 2, 5, 10, 20, 50...
    if not all(re.fullmatch(r"-?\d+", x) for x in xs): bad.append("%s: x tick not a whole epoch: %s" % (name, xs)); continue
    xv = [int(x) for x in xs]
    steps = {b - a for a, b in zip(xv, xv[1:])}
    if len(steps) != 1 or steps.pop() not in (1, 2, 5, 10, 20, 50, 100, 200, 500): bad.append("%s: x ticks %s" % (name, xs))
    # y: plain decimals (no float noise), equally spaced by 1, 2, 2.5 or 5 times a power of ten,
    # each a multiple of the step
    if not all(re.fullmatch(r"-?\d+(\.\d{1,4})?", y) for y in ys): bad.append("%s: y tick not a round number: %s" % (name, ys)); continue
    yv = [Decimal(y) for y in ys]
    yv.sort()
    steps = {b - a for a, b in zip(yv, yv[1:])}
    step = steps.pop() if len(steps) == 1 else None
    if step is None or step.normalize().as_tuple().digits not in ((1,), (2,), (2, 5), (5,)):
        bad.append("%s: y ticks not equally spaced by a round step: %s" % (name, ys)); continue
    if any(v % step for v in yv): bad.append("%s: y ticks off the step %s: %s" % (name, step, ys))
    if ("loss" in name or name in ("mse", "mae")) and yv[0] < 0: bad.append("%s: negative tick %s" % (name, yv[0]))
    if "acc" in name and (yv[-1] > 1 or yv[0] < 0): bad.append("%s: tick outside [0, 1]: %s" % (name, ys))
if bad: print("\n".join(bad)); sys.exit(1)
P
# A realistic run: the loss falls to nearly 0 and the accuracy rises to nearly 1, so a padded axis
# would cross both bounds.
py -c '
import json, math
for e in range(1, 11):
    print(json.dumps({"epoch": e, "loss": round(0.92 * math.exp(-0.45 * (e - 1)), 4), "accuracy": round(1 - 0.4 * math.exp(-0.5 * (e - 1)), 4),
                      "val_loss": round(0.8 * math.exp(-0.3 * (e - 1)) + 0.004, 4), "val_accuracy": round(0.995 - 0.3 * math.exp(-0.4 * (e - 1)), 4),
                      "mae": round(0.0111 + 0.0015 * e, 4), "lr": 0.001, "seconds": 3.0}))' > h10.jsonl
run nnplot --svg h10.svg -o h10.png h10.jsonl
check_status "nnplot draws a 10-epoch history" 0
py ticks.py h10.svg 420 > ticks10 2>&1; ts=$?
check "its ticks are round, whole epochs, and within the data's sense (ticks.py)" '[ $ts -eq 0 ] || { cat ticks10; false; }'
check "the epoch axis of 10 epochs reads 1 to 10" '[ "$(sed -n 1p ticks10 | cut -d"|" -f2)" = "1 2 3 4 5 6 7 8 9 10" ]'
check "the loss axis starts at 0, not below" '[ "$(sed -n 1p ticks10 | cut -d"|" -f3 | tr " " "\n" | sort -g | head -n 1 | awk "{print \$1 + 0}")" = 0 ]'
check "the accuracy axis ends at 1, not above" '[ "$(grep "^accuracy|" ticks10 | cut -d"|" -f3 | tr " " "\n" | sort -g | tail -n 1 | awk "{print \$1 + 0}")" = 1 ]'
py -c '
import json
for e in range(1, 38): print(json.dumps({"epoch": e, "loss": 2.5 / e, "accuracy": 0.5 + e / 80.0}))' > h37.jsonl
run nnplot --svg h37.svg -o h37.png h37.jsonl
py ticks.py h37.svg 420 > ticks37 2>&1; ts=$?
check "37 epochs: whole-epoch ticks on a round step (ticks.py)" '[ $ts -eq 0 ] || { cat ticks37; false; }'
check "37 epochs: at most 10 epoch labels, so they never collide" '[ $(sed -n 1p ticks37 | cut -d"|" -f2 | wc -w) -le 10 ]'
py -c '
import json
for e in range(1, 4): print(json.dumps({"epoch": e, "loss": 1234.5 - e, "mse": 0.0}))' > flat.jsonl
run nnplot --svg flat.svg -o flat.png flat.jsonl
py ticks.py flat.svg 420 > ticksflat 2>&1; ts=$?
check "a flat or large-valued series still gets round ticks, none below 0 (ticks.py)" '[ $ts -eq 0 ] || { cat ticksflat; false; }'
printf '{"epoch": 1, "loss": 0.5, "accuracy": 0.75}\n' > one.jsonl
run nnplot --svg one.svg -o one.png one.jsonl
check "a 1-epoch history has one epoch tick" '[ "$(py ticks.py one.svg 420 | sed -n 1p | cut -d"|" -f2)" = "1" ]'

# --size is WxH per panel, like imgprep's; a bare number is still the width.
run nnplot --size 500x320 -o wh.png one.jsonl
check "--size WxH sets each panel's width and height" '[ "$(size wh.png)" = "1000x320 RGB" ]'
run nnplot --size 500 -o w.png one.jsonl
check "--size W (the old spelling) sets the width only" '[ "$(size w.png)" = "1000x300 RGB" ]'
run nnplot --size 500 --height 200 -o wh2.png one.jsonl
check "--height still sets the height" '[ "$(size wh2.png)" = "1000x200 RGB" ]'
run nnplot --size 500x -o bad.png one.jsonl
check_status "a malformed --size is a usage error" 64
check_err "naming the option" "--size"
run nnplot --help
check_out "--help shows WxH" "WxH"

# ---- the new targets and weights, seen (batchstream(5): the y forms, w) ----
py -c 'from PIL import Image
for i in range(4): Image.new("RGB", (4, 4), (20 * i,) * 3).save("t%d.png" % i)'
printf 't0.png\tclasses=0:a|2:c\tw=0.5\nt1.png\tclasses=\tw=0\nt2.png\tclasses=1:b\tw=0.1\n\t0\ta\n\t1\tb\n\t2\tc\n\t3\td\n' > ml.list
printf '\ttargets=angle|scale\nt0.png\ty=0.1,-3\tw=1\nt1.png\ty=1e-07,12345.678\tw=2\n' > raw.list
imgprep -q --size 4x4 -b 2 ml.list > ml.bs
imgprep -q --size 4x4 raw.list > raw.bs
run imgsave -d mlsaved ml.bs
check_status "imgsave writes a weighted multi-label stream" 0
check "its list lines carry classes= and w=, and declare the classes no image shows" '[ "$(cat out)" = "$(printf "mlsaved/img_000_000000.png\tclasses=0:a|2:c\tw=0.5\nmlsaved/img_000_000001.png\tclasses=\tw=0\nmlsaved/img_000_000002.png\tclasses=1:b\tw=0.1\n\t3\td")" ]'
cp out mlsaved.list
imgprep -q --size 4x4 -b 2 mlsaved.list > ml2.bs
check "imgprep reads them back to the same y, w and classes" 'py -c "
import sys, json; sys.path.insert(0, \"$ROOT/tests/shell\"); import stream, numpy as np
a, b = (list(stream.read_frames(open(p, \"rb\"))) for p in (\"ml.bs\", \"ml2.bs\"))
assert len(a) == len(b)
for (ta, ma), (tb, mb) in zip(a, b):
    assert (ta[\"x\"] == tb[\"x\"]).all() and (ta[\"y\"] == tb[\"y\"]).all() and (ta[\"w\"] == tb[\"w\"]).all()
    assert ma[\"classes\"] == mb[\"classes\"] and mb[\"class_mode\"] == \"multi_label\""'
run imgsave -d rawsaved raw.bs
check "numbers: a targets= line, then y= in the shortest decimal of each F32, and w=" '[ "$(cat out)" = "$(printf "\ttargets=angle|scale\nrawsaved/img_000_000000.png\ty=0.1,-3\tw=1\nrawsaved/img_000_000001.png\ty=1e-07,12345.678\tw=2")" ]'
cp out rawsaved.list
imgprep -q --size 4x4 rawsaved.list > raw2.bs
check "read back: the same F32 numbers, names and weights" 'py -c "
import sys, json; sys.path.insert(0, \"$ROOT/tests/shell\"); import stream, numpy as np
a, b = (list(stream.read_frames(open(p, \"rb\"))) for p in (\"raw.bs\", \"raw2.bs\"))
for (ta, ma), (tb, mb) in zip(a, b):
    assert (ta[\"y\"] == tb[\"y\"]).all() and (ta[\"w\"] == tb[\"w\"]).all() and ma[\"targets\"] == mb[\"targets\"]"'

# imgsheet --label class: a sheet captioned from y is the sheet of the same captions given by hand.
run imgsheet --label class -o mlcap.png ml.bs
printf 't0.png\ta+c\nt1.png\t\nt2.png\tb\n' > ml.tsv
imgsheet -q --captions ml.tsv -o mltsv.png ml.bs
check "multi-label captions: the classes shown, joined with +" '[ $status -eq 0 ] && cmp -s mlcap.png mltsv.png'
printf 't0.png\tc\nt1.png\t\nt2.png\tb\n' > wrong.tsv
imgsheet -q --captions wrong.tsv -o wrong.png ml.bs
check "(and other captions give another sheet)" '! cmp -s mlcap.png wrong.png'
run imgsheet --label class -o rawcap.png raw.bs
printf 't0.png\t0.1,-3\nt1.png\t1e-07,1.235e+04\n' > raw.tsv
imgsheet -q --captions raw.tsv -o rawtsv.png raw.bs
check "raw captions: the numbers in 4 digits, joined with ," '[ $status -eq 0 ] && cmp -s rawcap.png rawtsv.png'

# imgstats measures x whatever y and w are.
run imgstats raw.bs
check "imgstats on a weighted regression stream measures the images" '[ $status -eq 0 ] && py -c "
import json; s = json.load(open(\"out\")); assert s[\"mean\"] == [10, 10, 10], s"'
