#!/bin/sh
# Host instructions per syscall round trip (docs/PERFORMANCE.md, "The
# ecall path"): runs read_brk.s under the interpreter (--no-jit) with
# cachegrind on files of 100,000 and 200,000 bytes and takes differences,
# so that loading and starting the program cancel out. Needs valgrind.
#
#   benches/ecall/run.sh [path/to/sim]    (default: target/release/sim)
set -eu
sim=$(realpath "${1:-target/release/sim}")
prog=$(realpath "$(dirname "$0")/read_brk.s")
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
head -c 100000 /dev/zero > "$dir/small"
head -c 200000 /dev/zero > "$dir/large"
cp "$prog" "$dir/read_brk.s"
# Host instructions of one run ("I refs" of cachegrind).
refs() {
    (cd "$dir" && valgrind --tool=cachegrind --cache-sim=no \
        --cachegrind-out-file=/dev/null "$sim" --no-jit read_brk.s "$@" 2>&1 >/dev/null) |
        awk '/I *refs/ { gsub(",", "", $NF); print $NF }'
}
small=$(refs small)
large=$(refs large)
large_brk=$(refs large brk)
echo "host instructions per read of 1 byte: $(( (large - small) / 100000 ))"
echo "host instructions per brk:            $(( (large_brk - large) / 200000 ))"
