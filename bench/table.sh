#!/bin/sh
# Table: imglist --table over 100,000 and 1,000,000 rows whose files exist
# (1,000 folders of 1,000 hard links to one small file), each
# file stat'ed once. Seconds and peak RSS (/usr/bin/time) for categorical,
# multi-label, raw with a weight, and, for scale, `wc -l` and `cut` over the
# same table (the floor of reading it) and Python's csv module + os.stat.
# Writes bench/results/table.md. TABLE_ROWS (default 1000000) sets the large run.
set -u
cd "$(dirname "$0")/.." || exit 70
root=$(pwd)
BIN=${BIN:-$root/bin}
PATH="$BIN:$PATH"
rows=${TABLE_ROWS:-1000000}
work=$(mktemp -d "${TMPDIR:-/tmp}/imgpipe-table.XXXXXX")
trap 'rm -rf "$work"' EXIT
[ -x /usr/bin/time ] || { echo "table.sh: needs /usr/bin/time (Debian package time)" >&2; exit 70; }

# The files and the tables: "d123/456.png", a class of 10, a multi-label cell, two numbers, a weight.
/usr/bin/python3 - "$work" "$rows" <<'EOF' || exit 70
import os, sys
work, rows = sys.argv[1], int(sys.argv[2])
os.makedirs(work + "/img", exist_ok=True)
png = work + "/img/one.png"
open(png, "wb").write(b"\x89PNG\r\n\x1a\n" + b"\0" * 300)
names = ["t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot"]
for n in (100000, rows):
    with open("%s/t%d.csv" % (work, n), "w") as f:
        f.write("filename,class,tags,angle,scale,w\n")
        for i in range(n):
            d, k = divmod(i, 1000)
            f.write("d%d/%d.png,%s,\"['%s', '%s']\",%d.5,%g,%g\n" % (d, k, names[i % 10], names[i % 10], names[(i * 7) % 10], i % 360 - 180, 1 + (i % 5) / 4, 1 + i % 3))
# ext4 allows 65,000 links to a file: each folder links to its own 0.png.
data = open(png, "rb").read()
for i in range(rows):
    d, k = divmod(i, 1000)
    first = "%s/img/d%d/0.png" % (work, d)
    if k == 0:
        os.makedirs("%s/img/d%d" % (work, d), exist_ok=True)
        open(first, "wb").write(data)
    else:
        os.link(first, "%s/img/d%d/%d.png" % (work, d, k))
EOF

# measure LABEL CMD...: seconds and peak RSS (MiB) of CMD, output to /dev/null.
measure() {
    label=$1; shift
    /usr/bin/time -f '%e %M' -o "$work/time" "$@" > /dev/null 2> "$work/err" || { echo "table.sh: $label failed:" >&2; cat "$work/err" >&2; exit 1; }
    set -- $(cat "$work/time")
    printf '| %s | %s | %.0f |\n' "$label" "$1" "$(echo "$2 / 1024" | bc -l)"
}
{
echo "## Table: imglist --table over 100,000 and $rows rows"
echo
echo "$(date -u +%Y-%m-%d), $(nproc) cores, $(uname -m). Each row names a file that exists (a hard link; the"
echo "page cache warm after the first run), and imglist stat()s each once. A row: \`d12/345.png,shirt,\"['shirt', 'bag']\",-179.5,1.25,2\`."
echo "A table in a file is read twice (checked, then listed: flat memory); with \`--shuffle\` (or from a pipe) once, its rows kept."
echo "Seconds and peak resident set (\`/usr/bin/time -f '%e %M'\`), output to /dev/null:"
echo
echo "| command | seconds | peak RSS (MiB) |"
echo "|---|---:|---:|"
cd "$work/img"
for n in 100000 "$rows"; do
    t=../t$n.csv
    measure "$n rows: \`wc -l\` (reading the table)" wc -l $t
    measure "$n rows: \`cut -d, -f1\`" cut -d, -f1 $t
    measure "$n rows: Python csv + os.stat each file" /usr/bin/python3 -c "
import csv, os, sys
r = csv.reader(open('$t', newline='')); next(r)
for row in r: os.stat(row[0])"
    measure "$n rows: \`imglist --table\` (categorical)" imglist -q --table $t
    measure "$n rows: \`imglist --table --allow-duplicates\` (categorical, no duplicate check)" imglist -q --table $t --allow-duplicates
    measure "$n rows: \`imglist --table --y-col tags\` (multi-label)" imglist -q --table $t --y-col tags
    measure "$n rows: \`imglist --table --class-mode raw --y-col angle,scale --weight-col w\`" imglist -q --table $t --class-mode raw --y-col angle,scale --weight-col w
    measure "$n rows: the same, \`--shuffle --validation-split 0.2 --subset training\` (rows kept, read once)" imglist -q --table $t --class-mode raw --y-col angle,scale --weight-col w --shuffle --seed 1 --validation-split 0.2 --subset training
done
echo
echo "Read twice, imglist's memory is flat but for the duplicate check: 8 bytes a row of path hashes (up to"
echo "twice that while the vector grows), sorted in place and freed before the rows are listed"
echo "(\`--allow-duplicates\` skips it). Kept whole"
echo "(\`--shuffle\`, a pipe), a row costs its path and targets (about 90 bytes here). The time is the"
echo "stat() of each file and the parse; Python's csv module with one os.stat a row is the comparison."
} > "$work/table.md"
cat "$work/table.md"
mkdir -p "$root/bench/results" && cp "$work/table.md" "$root/bench/results/table.md"
