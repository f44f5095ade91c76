# bench-lib.sh: what scripts/bench-snapshot and scripts/bench-mount share.
# Sourced, not run. Sets KIND, SIZE, RUNS, DOCS, CACHE, BIN, WORK and
# IDXFS_DATA_DIR from the command line:
#
#   SCRIPT [--kind text|default] [--runs N] SIZE
#
# SIZE is the index's size on disk (K, M or G suffix, powers of 1000):
# the document count is estimated from it (text ≈ 1.33 KB on disk per ~1.8 KB
# document, default ≈ 0.64 KB per ~1 KiB one, measured at 1 and 4 GB); the scripts print the size
# measured. The index is built once per kind and count with scripts/gendocs
# and cached under scripts/.cache (IDXFS_BENCH_CACHE; delete it to rebuild).

usage() { echo "usage: $0 [--kind text|default] [--runs N] SIZE   (SIZE e.g. 250M, 1G, 4G: the index on disk)" >&2; exit 2; }
KIND=text RUNS=3 SIZE=""
while [ $# -gt 0 ]; do
  case $1 in
    --kind) KIND=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    -h|--help) usage ;;
    -*) usage ;;
    *) [ -z "$SIZE" ] || usage; SIZE=$1; shift ;;
  esac
done
[ -n "$SIZE" ] || usage
case $KIND in text|default) ;; *) usage ;; esac
(( RUNS >= 1 )) || usage
bytes=$(python3 -c "import sys; s=sys.argv[1].upper().rstrip('B'); m={'K':1e3,'M':1e6,'G':1e9}; print(int(float(s[:-1])*m[s[-1]]) if s[-1] in m else int(s))" "$SIZE") || usage
per=$([ "$KIND" = text ] && echo 1330 || echo 640)
DOCS=$(( bytes / per ))
(( DOCS >= 1000 )) || { echo "$0: $SIZE is too small (under 1000 documents)" >&2; exit 2; }

for t in pigz tar rsync python3 /usr/bin/time; do
  command -v "$t" >/dev/null || { echo "$0: $t is missing (apt-get install pigz tar rsync python3 time)" >&2; exit 2; }
done
CACHE=${IDXFS_BENCH_CACHE:-scripts/.cache}/$KIND-$DOCS
mkdir -p "$CACHE"
CACHE=$(cd "$CACHE" && pwd)
BIN=$CACHE/idxfs
go build -o "$BIN" ./cmd/idxfs
go build -o "$CACHE/gendocs" ./scripts/gendocs
export IDXFS_DATA_DIR=$CACHE/data
if [ ! -f "$CACHE/ready" ]; then
  echo "building the benchmark index: $DOCS $KIND documents (once; cached in $CACHE)" >&2
  rm -rf "$CACHE/data"
  "$BIN" index create bench --primary-key id >/dev/null
  "$CACHE/gendocs" -kind "$KIND" -n "$DOCS" | "$BIN" documents add bench - >/dev/null
  echo "$DOCS" > "$CACHE/next" # documents added later get ids from DOCS+1 up
  touch "$CACHE/ready"
fi
WORK=$(mktemp -d "${TMPDIR:-/tmp}/${0##*/}.XXXXXX")

# secs OUTVAR cmd...: wall-clock seconds of cmd.
secs() {
  local out=$1; shift
  local t0=$EPOCHREALTIME
  "$@"
  printf -v "$out" '%s' "$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f", b - a }')"
}

# newdocs N: prints N new documents (ids never used in this cache).
newdocs() {
  local from; from=$(( $(cat "$CACHE/next") + 1 ))
  echo $(( from + $1 - 1 )) > "$CACHE/next"
  "$CACHE/gendocs" -kind "$KIND" -from "$from" -n "$1"
}

# ref_input: the files of a checkpoint of bench, as an archive holds them,
# in $WORK/ref/index (the input of tar | pigz); prints its size in bytes.
ref_input() {
  rm -rf "$WORK/ref"; mkdir -p "$WORK/ref"
  tar xzf "$1" -C "$WORK/ref"
  cat "$WORK/ref/index"/* > /dev/null
  du -sb "$WORK/ref/index" | cut -f1
}

# pigz_ref OUTVAR: time of `tar cf - DIR | pigz -p 2 -1` on $WORK/ref/index;
# the archive is $WORK/ref.tar.gz.
pigz_ref() { secs "$1" bash -c "tar cf - -C '$WORK/ref/index' . | pigz -p 2 -1 > '$WORK/ref.tar.gz'"; }

# summary: reads "ROW<TAB>VALUE" lines (one per run) on stdin and prints, per
# row in first-seen order, median and min–max; python does the statistics.
# Lines "ratio<TAB>NAME<TAB>NUM-ROW<TAB>DEN-ROW<TAB>TARGET" print
# median(NUM)/median(DEN).
summary() {
  python3 -c '
import statistics as st, sys
rows, order, ratios = {}, [], []
for line in sys.stdin:
    f = line.rstrip("\n").split("\t")
    if f[0] == "ratio":
        ratios.append(f[1:]); continue
    if f[0] not in rows:
        rows[f[0]] = []; order.append(f[0])
    rows[f[0]].append(float(f[1]))
w = max(len(r) for r in order)
for r in order:
    xs = rows[r]
    print(f"  {r:{w}s}  median {st.median(xs):10.3f}  (min {min(xs):.3f}, max {max(xs):.3f}, n={len(xs)})")
print()
for name, num, den, target in ratios:
    if num in rows and den in rows:
        print(f"  {name:{w}s}  {st.median(rows[num]) / st.median(rows[den]):10.3f}   target {target}")
'
}
