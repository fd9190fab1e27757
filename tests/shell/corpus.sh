# The bad-data corpus: every row of tests/corpus.tsv, a file made by
# tests/corpus-make.sh from real images, run alone through imgprep (or a
# folder through imglist), checking outcome, exit status and message; then
# every file in one --keep-going run, checking that no decodable sample is lost.
. "$ROOT/tests/shell/lib.sh"
if ! command -v vips > /dev/null; then
    _result fail "the vips command (Debian package libvips-tools) makes the corpus"
    exit 0
fi
mkdir c && cd c || exit 1
sh "$ROOT/tests/corpus-make.sh" > make.log 2>&1 || { _result fail "tests/corpus-make.sh ran" "$(tail -n 3 make.log)"; exit 0; }

# Folders for the imglist rows. A symbolic link back up the tree:
mkdir -p tree-loop/c && cp rgb.png tree-loop/c/1.png && ln -s .. tree-loop/c/up
# A class subfolder that disappears between its parent's listing and its own
# opening: an LD_PRELOAD shim renames it away inside opendir().
mkdir -p tree-vanish/a tree-vanish/b/sub && cp rgb.png tree-vanish/a/1.png && cp rgb.png tree-vanish/b/1.png && cp rgb.png tree-vanish/b/sub/2.png
cat > vanish.c <<'EOF'
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
DIR* opendir(const char* name) {
    static DIR* (*real)(const char*);
    if (!real) real = (DIR * (*)(const char*)) dlsym(RTLD_NEXT, "opendir");
    size_t n = strlen(name);
    if (n >= 4 && strcmp(name + n - 4, "/sub") == 0) {
        char gone[4096];
        snprintf(gone, sizeof gone, "%s.gone", name);
        rename(name, gone);
    }
    return real(name);
}
EOF
cc -shared -fPIC -o vanish.so vanish.c -ldl || _result fail "the opendir shim compiles"

# ---- each row alone ----
mkdir out
row=0
tab=$(printf '\t')
grep -v '^#' "$ROOT/tests/corpus.tsv" | tail -n +2 > rows.tsv
: > decoded.list
: > refused.list
while IFS="$tab" read -r case file outcome want message reference; do
    row=$((row + 1))
    file=$(printf '%b' "$file")
    case "$case" in
    imglist:*)
        [ "$file" = tree-loop ] && opts=--follow-links || opts=
        if [ "$file" = tree-vanish ]; then
            # (an ASan build of make sanitize wants its runtime first: the shim goes before it)
            ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" LD_PRELOAD="$PWD/vanish.so" \
                imglist -q $opts "$file" > out/$row.list 2> out/$row.err
        else
            imglist -q $opts "$file" > out/$row.list 2> out/$row.err
        fi
        status=$?
        cp out/$row.err "$T/err"
        check_status "$case: exit $want" "$want"
        check_err "$case: says \"$message\"" "$message"
        check "$case: the other images are still listed" '[ $(wc -l < out/$row.list) -ge 1 ] && ! grep -q "sub/2.png" out/$row.list'
        continue ;;
    esac
    priv=; [ "$file" = unreadable.png ] && priv=unprivileged  # root reads chmod 000 files: not so here
    printf '%s\0' "$file" | $priv imgprep -0 -q --size 32x32 > out/$row.bs 2> out/$row.err
    status=$?
    cp out/$row.err "$T/err"
    check_status "$case: exit $want" "$want"
    check "$case: no crash" '[ $status -lt 128 ]'
    if [ "$outcome" = decoded ]; then
        printf '%s\0' "$file" >> decoded.list
        check "$case: nothing on stderr" '[ ! -s out/$row.err ]'
        printf '%s\t%s\t%s\n' "$row" "$case" "$reference" >> decoded.txt
    else
        printf '%s\0' "$file" >> refused.list
        # One line: "imgprep: FILE: MESSAGE".
        check "$case: one line naming the file: $message" '[ "$(wc -l < out/$row.err)" -eq 1 ] && grep -qF -- "imgprep: $file: $message" out/$row.err'
        check "$case: no output" '[ ! -s out/$row.bs ]'
    fi
done < rows.tsv

# Pixels: each decoded file gives one 32x32x3 frame holding its path, close to
# its reference; EXIF orientations 2-8 are exact flips and turns of 1.
for ref in rgb.png gray.png rgb.jpg rgb.gif square.jpg; do
    printf '%s\0' "$ref" | imgprep -0 -q --size 32x32 > "ref-$ref.bs"
done
/usr/bin/python3 - "$ROOT/tests/shell/stream.py" > pixels.txt <<'EOF' || echo "fail	pixel checks ran"
import json, sys
sys.path.insert(0, sys.argv[1].rsplit("/", 1)[0])
import numpy as np
from stream import read_frames

def frames(path):
    with open(path, "rb") as f:
        return list(read_frames(f))

def one(path):
    fr = frames(path)
    assert len(fr) == 1, "%d frames" % len(fr)
    return fr[0]

rows = [l.rstrip("\n").split("\t") for l in open("decoded.txt")]
for row, case, reference in rows:
    try:
        t, meta = one("out/%s.bs" % row)
        x = t["x"]
        assert x.shape == (1, 32, 32, 3) and x.dtype == np.uint8, "x is %s %s" % (x.dtype, x.shape)
        print("pass\t%s: one 32x32 RGB frame" % case)
    except Exception as e:
        print("fail\t%s: one 32x32 RGB frame\t%s" % (case, e))
        continue
    if reference != "-":
        ref, tol = reference.split()
        r = one("ref-%s.bs" % ref)[0]["x"] if ref in ("rgb.png", "gray.png", "rgb.jpg", "rgb.gif", "square.jpg") else None
        diff = np.abs(x.astype(float) - r.astype(float)).mean()
        print("%s\t%s: within %s of %s (mean difference %.2f)" % ("pass" if diff <= float(tol) else "fail", case, tol, ref, diff))

base = one("out/%s.bs" % [r for r, c, _ in rows if c == "JPEG EXIF orientation 1"][0])[0]["x"][0]
turns = {2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1, :],
         5: lambda a: a.transpose(1, 0, 2), 6: lambda a: np.rot90(a, -1), 7: lambda a: np.rot90(a, 2).transpose(1, 0, 2),
         8: lambda a: np.rot90(a, 1)}
assert not (turns[2](base) == base).all()
for o, f in turns.items():
    row = [r for r, c, _ in rows if c == "JPEG EXIF orientation %d" % o][0]
    x = one("out/%s.bs" % row)[0]["x"][0]
    print("%s\tEXIF orientation %d is applied exactly" % ("pass" if (x == f(base)).all() else "fail", o))
EOF
while IFS="$tab" read -r verdict name detail; do
    _result "$verdict" "$name" "${detail:-}"
done < pixels.txt
check "the pixel checks covered every decoded row" '[ $(grep -c ": one 32x32 RGB frame" pixels.txt) -eq $(wc -l < decoded.txt) ]'

# ---- all files in one run: the bad ones named once each, no good one lost ----
(cat decoded.list; cat refused.list) > all.list
run unprivileged imgprep -0 --keep-going --size 32x32 all.list
check_status "all files with --keep-going: exit 65" 65
n_good=$(tr -cd '\0' < decoded.list | wc -c)
n_bad=$(tr -cd '\0' < refused.list | wc -c)
check_err "a summary counting both" "imgprep: $n_bad bad files skipped, $n_good images written"
check "every decodable file is in the stream, in list order" '/usr/bin/python3 -c "
import json, sys
sys.path.insert(0, \"$ROOT/tests/shell\")
from stream import read_frames
paths = [p for t, m in read_frames(open(\"$T/out\", \"rb\")) for p in json.loads(m[\"paths\"])]
want = open(\"decoded.list\", \"rb\").read().decode().split(\"\0\")[:-1]
assert paths == want, (len(paths), len(want))
"'
check "each bad file is named once" '[ $(grep -v -e " images in " -e " bad files skipped, " "$T/err" | grep -c "^imgprep: ") -eq $n_bad ]'
check "each bad file by its name" '/usr/bin/python3 -c "
err = open(\"$T/err\").read().splitlines()
bad = open(\"refused.list\", \"rb\").read().decode().split(\"\0\")[:-1]
assert all(sum(l.startswith(\"imgprep: \" + b + \": \") for l in err) == 1 for b in bad), err
"'
