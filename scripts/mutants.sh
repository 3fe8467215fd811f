#!/usr/bin/env bash
# Mutation testing of the money and access code (issue 16): how many of the
# mutants cargo-mutants makes of each file the tests catch. A measurement to
# quote, not a CI gate: the script fails only if cargo-mutants cannot run.
#
#   scripts/mutants.sh            # every group below (about 27 min on 2 busy cores)
#   scripts/mutants.sh domain     # one or more groups by name
#   scripts/mutants.sh --table    # only print the table of the last runs
#
# Needs `cargo install cargo-mutants` (written for 27.1) and python3.
#
# Every run is `--in-place`: cargo-mutants edits the working tree itself
# (restoring each file afterwards) and reuses the warm `target/`, so it runs
# one mutant at a time (`--in-place` refuses `-j`) and nothing else may build
# or edit in this tree meanwhile. `--cargo-arg=--lib` limits both the build and the
# test phase to the crate's unit-test binary: the files measured here are
# covered by their own `#[cfg(test)]` tests, and the integration suites would
# only add build time. Results land in mutants.out.runs/<group>/mutants.out/
# (git-ignored).
#
# Not measured, on purpose:
# - actors/src/domain/ledger.rs and provisioning.rs: type definitions and
#   `text_enum!` invocations only; cargo-mutants does not mutate macro
#   output, so they yield no mutants.
# - gateway.rs outside `XrayGateway::check_health` and the rule it applies
#   (`uptime_lags`, `presence`, `judge`: the restart and recovery detection): the rest is actor and gRPC plumbing, covered by the
#   integration suites.
# - notifier.rs outside `Throttle` (the send budgets): the drain loop is
#   covered by the integration suites.
# - The Telegram webhook's secret-token check is not in http/src/signature/:
#   it is one constant-time comparison inside the handler in
#   http/src/telegram.rs, covered by the root `api` suite only.
#
# Accepted survivors (equivalent mutants) are excluded, each with its
# reason, by `exclude_re` in .cargo/mutants.toml, which every cargo-mutants
# run in this repository reads.
#
# "caught/viable" counts caught mutants over all that built (caught, missed
# and timed out); a timeout is a mutant whose tests hung, which the suite
# would have noticed, but it is not counted as caught.
set -euo pipefail

cd "$(dirname "$0")/.."

OUT_ROOT=mutants.out.runs
# Mutants make proptest fail on purpose; do not leave their failing cases
# behind as proptest-regressions/ files next to the sources.
export PROPTEST_DISABLE_FAILURE_PERSISTENCE=1
COMMON=(--in-place --no-shuffle --cargo-arg=--lib)

run_group() {
    local group=$1
    shift
    local out="$OUT_ROOT/$group"
    mkdir -p "$out"
    local start=$SECONDS
    echo "=== $group: cargo mutants ${COMMON[*]} $* -o $out"
    # Exit codes 2 (missed mutants) and 3 (timeouts) are results, not errors.
    local rc=0
    cargo mutants "${COMMON[@]}" "$@" -o "$out" || rc=$?
    case $rc in
        0 | 2 | 3) ;;
        *)
            echo "cargo mutants failed for $group (exit $rc)" >&2
            exit "$rc"
            ;;
    esac
    echo "=== $group: $((SECONDS - start)) s wall time"
}

group_domain() {
    run_group domain --timeout 120 -p subvisor-actors \
        -f actors/src/domain/settlement.rs \
        -f actors/src/domain/subscription.rs \
        -f actors/src/domain/money.rs \
        -f actors/src/domain/ledger.rs \
        -f actors/src/domain/provisioning.rs
}

group_provisioning() {
    # The whole breaker; of the gateway, the restart/recovery detection only.
    run_group provisioning --timeout 120 -p subvisor-actors \
        -f actors/src/provisioning/breaker.rs \
        -f actors/src/provisioning/gateway.rs \
        --re 'breaker\.rs|XrayGateway::check_health|uptime_lags|judge|presence'
}

group_notifier() {
    # The Notifier's budgets (`Throttle`), not its drain loop.
    run_group notifier --timeout 120 -p subvisor-actors \
        -f actors/src/notifier.rs \
        --re 'Throttle::'
}

group_signature() {
    # The parser's `pos += 1` turned into `pos *= 1` loops forever; the unit
    # tests take about a second, so 30 s is ample and a hang costs little.
    run_group signature --timeout 30 -p subvisor-http \
        -f 'http/src/signature/*.rs'
}

print_table() {
    python3 - "$OUT_ROOT" <<'PY'
import json
import pathlib
import sys
from collections import defaultdict

root = pathlib.Path(sys.argv[1])
kinds = {
    "CaughtMutant": "caught",
    "MissedMutant": "missed",
    "Timeout": "timeout",
    "Unviable": "unviable",
}
rows = defaultdict(lambda: dict.fromkeys(["total", *kinds.values()], 0))
for path in sorted(root.glob("*/mutants.out/outcomes.json")):
    for outcome in json.loads(path.read_text())["outcomes"]:
        scenario = outcome["scenario"]
        if not isinstance(scenario, dict) or "Mutant" not in scenario:
            continue  # the baseline
        row = rows[scenario["Mutant"]["file"]]
        row["total"] += 1
        kind = kinds.get(outcome["summary"])
        if kind:
            row[kind] += 1
if not rows:
    sys.exit(f"no outcomes under {root}/*/mutants.out/")

head = f"{'file':<42} {'total':>5} {'caught':>6} {'missed':>6} {'timeout':>7} {'unviable':>8} {'caught/viable':>13}"
print(head)
print("-" * len(head))
sums = dict.fromkeys(["total", *kinds.values()], 0)
def line(name, r):
    viable = r["total"] - r["unviable"]
    pct = f"{100 * r['caught'] / viable:.1f} %" if viable else "n/a"
    print(f"{name:<42} {r['total']:>5} {r['caught']:>6} {r['missed']:>6} {r['timeout']:>7} {r['unviable']:>8} {pct:>13}")
for name, r in sorted(rows.items()):
    line(name, r)
    for k in sums:
        sums[k] += r[k]
print("-" * len(head))
line("all", sums)

missed = sorted(
    o["scenario"]["Mutant"]["name"]
    for p in root.glob("*/mutants.out/outcomes.json")
    for o in json.loads(p.read_text())["outcomes"]
    if isinstance(o["scenario"], dict) and o["summary"] in ("MissedMutant", "Timeout")
)
if missed:
    print("\nmissed or timed out:")
    for name in missed:
        print("  " + name)
PY
}

groups=()
table_only=false
for arg in "$@"; do
    case $arg in
        --table) table_only=true ;;
        domain | provisioning | notifier | signature) groups+=("$arg") ;;
        *)
            echo "unknown argument: $arg (groups: domain provisioning notifier signature; --table)" >&2
            exit 64
            ;;
    esac
done
if ! $table_only; then
    if [ ${#groups[@]} -eq 0 ]; then
        groups=(domain provisioning notifier signature)
    fi
    for group in "${groups[@]}"; do
        "group_$group"
    done
fi
print_table
