# imglist: Keras' flow_from_directory walk, splits, shards, odd names.
. "$ROOT/tests/shell/lib.sh"

mk() { mkdir -p "$(dirname "$1")" && printf 'x' > "$1"; }
# Class folders whose byte order differs from a human sort: 10 < 2 < B < a.
for c in a B 10 2; do mk "d/$c/1.png"; mk "d/$c/0.jpg"; done
mk d/a/sub/z.png; mk "d/a/sub dir/y.png"; mk d/a/X.JPG; mk d/a/notes.txt
mk d/.ipynb_checkpoints/ghost.png; mk d/a/.hidden.png; mk d/top.png

run imglist d
check_status "lists a folder of classes" 0
check "classes numbered in byte order" '[ "$(cut -f3 out | uniq | tr "\n" " ")" = "10 2 B a " ]'
check "labels are class indices" '[ "$(cut -f2 out | uniq | tr "\n" " ")" = "0 1 2 3 " ]'
check "files sorted, walk sorted by folder path, case-insensitive extensions" \
  '[ "$(grep "	a$" out | cut -f1 | tr "\n" " ")" = "d/a/0.jpg d/a/1.png d/a/X.JPG d/a/sub/z.png d/a/sub dir/y.png " ]'
check "hidden folders and files skipped, other extensions ignored" '! grep -q -e ipynb -e hidden -e notes out'
check "top-level files ignored when there are class folders" '! grep -q top.png out'
check_err "Keras' summary on stderr" "Found 11 images belonging to 4 classes."
check "stdout holds only list lines" '[ $(wc -l < out) -eq 11 ]'

run imglist --hidden d
check "--hidden keeps dot folders as classes" 'grep -q "ipynb_checkpoints/ghost.png	0	.ipynb_checkpoints" out'

run imglist --classes a,B d
check "--classes picks and orders" '[ "$(cut -f2,3 out | uniq | tr "\n" " ")" = "0	a 1	B " ]'
run imglist --classes a,nope d
check_status "a named class without its folder is kept, as Keras does" 0
check_err "named, with what to do" "d/nope: no such class folder: class 1 \"nope\" is kept with no images (if that is a typo, the folders here are:"
check "and declared, so its index survives" 'grep -qx "	1	nope" out'
mkdir -p only && : > only/readme.txt
run imglist --ext png only
check_status "no images at all" 66
check_err "says what it looked for in plain words" "no images found (no file ends in .png)"

run imglist --no-labels d
check "--no-labels writes paths alone" '! grep -q "	" out && [ $(wc -l < out) -eq 11 ]'
run imglist --ext jpg d
check "--ext narrows the allow-list" '[ $(wc -l < out) -eq 5 ]'

mkdir flat && mk flat/b.jpg && mk flat/a.jpg && mk flat/c.txt
run imglist flat
check "a flat folder lists its images unlabelled" '[ "$(cat out | tr "\n" " ")" = "flat/a.jpg flat/b.jpg " ]'
check_err "with zero classes" "Found 2 images belonging to 0 classes."

# validation_split: the first int(0.5 * 2) = 1 file of each class is validation (Keras).
run imglist --validation-split 0.5 --subset validation d
check "keras split: head of each class, int(0.5*n)" '[ "$(cut -f1 out | tr "\n" " ")" = "d/10/0.jpg d/2/0.jpg d/B/0.jpg d/a/0.jpg d/a/1.png " ]'
imglist -q --validation-split 0.5 --subset training d > train.txt
check "training and validation partition the list" '[ "$(cat out train.txt | sort | uniq | wc -l)" -eq 11 ]'
run imglist --validation-split 0.5 d
check_status "a split without --subset is a usage error" 64
for f in 1 0 1.5 -0.2 half; do
    run imglist --validation-split $f --subset training d
    check_status "--validation-split $f is a usage error (0 < F < 1)" 64
    check_err "--validation-split $f: says what it wants" "imglist: --validation-split: $f is not a fraction between 0 and 1 (both excluded)"
done
run imglist --validation-split 0.0001 --subset validation d
check_status "a split that takes no image is bad data, not 'no images found'" 65
check_err "and says why" "imglist: d: no images in the validation subset of --validation-split 0.0001 (int(F x N) of each class's N images, as Keras): the folder holds 11"
run imglist --shard 12/12 d
check_status "a shard with no image" 65
check_err "is named as such" "imglist: d: no images in shard 12/12: the folder holds 11"

for i in $(seq 1 40); do mk "h/c/$i.png"; done
imglist -q --split hash --seed 3 --validation-split 0.3 --subset validation h > v1.txt
for i in $(seq 41 80); do mk "h/c/$i.png"; done
imglist -q --split hash --seed 3 --validation-split 0.3 --subset validation h > v2.txt
check "hash split keeps membership when the folder grows" '[ -s v1.txt ] && [ -z "$(comm -23 v1.txt v2.txt)" ]'
check "hash split holds out about the fraction" '[ $(wc -l < v2.txt) -gt 12 ] && [ $(wc -l < v2.txt) -lt 36 ]'

imglist -q --shuffle --seed 7 h > s1.txt; imglist -q --shuffle --seed 7 h > s2.txt; imglist -q --shuffle --seed 8 h > s3.txt
check "--shuffle --seed is reproducible" 'cmp -s s1.txt s2.txt'
check "a different seed, a different order" '! cmp -s s1.txt s3.txt'
check "shuffling keeps every line" '[ "$(sort s1.txt)" = "$(imglist -q h | sort)" ]'
imglist -q --shard 1/3 h > p1; imglist -q --shard 2/3 h > p2; imglist -q --shard 3/3 h > p3
check "shards partition the list" '[ "$(cat p1 p2 p3 | sort)" = "$(imglist -q h | sort)" ] && [ $(wc -l < p1) -eq 27 ]'
run imglist --shard 4/3 h
check_status "a bad shard is a usage error" 64

mkdir -p odd/cls && mk "odd/cls/with space.png" && mk "odd/cls/ünïcödé.png" && mk "odd/cls/-dash.png"
nl=$(printf 'odd/cls/new\nline.png'); mk "$nl"
run imglist odd
check_status "a path with a newline needs -0" 65
check_err "and says so" "use -0"
run imglist -0 odd
check "-0 writes NUL-terminated records" '[ $(tr -cd "\0" < out | wc -c) -eq 4 ] && grep -qa "new" out'
check "odd names listed byte for byte" 'tr "\0" "\n" < out | grep -q "^odd/cls/ünïcödé.png	0	cls$"'
run imglist --classes-out classes.txt d
check "--classes-out writes the class names" '[ "$(cat classes.txt | tr "\n" " ")" = "10 2 B a " ]'
run imglist -o list.txt d
check "-o writes the list to a file" '[ $(wc -l < list.txt) -eq 11 ] && [ ! -s out ]'

run imglist missing
check_status "a missing folder" 66
check_err "is named" "imglist: missing: cannot open"
mkdir empty
run imglist empty
check_status "no images is an error, not success" 66
check_err "with a message" "no images found"

mkdir -p loop/c && mk loop/c/1.png && ln -s .. loop/c/up
run imglist --follow-links loop
check_status "a symlink loop is detected and skipped" 0
check_err "and reported" "symbolic link loop"
check "the images are still listed" '[ $(wc -l < out) -eq 1 ]'

mkdir -p locked/c/in && mk locked/c/1.png && chmod 000 locked/c/in
run unprivileged imglist locked
check_status "an unreadable folder makes the exit status say so" 66
check_err "naming it" "locked/c/in"
chmod 755 locked/c/in
