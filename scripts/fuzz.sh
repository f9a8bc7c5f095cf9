#!/usr/bin/env bash
# Fuzz every decoder: configure and build a clang libFuzzer build in
# build-fuzz/ (targets = fuzz/fuzz_*.c, with ASan + UBSan), then run each
# target for SECONDS (default 60) on its corpus, seeded from
# fuzz/seeds/<target>/ and guided by fuzz/<target>.dict when present.
# Exits non-zero if any target crashes, leaks or times out; the input that
# did it is kept in build-fuzz/artifacts/<target>/ and the log in
# build-fuzz/logs/<target>.log.
#
#   scripts/fuzz.sh 30            # every target, 30 s each
#   scripts/fuzz.sh 30 fuzz_table # only the named targets
set -euo pipefail

per_target=${1:-60}
shift || true
if ! [[ "$per_target" =~ ^[0-9]+$ ]] || [ "$per_target" -lt 1 ]; then
    echo "usage: $0 SECONDS [TARGET...]" >&2
    exit 2
fi
root=$(cd "$(dirname "$0")/.." && pwd)
build=$root/build-fuzz
cc=${IROHDS_FUZZ_CC:-clang}
if ! command -v "$cc" >/dev/null; then
    echo "fuzz.sh: $cc not found (clang and libclang-rt-dev are needed)" >&2
    exit 2
fi

echo "== configuring and building $build"
cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER="$cc" -DIROHDS_FUZZ=ON \
      -DIROHDS_TESTS=OFF >"$root/build-fuzz.configure.log" 2>&1 || {
    cat "$root/build-fuzz.configure.log" >&2
    exit 2
}
rm -f "$root/build-fuzz.configure.log"
# Only the fuzz targets and what they link: the rest of the tree does not
# need to build with clang for the decoders to be fuzzed.
cmake --build "$build" --target fuzz -j2

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    for bin in "$build"/fuzz/fuzz_*; do
        [ -x "$bin" ] && targets+=("$(basename "$bin")")
    done
fi
if [ ${#targets[@]} -eq 0 ]; then
    echo "fuzz.sh: no fuzz targets built" >&2
    exit 2
fi

mkdir -p "$build/logs"
# Leaks count as failures; UBSan reports carry a stack.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
failed=()
for name in "${targets[@]}"; do
    bin=$build/fuzz/$name
    if [ ! -x "$bin" ]; then
        echo "fuzz.sh: no target $name" >&2
        failed+=("$name")
        continue
    fi
    corpus=$build/corpus/$name
    artifacts=$build/artifacts/$name
    log=$build/logs/$name.log
    mkdir -p "$corpus" "$artifacts"
    args=(-max_total_time="$per_target" -timeout=10 -rss_limit_mb=2048
          -max_len=65536 -print_final_stats=1 -artifact_prefix="$artifacts/")
    [ -f "$root/fuzz/$name.dict" ] && args+=(-dict="$root/fuzz/$name.dict")
    dirs=("$corpus")
    [ -d "$root/fuzz/seeds/$name" ] && dirs+=("$root/fuzz/seeds/$name")
    echo "== $name: ${per_target}s"
    if "$bin" "${args[@]}" "${dirs[@]}" >"$log" 2>&1; then
        runs=$(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)
        cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 || true)
        echo "   ok (${runs:-?} runs, ${cov:-cov: ?}, corpus $(ls "$corpus" | wc -l) files)"
    else
        echo "   FAILED: see $log and $artifacts/" >&2
        grep -E 'ERROR|SUMMARY|==[0-9]+==|runtime error|Test unit written' "$log" | head -20 >&2 || true
        failed+=("$name")
    fi
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz.sh: failed: ${failed[*]}" >&2
    exit 1
fi
echo "fuzz.sh: all ${#targets[@]} targets ran ${per_target}s without a crash"
