# batchpack: batches per epoch, the last partial batch, the shuffle window, --info, bad streams.
. "$ROOT/tests/shell/lib.sh"
S="$ROOT/tests/shell/stream.py"

py "$S" make 10 2 2 3 --epochs 2 > s.bin
run batchpack -b 4 s.bin
check_status "batches a stream" 0
py "$S" dump out > frames.json
check "batches never span epochs: 4 4 2 per epoch" '[ "$(grep -o "\"x\": {\"dtype\": \"uint8\", \"shape\": \[[0-9]*" frames.json | grep -o "[0-9]*$" | tr "\n" " ")" = "4 4 2 4 4 2 " ]'
check "paths travel with their samples" 'grep -q "img8.png.*img9.png" frames.json'
check "epoch metadata carried through" '[ $(grep -c "\"epoch\": \"1\"" frames.json) -eq 3 ]'
check "sample bytes kept in order" 'py -c "
import json,sys
s=[json.loads(l)[\"tensors\"][\"x\"][\"sum\"] for l in open(\"frames.json\")]
sys.exit(s[:3]!=[12.0*(0+1+2+3),12.0*(4+5+6+7),12.0*(8+9)])"'
check_err "summary line" "20 samples in 6 batches"

run batchpack -b 4 --drop-last s.bin
check "--drop-last drops each epoch's partial batch" '[ $(py "$S" dump out | grep -vc "\"shape\": \[0,") -eq 4 ]'
check "and records it, so the epoch still adds up" '[ $(py "$S" dump out | grep -c "\"dropped\": \"2\"") -eq 2 ]'
check_err "and says how many" "dropped 4"

py "$S" make 50 1 1 1 > u.bin
batchpack -q -b 50 --shuffle-buffer 16 --seed 5 u.bin > a.bin
batchpack -q -b 50 --shuffle-buffer 16 --seed 5 u.bin > b.bin
batchpack -q -b 50 --shuffle-buffer 16 --seed 6 u.bin > c.bin
check "the shuffle window is reproducible with --seed" 'cmp -s a.bin b.bin'
check "and changes with the seed" '! cmp -s a.bin c.bin'
check "shuffling keeps every sample once" 'py -c "
import sys; sys.path.insert(0, \"$ROOT/tests/shell\"); import stream
(t, m), = stream.read_frames(open(\"a.bin\", \"rb\"))
x = t[\"x\"].reshape(-1).tolist()
sys.exit(sorted(x) != list(range(50)) or x == list(range(50)))"'

run batchpack --info s.bin
check_status "--info summarizes" 0
check_out "frame count" "frames:     20"
check_out "shapes and dtypes" "x U8 [*,2,2,3]; y I32 [*]"
check_out "class counts with names" "1	b	10"

# --info counts epochs as every reader does (batchstream(5), Epochs), and says
# how the producer made the stream (the "epochs" metadata) and whether this is it.
py -c 'from PIL import Image
for i in range(6): Image.new("RGB", (3, 3), (40 * i, 0, 0)).save("p%d.png" % i)'
printf 'p%d.png\n' 0 1 2 3 4 5 > p.list
imgprep -q --size 2x2 --shard 1/2 p.list > shard-1.bs
imgprep -q --size 2x2 --shard 2/2 p.list > shard-2.bs
run sh -c 'cat shard-1.bs shard-2.bs | batchpack --info'
check_status "--info on joined shards" 0
check_out "joined shards are one epoch of their summed size" "epoch size: 6 (shards 1/2, 2/2 joined)"
check_out "counted once" "epochs:     1 (numbered 0)"
check_out "as the producers wrote them" "producer:   wrote 1 epoch (imgprep --epochs 1), as read here"
run sh -c 'cat shard-1.bs shard-1.bs | batchpack --info'
check_out "the same shard twice is two epochs by the rule" "epochs:     2 (numbered 0, 0)"
check_out "each of the shard's size" "epoch size: 3 (shard 1/2)"
check_out "and not how it was made" "producer:   wrote 1 epoch (imgprep --epochs 1), but the stream holds 2: streams joined end to end (cat), each read as epochs of their own"
check "nor called imgprep --epochs 2" '! grep -q "epochs 2" "$T/out"'
imgprep -q --size 2x2 --epochs 3 p.list > three.bs
run batchpack --info three.bs
check_out "imgprep --epochs 3: three epochs" "epochs:     3 (numbered 0 to 2)"
check_out "as written" "producer:   wrote 3 epochs (imgprep --epochs 3), as read here"
# The first N frames of a stream (a frame-aligned cut, as a killed producer leaves).
first_frames() { py -c "
import struct, sys, json
d = open(sys.argv[2], 'rb').read(); o = 0
for _ in range(int(sys.argv[1])):
    n, = struct.unpack('<Q', d[o:o + 8]); h = json.loads(d[o + 8:o + 8 + n]); h.pop('__metadata__')
    o += 8 + n + max([t['data_offsets'][1] for t in h.values()] + [0])
sys.stdout.buffer.write(d[:o])" "$@"; }
first_frames 12 three.bs > cut.bs
run batchpack --info cut.bs
check_out "a stream cut after an epoch's end says so" "producer:   wrote 3 epochs (imgprep --epochs 3), but the stream holds 2: it was cut after an epoch's end"
imgprep -q --size 2x2 --epochs 0 p.list 2> /dev/null | head -c 20000 > endless-head.bs
first_frames 12 endless-head.bs > endless.bs
run batchpack --info endless.bs
check_out "an endless stream's epochs" "producer:   a stream without end (imgprep --epochs 0); these are 2 epochs of it"
run batchpack -q -b 4 three.bs
check "batchpack keeps the producer's record" '[ $(py "$S" dump "$T/out" | grep -c "\"epochs\": \"3\"") -eq 6 ]'

head -c $(( $(wc -c < s.bin) - 5 )) s.bin > trunc.bin
run batchpack trunc.bin
check_status "a truncated stream is bad data" 65
check_err "named with its frame number" "trunc.bin: frame 20: truncated frame (data"
printf 'GIF89a\001\000\000\000\000\000' > gif.bin
run batchpack gif.bin
check_status "a foreign file is refused" 65
check_err "saying what it starts with" "not safetensors (starts with 'GIF89a"
run batchpack nope.bin
check_status "a missing input" 66
py "$S" make 2 2 2 3 > a2.bin; py "$S" make 2 3 3 3 > a3.bin
run batchpack -b 4 a2.bin a3.bin
check_status "a shape change mid-stream is bad data" 65
check_err "with both shapes" "x U8 [*,2,2,3] then x U8 [*,3,3,3]"
run batchpack -b 0 s.bin
check_status "a zero batch size is a usage error" 64

# A stream with no frames is refused (65) by every reader: its producer stopped
# before its first frame (batchstream(5), Completeness).
EMPTY="no frames: the stream is empty (did its producer stop before its first frame? its own message says why)"
run sh -c ': | batchpack -b 4'
check_status ": | batchpack is bad data, not 0 samples in 0 batches" 65
check_err "and says why, naming stdin" "batchpack: stdin: $EMPTY"
check "and writes no frame" '[ ! -s out ]'
: > none.bin
run batchpack -b 4 -o none-out.bin s.bin none.bin
check_status "an empty file among the inputs" 65
check_err "is named" "batchpack: none.bin: $EMPTY"
check "and leaves no output" '[ ! -e none-out.bin ]'
run batchpack --info none.bin
check_status "--info on an empty stream: bad data too" 65
check_out "after the summary of what it read" "frames:     0"
check_err "with the same words" "batchpack: none.bin: $EMPTY"

py "$S" make 3000 16 16 3 > big.bin
batchpack -b 1 big.bin 2> err.txt | head -c 1000 > /dev/null
check "| head -c ends the pipe quietly" '[ ! -s err.txt ]'
run batchpack -b 4 -o o.bin s.bin
check "-o writes the file" '[ -s o.bin ] && [ ! -s out ] && ! ls o.bin.tmp.* 2>/dev/null'

# The man page's ten-line Python reader works on a real stream.
sed -n '/^Reading a stream in Python/,/^\.EE/p' "$ROOT/man/man5/batchstream.5" | sed '1,3d;$d' > reader.py
batchpack -q -b 4 s.bin > r.bin
run py reader.py r.bin
check "batchstream(5)'s Python reader reads our frames" '[ "$(head -n 1 out | tr -d "\047")" = "0 (4, 2, 2, 3) [img0.png]" ] && [ $(wc -l < out) -eq 6 ]'

# ---- targets and weights travel with their samples (batchstream(5), the y forms, w) ----
# Ten 2x2 images, image i all of value 10*i; multi-label and raw lists with weights i/4.
py -c 'from PIL import Image
for i in range(10): Image.new("RGB", (2, 2), (10 * i,) * 3).save("t%d.png" % i)
names = "abc"
with open("ml.list", "w") as f:
    for i in range(10):
        shown = [c for c in range(3) if i >> c & 1]
        f.write("t%d.png\tclasses=%s\tw=%s\n" % (i, "|".join("%d:%s" % (c, names[c]) for c in shown), i / 4))
    f.write("\t0\ta\n\t1\tb\n\t2\tc\n")
with open("raw.list", "w") as f:
    f.write("\ttargets=half|minus\n")
    for i in range(10): f.write("t%d.png\ty=%s,%s\tw=%s\n" % (i, i / 2, -i, i / 4))'
imgprep -q --size 2x2 -b 3 --epochs 2 ml.list > ml.bs
imgprep -q --size 2x2 -b 3 raw.list > raw.bs
# Every sample's y and w are those of its image (x = 10*i, path t<i>.png).
cat > same.py <<EOF2
import json, sys
sys.path.insert(0, "$ROOT/tests/shell"); import stream
rows = 0
for t, m in stream.read_frames(open(sys.argv[1], "rb")):
    for k, p in enumerate(json.loads(m["paths"])):
        i = int(p[1:-4]); rows += 1
        assert t["x"][k].max() == t["x"][k].min() == 10 * i, (p, t["x"][k])
        y = t["y"][k].tolist()
        assert y == ([float(i >> c & 1) for c in range(3)] if m["class_mode"] == "multi_label" else [i / 2, -i]), (p, y)
        assert t["w"][k] == i / 4 and t["w"].shape == (len(t["x"]),), (p, t["w"])
print(rows)
EOF2
run batchpack -q -b 4 --shuffle-buffer 5 --seed 1 --drop-last ml.bs
check_status "batchpack regroups a weighted multi-label stream" 0
check "shuffled, regrouped, last batches dropped: each sample keeps its y row and its w" '[ "$(py same.py out)" = 16 ]'
cp out mldrop.bs
run batchpack --info mldrop.bs
check "the dropped samples are recorded: every reader finds both epochs whole" '[ $status -eq 0 ] && grep -q "dropped:    4 (batchpack --drop-last)" "$T/out"'
check "and it was shuffled" '[ "$(py "$S" dump mldrop.bs | sed -n 1p | grep -o "t[0-9]*.png" | tr -d "\n")" != "t0.pngt1.pngt2.pngt3.png" ]'
run batchpack -q -b 4 raw.bs
check "a raw stream: y F32 [n,2] and w regrouped with their samples, targets kept" '[ "$(py same.py out)" = 10 ] && py "$S" dump out | sed -n 1p | grep -q "\"targets\": \"\[\\\\\"half\\\\\",\\\\\"minus\\\\\"\]\""'

run batchpack --info ml.bs
check_out "--info names a multi-label target" "targets:    multi-label, 3 classes (y F32 multi-hot), 1.3 shown per image on average"
check_out "--info counts the images showing each class" "2	c	8"
check_out "--info says the stream is weighted" "weights:    weighted (w F32), 0 to 2.25, mean 1.125"
run batchpack --info raw.bs
check_out "--info names numbers and their columns" "targets:    numbers, 2 columns (y F32)"
check_out "with each column's mean and range" "minus	mean -4.5, -9 to 0"
run batchpack --info s.bin
check_out "--info on class indices" "targets:    a class index per image (y I32)"
check "an unweighted stream says nothing of weights" '! grep -q "weights:" "$T/out"'
py -c '
import sys; sys.path.insert(0, "'"$ROOT"'/tests/shell"); import stream, numpy as np
stream.write_frame(sys.stdout.buffer, {"x": np.zeros((0, 2, 2, 3), np.uint8), "y": np.zeros((0, 1 << 30), np.float32)},
                   {"format": "batchstream/1", "class_mode": "multi_label"})' > wide.bs
run batchpack --info wide.bs
check "--info on a frame of no rows declaring 2^30 classes: described, no counters allocated" '[ $status -eq 0 ] && grep -q "targets:    y of no form batchstream(5) names" "$T/out"'
