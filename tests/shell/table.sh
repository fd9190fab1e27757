# imglist --table: a CSV/TSV of images into list lines, as Keras' flow_from_dataframe
# reads a DataFrame (checked against keras_preprocessing itself), and every bad
# table named by line and column, exit 65, nothing written.
. "$ROOT/tests/shell/lib.sh"

FM=/usr/share/datasets/fashion-mnist
# ---- 12 Fashion-MNIST items as PNG, and their tables ----
py - "$FM" <<'EOF'
import gzip, os, sys
import numpy as np
from PIL import Image
with gzip.open(sys.argv[1] + "/t10k-images-idx3-ubyte.gz") as f:
    f.read(16); images = np.frombuffer(f.read(28 * 28 * 12), np.uint8).reshape(12, 28, 28)
os.makedirs("img/sub", exist_ok=True)
for i, a in enumerate(images):
    Image.fromarray(a).save("img/%s%d.png" % ("sub/" if i >= 10 else "", i))
EOF
cat > t.csv <<'EOF'
filename,class,angle,scale,w
3.png,shirt,12.5,1,1
0.png,bag,-40,0.5,2
5.png,shirt,0,2,0.25
1.png,boot,90,1.5,1
4.png,bag,7.25,1,0
2.png,10,-3,0.75,1
sub/10.png,shirt,45,1,3
sub/11.png,boot,1e-3,1,1
EOF

run imglist --table t.csv img
check_status "a table lists" 0
check "every class declared first, numbered in byte order (Keras' sorted)" '[ "$(head -n 4 out)" = "	0	10
	1	bag
	2	boot
	3	shirt" ]'
check "one class per row, rows in table order" '[ "$(tail -n +5 out)" = "img/3.png	3	shirt
img/0.png	1	bag
img/5.png	3	shirt
img/1.png	2	boot
img/4.png	1	bag
img/2.png	0	10
img/sub/10.png	3	shirt
img/sub/11.png	2	boot" ]'
check_err "Keras' summary" "imglist: Found 8 validated image filenames belonging to 4 classes."
run imglist --table t.csv --class-mode raw --y-col angle,scale --weight-col w img
check "raw: the names first, then y= (shortest round-trip decimal) and w=" '[ "$(head -n 3 out)" = "	targets=angle|scale
img/3.png	y=12.5,1	w=1
img/0.png	y=-40,0.5	w=2" ] && grep -qx "img/sub/11.png	y=0.001,1	w=1" out'
check_err "raw: no classes" "imglist: Found 8 validated image filenames."
run imglist --table t.csv --class-mode input --weight-col w img
check "input: paths and weights" '[ "$(head -n 2 out)" = "img/3.png	w=1
img/0.png	w=2" ]'
run imglist --table t.csv --class-mode none img
check "none: paths only" '[ "$(head -n 1 out)" = "img/3.png" ] && [ $(wc -l < out) -eq 8 ] && ! grep -q "	" out'
run imglist --table t.csv --no-labels img
check "--no-labels: paths only" '[ "$(cut -f1 out | head -n 2 | tr "\n" " ")" = "img/3.png img/0.png " ] && ! grep -q "	" out'
(cd img && imglist -q --table ../t.csv) | grep -v "^	" > nofolder.txt
check "without FOLDER, names are relative to the current folder (Keras' directory=None)" '[ "$(head -n 1 nofolder.txt)" = "3.png	3	shirt" ]'

# The list feeds imgprep as a folder's list does.
imglist -q --table t.csv img | imgprep -q --size 28x28 --color grayscale | batchpack -q --info > info.txt 2> info.err
check "a table's list runs through imgprep and batchpack" 'grep -qx "samples: *8" info.txt'

# ---- Keras' own flow_from_dataframe on the same tables ----
cat > keras.py <<'EOF'
import ast, contextlib, sys
import pandas as pd
from keras_preprocessing.image import ImageDataGenerator
mode, args = sys.argv[1], dict(a.split("=", 1) for a in sys.argv[2:])
df = pd.read_csv(args.pop("csv"), dtype=str if mode != "raw" else None)
if mode == "multi":
    df["class"] = [ast.literal_eval(c) if c.startswith("[") else c for c in df["class"]]
    mode = "categorical"
kw = {}
if "y_col" in args: kw["y_col"] = args["y_col"].split(",") if "," in args["y_col"] else args["y_col"]
if "weight_col" in args:
    df[args["weight_col"]] = df[args["weight_col"]].astype(float); kw["weight_col"] = args["weight_col"]
if "classes" in args: kw["classes"] = args["classes"].split(",")
gen = ImageDataGenerator(validation_split=float(args.get("split", 0)))
with contextlib.redirect_stdout(sys.stderr):  # its "Found N ..." is not a list line
  it = gen.flow_from_dataframe(df, directory="img", x_col="filename", class_mode=mode, shuffle=False,
                               target_size=(28, 28), color_mode="grayscale",
                               subset=args.get("subset"), **kw)
names = sorted(getattr(it, "class_indices", {}), key=lambda k: it.class_indices[k])
multi = mode == "categorical" and any(isinstance(c, list) for c in it.classes)
def num(v): return repr(float(v)).rstrip("0").rstrip(".") if float(v) != int(float(v)) else str(int(float(v)))
if mode == "raw":
    print("\ttargets=" + "|".join(kw["y_col"] if isinstance(kw["y_col"], list) else [kw["y_col"]]))
for i, f in enumerate(it.filenames):
    line = "img/" + f
    if mode in ("categorical", "binary", "sparse"):
        c = it.classes[i]  # a list where the cell held one, else an index
        c = c if isinstance(c, list) else [c]
        line += ("\tclasses=" + "|".join("%d:%s" % (k, names[k]) for k in sorted(c))) if multi else "\t%d\t%s" % (c[0], names[c[0]])
    elif mode == "raw":
        t = it._targets[i]
        line += "\ty=" + ",".join(num(v) for v in (t if hasattr(t, "__len__") else [t]))
    if it._sample_weight is not None:
        line += "\tw=" + num(it._sample_weight[i])
    print(line)
EOF
keras() { py keras.py "$@" 2> keras.err; }
keras categorical csv=t.csv > k.txt
imglist -q --table t.csv img | grep -v "^	" > ours.txt
check "categorical: Keras' order, indices and names" 'cmp -s k.txt ours.txt'
keras raw csv=t.csv y_col=angle,scale weight_col=w > k.txt
imglist -q --table t.csv --class-mode raw --y-col angle,scale --weight-col w img > ours.txt
check "raw, two columns, weighted: Keras' targets and weights" 'cmp -s k.txt ours.txt'
keras raw csv=t.csv y_col=angle > k.txt
imglist -q --table t.csv --class-mode raw --y-col angle img > ours.txt
check "raw, one column: Keras' targets" 'cmp -s k.txt ours.txt'
grep -v -e ",10," -e boot t.csv > two.csv
keras binary csv=two.csv weight_col=w > k.txt
imglist -q --table two.csv --class-mode binary --weight-col w img | grep -v "^	" > ours.txt
check "binary, weighted: Keras' indices" 'cmp -s k.txt ours.txt'
cat > multi.csv <<'EOF'
filename,class
3.png,"['shirt', 'bag']"
0.png,[]
5.png,"['boot']"
1.png,bag
4.png,"['shirt', 'boot', 'bag']"
EOF
keras multi csv=multi.csv > k.txt
imglist -q --table multi.csv img | grep -v "^	" > ours.txt
check "multi-label: Keras' classes per row (a list cell, [] for none)" 'cmp -s k.txt ours.txt'
check "and the list says it: classes=" 'grep -qx "img/4.png	classes=0:bag|1:boot|2:shirt" ours.txt && grep -qx "img/0.png	classes=" ours.txt'
keras categorical csv=t.csv split=0.3 subset=validation > k.txt
imglist -q --table t.csv --validation-split 0.3 --subset validation --split keras img | grep -v "^	" > ours.txt
check "--split keras: the first int(F x n) rows, as Keras' validation_split" 'cmp -s k.txt ours.txt && [ $(wc -l < ours.txt) -eq 2 ]'
keras categorical csv=t.csv split=0.3 subset=training > k.txt
imglist -q --table t.csv --validation-split 0.3 --subset training --split keras img | grep -v "^	" > ours.txt
check "--split keras: the training subset is the rest" 'cmp -s k.txt ours.txt'
check "Keras ran" '[ -s k.txt ] && ! grep -q Traceback keras.err'

# ---- the separator, --classes, binary, splits ----
printf 'filename,class\n3.png,shirt|bag\n0.png,bag\n' > sep.csv
run imglist --table sep.csv img
check "a cell with the separator is several classes (Keras would make one class 'shirt|bag')" '[ "$(cat out)" = "	0	bag
	1	shirt
img/3.png	classes=0:bag|1:shirt
img/0.png	classes=0:bag" ]'
printf 'filename,class\n3.png,shirt;bag\n0.png,a\n' > semi.csv
run imglist --table semi.csv --label-separator ';' img
check "--label-separator" '[ "$(sed -n 4p out)" = "img/3.png	classes=1:bag|2:shirt" ]'
printf 'filename,class\n3.png,shirt;bag\n0.png,a|b\n' > semi.csv
run imglist --table semi.csv --label-separator ';' img
check_status "a '|' in a class name of a multi-label table is refused" 65
check_err "named by the line it is on" "imglist: semi.csv:3: column \"class\": class \"a|b\" holds a '|', which a list line of several classes cannot carry (line 2 makes the table multi-label)"
run imglist --table t.csv --classes shirt,bag,boot,10,coat img
check "--classes: the user's order, declared first, a name no row uses too" '[ "$(head -n 7 out)" = "	0	shirt
	1	bag
	2	boot
	3	10
	4	coat
img/3.png	0	shirt
img/0.png	1	bag" ]'
run imglist --table t.csv --classes shirt,bag img
check_status "a row whose class is not in --classes is refused (Keras drops it silently)" 65
check_err "by line and column" "imglist: t.csv:5: column \"class\": class \"boot\" is not in --classes (shirt, bag)"
run imglist --table t.csv --class-mode binary img
check_status "binary with four classes" 65
check_err "names them" "imglist: t.csv: --class-mode binary needs exactly 2 classes, the table has 4: \"10\", \"bag\", \"boot\", \"shirt\""
run imglist --table t.csv --class-mode multi_output img
check_status "multi_output is refused by name" 64
check_err "and says why" "imglist: --class-mode multi_output: a model here has one output"

imglist -q --table t.csv --validation-split 0.5 --subset validation img | grep -v "^	" > v.txt
imglist -q --table t.csv --validation-split 0.5 --subset training img | grep -v "^	" > tr.txt
check "hash split (a table's default): the subsets partition the table" '[ "$(cat v.txt tr.txt | sort | uniq | wc -l)" -eq 8 ] && [ "$(cat v.txt tr.txt | wc -l)" -eq 8 ] && [ -s v.txt ] && [ -s tr.txt ]'
(head -n 1 t.csv; tail -n +2 t.csv | sort -r) > rev.csv
imglist -q --table rev.csv --validation-split 0.5 --subset validation img | grep -v "^	" | sort > v2.txt
check "hash split: the same rows whatever the table's order" '[ "$(sort v.txt)" = "$(cat v2.txt)" ]'
imglist -q --table t.csv --shuffle --seed 3 img > s1.txt
imglist -q --table t.csv --shuffle --seed 3 img > s2.txt
check "--shuffle --seed: a permutation, the same each time" 'cmp -s s1.txt s2.txt && [ "$(sort s1.txt)" = "$(imglist -q --table t.csv img | sort)" ]'
run imglist --table t.csv --shard 2/3 img
check "--shard" '[ "$(grep -v "^	" out | cut -f1 | tr "\n" " ")" = "img/0.png img/4.png img/sub/11.png " ]'

printf 'filename,class\n3.png,a\n0.png,b\n3.png,c\n' > dup.csv
run imglist --table t.csv --classes-out classes.txt img
check "--classes-out: the class names in index order" '[ "$(cat classes.txt | tr "\n" " ")" = "10 bag boot shirt " ]'
run imglist --table - img < t.csv
check "--table - reads standard input" '[ "$(sed -n 5p out)" = "img/3.png	3	shirt" ]'
printf 'filename,class\n' > empty.csv
run imglist --table empty.csv img
check_status "a header and no rows" 65
check_err "says so" "imglist: empty.csv: no rows under the header"
run imglist --table multi.csv --class-mode sparse img
check_status "sparse takes one class a row" 65
check_err "names the row" "imglist: multi.csv:2: column \"class\": \"['shirt', 'bag']\" is a list of classes: --class-mode sparse takes one class per row (categorical takes several)"

# A file is read twice (flat memory), a pipe once and kept: the same lines either way.
same=0
for args in "" "--class-mode raw --y-col angle,scale --weight-col w" "--validation-split 0.5 --subset training" \
            "--validation-split 0.3 --subset validation --split keras" "--shard 2/3 --class-mode sparse" "--no-labels"; do
    imglist -q --table t.csv $args img > file.txt 2>&1
    imglist -q --table - $args img < t.csv > pipe.txt 2>&1
    cmp -s file.txt pipe.txt && [ -s file.txt ] && same=$((same + 1))
done
check "a file read twice and a pipe kept whole give the same lines (6 ways)" '[ $same -eq 6 ]'
imglist -q --table multi.csv img > file.txt; imglist -q --table - img < multi.csv > pipe.txt
check "and for a multi-label table" 'cmp -s file.txt pipe.txt'
run imglist --table - img < dup.csv
check_status "a duplicated file read from a pipe" 65
check_err "is named by both lines too" "imglist: stdin:4: column \"filename\": file \"img/3.png\" is also on line 2"

# ---- TSV, BOM, CRLF, quoting, -0 ----
mkdir -p odd && cp img/0.png "odd/a,b.png" && cp img/1.png "odd/say \"hi\".png" && cp img/2.png "odd/tab	name.png"
printf '\357\273\277filename,class\r\n"a,b.png",x\r\n"say ""hi"".png","y"\r\n' > odd.csv
run imglist --table odd.csv odd
check "a byte-order mark, CRLF, separators and doubled quotes in quoted fields" '[ "$(grep -v "^	" out)" = "odd/a,b.png	0	x
odd/say \"hi\".png	1	y" ]'
printf 'filename\tclass\n"tab\tname.png"\tz\na,b.png\tx\n' > odd.tsv
run imglist --table odd.tsv odd
check_status "a file name with a tab, without -0" 65
check_err "is named by line and column (the tab written \\t: one line)" "imglist: odd.tsv:2: column \"filename\": file name \"tab\\tname.png\" holds a tab or a line break (use -0)"
run imglist -0 --table odd.tsv odd
check "with -0 (and tab-separated, for .tsv)" '[ "$(tr "\0" "\n" < out | grep -v "^	")" = "odd/tab	name.png	1	z
odd/a,b.png	0	x" ]'
printf 'filename;class\na,b.png;x\n' > semi2.csv
run imglist --table semi2.csv --delimiter ';' odd
check "--delimiter" '[ "$(cat out)" = "	0	x
odd/a,b.png	0	x" ]'

# ---- bad tables: line and column, 65, nothing written ----
bad() {  # bad NAME MESSAGE [imglist options...] < table
    cat > bad.csv
    name=$1 message=$2; shift 2
    rm -f list.txt
    run imglist -o list.txt --table bad.csv "$@" img
    check_status "$name: exit 65" 65
    check_err "$name: named" "$message"
    check "$name: nothing written" '[ ! -e list.txt ]'
}
printf 'filename,angle\n3.png,1\n0.png,abc\n' | bad "a word as a number" 'imglist: bad.csv:3: column "angle": "abc" is not a number' --class-mode raw --y-col angle
printf 'filename,angle\n3.png,12\n0.png,-0.02\n' | bad "a regression column read as classes (a forgotten --class-mode raw)" \
    'imglist: bad.csv:3: column "angle": "-0.02" is a number, not a class name: numbers are targets with --class-mode raw (to take them as class names, list them with --classes)' --y-col angle
printf 'filename,dose\n3.png,0.5\n0.png,1\n' > doses.csv
run imglist --table doses.csv --y-col dose --classes 0.5,1 img
check "numbers listed in --classes are class names" '[ "$(cat out)" = "	0	0.5
	1	1
img/3.png	0	0.5
img/0.png	1	1" ]'
printf 'filename,angle\n3.png,nan\n' | bad "NaN as a target" 'imglist: bad.csv:2: column "angle": "nan" is not a finite number' --class-mode raw --y-col angle
printf 'filename,angle\n3.png,inf\n' | bad "inf as a target" 'imglist: bad.csv:2: column "angle": "inf" is not a finite number' --class-mode raw --y-col angle
printf 'filename,class,w\n3.png,a,NaN\n' | bad "a NaN weight (Keras passes it through)" 'imglist: bad.csv:2: column "w": "NaN" is not a finite number' --weight-col w
printf 'filename,class\n3.png,a\n0.png,"b\n1.png,c\n' | bad "unbalanced quotes" 'imglist: bad.csv:3: unbalanced quotes'
printf 'filename,klass\n3.png,a\n' | bad "a missing column" 'imglist: bad.csv:1: no column "class" (--y-col; did you mean "klass"?): the columns are "filename", "klass"'
printf 'filename,class\n3.png,a\n0.png,\n' | bad "an empty label" 'imglist: bad.csv:3: column "class": an empty label (write [] for an image of none of the classes)'
printf 'filename,class\n3.png,a\n0.png,a,b\n' | bad "a row with too many fields" 'imglist: bad.csv:3: 3 fields, but the header names 2 columns'
printf 'filename,class\n3.png,a\n0.png,b\n3.png,c\n' | bad "a duplicated file name" 'imglist: bad.csv:4: column "filename": file "img/3.png" is also on line 2 (Keras keeps both rows; --allow-duplicates does too)'
printf 'filename,class\n3.png,"[\047a\047, "\n' | bad "a broken list cell" "imglist: bad.csv:2: column \"class\": list \"['a', \" does not end with ']'"
: | bad "an empty file" 'imglist: bad.csv: no header row'
run imglist --table dup.csv --allow-duplicates img
check "--allow-duplicates keeps both rows, as Keras" '[ $(grep -c "^img/3.png	" out) -eq 2 ]'

# ---- missing files ----
printf 'filename,class\n3.png,a\ngone.png,b\n0.png,a\nsub,b\n' > miss.csv
rm -f list.txt
run imglist -o list.txt --table miss.csv img
check_status "missing files are refused" 65
check_err "each named by line" "imglist: miss.csv:3: file not found: img/gone.png"
check_err "a folder is not a file" "imglist: miss.csv:5: file not found: img/sub"
check_err "counted" "imglist: miss.csv: 2 rows name files not found (--keep-going lists the others)"
check "nothing written" '[ ! -e list.txt ]'
run imglist --keep-going --table miss.csv img
check_status "--keep-going: the list, then 65" 65
check "the missing rows stay in the list as PATH<TAB>missing" '[ "$(cat out)" = "	0	a
	1	b
img/3.png	0	a
img/gone.png	missing
img/0.png	0	a
img/sub	missing" ]'
check_err "and are counted" "imglist: miss.csv: 2 rows name files not found, listed as missing; --allow-skipped accepts them"
run imglist --keep-going --allow-skipped --table miss.csv img
check_status "--allow-skipped: exit 0" 0
run imglist --allow-skipped --table miss.csv img
check_status "--allow-skipped without --keep-going is a usage error" 64
run imglist --table t.csv --ext png img
check_status "folder options with --table are usage errors" 64
run imglist --x-col f img
check_status "table options without --table are usage errors" 64
