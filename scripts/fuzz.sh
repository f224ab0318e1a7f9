#!/usr/bin/env bash
# Fuzzes Warden's input handling with libFuzzer and AddressSanitizer (both come with the Swift
# toolchain): the protocol parsers, the CONNECT and INFO JSON, ACL files, the JetStream checks.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]    SECONDS per target (default 600); all targets by default
#
# Each target starts from its committed seeds (Fuzz/corpus/TARGET) and keeps what it finds in
# .build/fuzz/corpus/TARGET, which later runs go on from. A crash, a sanitizer report, a broken
# invariant or an input that takes over 10 s stops the target: the input is saved under
# .build/fuzz/crashes/TARGET/, the script exits 1, and `swift run warden-fuzz TARGET FILE` replays it.
# Copy it into Fuzz/corpus/TARGET/ once fixed: the tests replay every committed input.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-600}"
shift || true
case "$seconds" in '' | *[!0-9]*) echo "usage: scripts/fuzz.sh [SECONDS] [TARGET...]" >&2; exit 2 ;; esac
if [ $# -gt 0 ]; then targets=("$@"); else targets=($(ls Fuzz/corpus)); fi

scratch=.build/fuzz
# lld: gold cannot link libFuzzer's archive into a Swift executable.
swift build --scratch-path "$scratch" --product warden-fuzz \
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING -Xswiftc -use-ld=lld 2>&1 | grep -E "error|warning: |Compiling WardenFuzz|Build" || true
binary="$scratch/debug/warden-fuzz"
[ -x "$binary" ] || { echo "fuzz.sh: the fuzzing build failed" >&2; exit 1; }

failed=()
printf '%-14s %12s %10s %10s %8s  %s\n' target executions "exec/s" coverage corpus result
for target in "${targets[@]}"; do
    [ -d "Fuzz/corpus/$target" ] || { echo "fuzz.sh: no target $target (Fuzz/corpus/$target)" >&2; exit 2; }
    work="$scratch/corpus/$target"
    crashes="$scratch/crashes/$target"
    mkdir -p "$work" "$crashes"
    log="$scratch/$target.log"
    status=0
    # Swift's own crash backtracer would run inside AddressSanitizer's report: libFuzzer reports instead.
    WARDEN_FUZZ_TARGET="$target" SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=detect_leaks=0 "$binary" \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=8192 -print_final_stats=1 \
        -artifact_prefix="$crashes/" "$work" "Fuzz/corpus/$target" >"$log" 2>&1 || status=$?
    executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    coverage=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | cut -d' ' -f2 || true)
    corpus=$(ls "$work" | wc -l)
    if [ "$status" -eq 0 ]; then
        result=clean
    else
        result="FAILED (see $log)"
        failed+=("$target")
    fi
    printf '%-14s %12s %10s %10s %8s  %s\n' "$target" "${executions:-?}" "${rate:-?}" "${coverage:-?}" "$corpus" "$result"
done
if [ ${#failed[@]} -gt 0 ]; then
    for target in "${failed[@]}"; do
        echo "--- $target"
        grep -E "fuzz invariant|ERROR: |Fatal error|SUMMARY|Test unit written" "$scratch/$target.log" | head -8
    done
    exit 1
fi
