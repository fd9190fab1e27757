# imgstats: per-channel mean and std, checked against numpy.
. "$ROOT/tests/shell/lib.sh"
S="$ROOT/tests/shell/stream.py"

py -c '
import sys; sys.path.insert(0, "'"$ROOT"'/tests/shell"); import stream, numpy as np
rng = np.random.default_rng(1)
for k in range(3):
    x = rng.integers(0, 256, (5, 7, 6, 3), dtype=np.uint8)
    stream.write_frame(sys.stdout.buffer, {"x": x}, {"format": "batchstream/1"})
' > s.bin
run imgstats s.bin
check_status "imgstats measures a stream" 0
check "mean and std per channel equal those of numpy over all images" 'py -c "
import json, sys; sys.path.insert(0, \"$ROOT/tests/shell\"); import stream, numpy as np
x = np.concatenate([t[\"x\"] for t, m in stream.read_frames(open(\"s.bin\", \"rb\"))]).astype(np.float64)
s = json.load(open(\"out\"))
assert s[\"samples\"] == 15 and s[\"dtype\"] == \"U8\", s
assert np.allclose(s[\"mean\"], x.mean(axis=(0, 1, 2)), atol=1e-9), s
assert np.allclose(s[\"std\"], x.std(axis=(0, 1, 2)), atol=1e-9), s
"'
check_err "and says how many images" "15 images, 3 channels"

py "$S" make 0 2 2 1 > empty.bin
run imgstats empty.bin
check_status "an empty stream is bad data" 65
check_err "and says so, in every reader's words" "imgstats: empty.bin: no frames: the stream is empty (did its producer stop before its first frame? its own message says why)"
run sh -c ': | imgstats'
check_status ": | imgstats" 65
check_err "names stdin" "imgstats: stdin: no frames: the stream is empty"
head -c 100 s.bin > t.bin
run imgstats t.bin
check_status "a truncated stream" 65
run imgstats -o stats.json s.bin
check "-o writes the JSON file" '[ -s stats.json ] && [ ! -s out ]'
