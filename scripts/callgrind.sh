#!/usr/bin/env bash
# Instructions Warden executes per message, counted by valgrind's callgrind: steadier than timings on
# a shared machine, and exact enough to compare two versions of a function.
#
#   scripts/callgrind.sh [WORKLOAD] [TOP]    WORKLOAD: a warden-bench workload (default pubsub-128)
#
# Runs the workload twice through `warden-bench proxy --only WORKLOAD` (quick, then full), with Warden
# under callgrind, and prints per function the difference between the two runs divided by the
# difference in decision records: what each function costs per record, without start-up and TLS
# handshakes. Takes a few minutes: under callgrind Warden runs about fifty times slower.
#
# Two things make callgrind work with this toolchain:
# - Warden is built with DWARF 4 (into .build/callgrind): valgrind 3.19 cannot read Swift 6's DWARF 5.
# - A preloaded `sigsuspend` copies its signal mask before the system call. An async `main` parks the
#   main thread in libdispatch's `sigsuspend` on a mask in read-only memory, and valgrind 3.19 writes
#   to the mask it is given, which kills valgrind itself (with any tool, any program with async main).
set -euo pipefail
cd "$(dirname "$0")/.."
workload="${1:-pubsub-128}"
top="${2:-40}"

sudo_if_needed() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}
missing=()
for package in valgrind gcc; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
    sudo_if_needed apt-get update -qq
    DEBIAN_FRONTEND=noninteractive sudo_if_needed apt-get install -y -qq "${missing[@]}" >/dev/null
fi
scripts/setup.sh

scratch=.build/callgrind
swift build -c release --product warden-bench
swift build -c release --scratch-path "$scratch" -Xswiftc -dwarf-version=4 -Xcc -gdwarf-4 --product warden

run="$scratch/run"
rm -rf "$run" && mkdir -p "$run"
cat > "$run/sigsuspend.c" <<'C'
#define _GNU_SOURCE
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>
int sigsuspend(const sigset_t *mask) {
    sigset_t copy = *mask;
    return (int)syscall(SYS_rt_sigsuspend, &copy, sizeof(unsigned long));
}
C
gcc -O2 -shared -fPIC -o "$run/libsigsuspend.so" "$run/sigsuspend.c"
# warden-bench starts the `warden` next to it: here, callgrind running the DWARF 4 build.
cp .build/release/warden-bench "$run/"
cp "$scratch/release/warden" "$run/warden.real"
abs="$(cd "$run" && pwd)"
cat > "$run/warden" <<SH
#!/usr/bin/env bash
exec env LD_PRELOAD="$abs/libsigsuspend.so" valgrind --tool=callgrind --callgrind-out-file="$abs/callgrind.%p" "$abs/warden.real" "\$@" 2>>"$abs/valgrind.log"
SH
chmod +x "$run/warden"

for mode in quick full; do
    flag=$([ "$mode" = quick ] && echo --quick || true)
    echo "callgrind: $workload, $mode run"
    (cd "$run" && ./warden-bench proxy $flag --only "$workload" --json "$abs/$mode.json" > "$abs/$mode.txt")
    grep "decision records" "$run/$mode.txt" | sed 's/.*: //' > "$run/$mode.records"
    mv "$(ls -t "$run"/callgrind.* | head -1)" "$run/$mode.callgrind"
done

python3 - "$run" "$top" <<'PY'
import re, subprocess, sys
run, top = sys.argv[1], int(sys.argv[2])
def profile(mode):
    text = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", f"{run}/{mode}.callgrind"],
                          capture_output=True, text=True, check=True).stdout
    costs = {}
    for line in text.splitlines():
        match = re.match(r"\s*([\d,]+) \([ \d.]+%\)\s+(.*)", line)
        if match and not match.group(2).startswith("=>"):
            name = re.sub(r" \[.*\]$", "", match.group(2))
            costs[name] = costs.get(name, 0) + int(match.group(1).replace(",", ""))
    return costs
records = {mode: int(open(f"{run}/{mode}.records").read()) for mode in ("quick", "full")}
quick, full = profile("quick"), profile("full")
per = sorted(((full[n] - quick.get(n, 0)) / (records["full"] - records["quick"]), n) for n in full)
print(f"instructions per decision record, inclusive ({records['full'] - records['quick']} records apart):")
for cost, name in reversed(per[-top:]):
    print(f"{cost:10.0f}  {name[:150]}")
print(f"profiles: {run}/quick.callgrind, {run}/full.callgrind (callgrind_annotate, kcachegrind)")
PY
