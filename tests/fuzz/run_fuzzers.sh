#!/bin/bash
# run_fuzzers.sh - runs every libFuzzer harness in BIN_DIR for SECONDS each, JOBS at a time.
#
#   run_fuzzers.sh BIN_DIR SEED_DIR SECONDS JOBS OUT_DIR
#
# Each harness fuzz_NAME starts from a copy of SEED_DIR/NAME (its checked-in corpus) in
# OUT_DIR/corpus/NAME, which grows as it finds inputs; its log is OUT_DIR/logs/NAME.log and its
# final statistics (executions, coverage, corpus, peak memory) OUT_DIR/stats/NAME.txt, all
# summed up in OUT_DIR/summary.txt.  A crash, a leak, a timeout, running out of memory or a
# failed invariant leaves its input in OUT_DIR/artifacts/ and makes this script exit 1 after
# printing the reproducer paths and how to replay them.  Needs bash and coreutils only, so a
# bundle made by `make fuzz-build` runs it on any Linux machine.
set -u

if [ $# -ne 5 ]; then
    echo "usage: $0 BIN_DIR SEED_DIR SECONDS JOBS OUT_DIR" >&2
    exit 2
fi
bin_dir=$1 seed_dir=$2 seconds=$3 jobs=$4 out=$5
mkdir -p "$out/corpus" "$out/logs" "$out/stats" "$out/artifacts"

run_one() {
    local exe=$1 name=${1##*/fuzz_}
    mkdir -p "$out/corpus/$name"
    [ -d "$seed_dir/$name" ] && cp -n "$seed_dir/$name"/* "$out/corpus/$name/" 2>/dev/null
    # -timeout: an input slower than this counts as a hang; -rss_limit_mb: as a blow-up.
    "$exe" -max_total_time="$seconds" -print_final_stats=1 -timeout=20 -rss_limit_mb=2048 \
        -artifact_prefix="$out/artifacts/$name-" "$out/corpus/$name" >"$out/logs/$name.log" 2>&1
    local rc=$?
    {
        echo "harness: $name"
        echo "exit: $rc"
        grep -E '^#[0-9]+.*(DONE|INITED)' "$out/logs/$name.log" | tail -1
        grep '^stat::' "$out/logs/$name.log"
    } >"$out/stats/$name.txt"
    return $rc
}

harnesses=()
for exe in "$bin_dir"/fuzz_*; do
    [ -f "$exe" ] && [ -x "$exe" ] && harnesses+=("$exe")
done
[ ${#harnesses[@]} -gt 0 ] || { echo "$0: no fuzz_* harness in $bin_dir" >&2; exit 2; }
echo "fuzzing ${#harnesses[@]} harnesses for ${seconds}s each, $jobs at a time; results in $out"
running=0
for exe in "${harnesses[@]}"; do
    if [ "$running" -ge "$jobs" ]; then
        wait -n
        running=$((running - 1))
    fi
    run_one "$exe" &
    running=$((running + 1))
done
wait

failed=0
: >"$out/summary.txt"
for exe in "${harnesses[@]}"; do
    name=${exe##*/fuzz_}
    rc=$(sed -n 's/^exit: //p' "$out/stats/$name.txt")
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/stats/$name.txt")
    cov=$(grep -Eo 'cov: [0-9]+ ft: [0-9]+' "$out/stats/$name.txt")
    printf '%-18s exit %-3s executions %-10s %s\n' "$name" "$rc" "${runs:-?}" "$cov" | tee -a "$out/summary.txt"
    if [ "$rc" != 0 ]; then
        failed=1
        grep -E 'invariant failed|ERROR: |SUMMARY: ' "$out/logs/$name.log" | head -3
    fi
done
artifacts=$(ls "$out/artifacts" 2>/dev/null)
if [ -n "$artifacts" ]; then
    failed=1
    echo "reproducers (replay one with: BIN_DIR/fuzz_NAME FILE; keep it as tests/fuzz/corpus/NAME/crash-...):"
    for a in $artifacts; do echo "  $out/artifacts/$a"; done
fi
exit $failed
