#!/usr/bin/env bash
# Mutation testing as the measure of test strength (issue 16), for the files
# whose tests are end to end: the payment webhook handlers and the user actor.
#
# Each file is mutated in place (no copy of the tree; the warm target/ is
# reused), one mutant at a time, and only the tests that exercise it run
# against each mutant (SQLite variants; the parsing and actor rules under test
# do not depend on the backend). Prints a per-file caught / missed / timeout /
# unviable table at the end.
#
#   scripts/mutants-e2e.sh            # both files
#   scripts/mutants-e2e.sh webhooks   # one of: webhooks, user_actor, passivation
#
# Output: mutants.out-<name>/mutants.out/ (ignored by git).
set -euo pipefail

cd "$(dirname "$0")/.."

run_webhooks() {
    # The baseline would run in the mutated package (subvisor-http), which has
    # no `api` test: skip it; the filtered tests take ~3 s, hence 30 s.
    cargo mutants --in-place --no-shuffle --baseline skip --timeout 30 --build-timeout 900 \
        --workspace -f http/src/webhooks.rs --test-package subvisor \
        -o mutants.out-webhooks \
        -- --test api -- \
        payments:: payment_intake::signed payment_transient::a_callback_the_store webhook_mutants:: \
        --skip postgres || true
}

run_user_actor() {
    # Everything but passivation (the idle-timeout tick, mailbox sizing, the
    # live-actor count): those need the 100 000-actor passivation test (~35 s).
    cargo mutants --in-place --no-shuffle --baseline skip --timeout 30 --build-timeout 900 \
        --workspace -f actors/src/user_actor.rs --test-package subvisor-actors \
        -E 'maybe_passivate|Actor for UserActor>::started|Drop for UserActor' \
        -o mutants.out-user_actor \
        -- --test it -- \
        actors:: intake:: payments_suite:: user_actor_rules:: \
        --skip postgres || true
}

run_passivation() {
    cargo mutants --in-place --no-shuffle --baseline skip --timeout 120 --build-timeout 900 \
        --workspace -f actors/src/user_actor.rs --test-package subvisor-actors \
        -F 'maybe_passivate|Actor for UserActor>::started|Drop for UserActor' \
        -o mutants.out-passivation \
        -- --test it -- \
        actors:: passivation:: \
        --skip postgres || true
}

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(webhooks user_actor)
for t in "${targets[@]}"; do
    start=$(date +%s)
    "run_$t"
    echo "$t: $(( $(date +%s) - start )) s wall" | tee "mutants.out-$t/wall.txt"
done

python3 - "${targets[@]}" <<'PY'
import json, sys
rows = []
for name in sys.argv[1:]:
    with open(f"mutants.out-{name}/mutants.out/outcomes.json") as f:
        data = json.load(f)
    counts = {"CaughtMutant": 0, "MissedMutant": 0, "Timeout": 0, "Unviable": 0}
    missed = []
    for o in data["outcomes"]:
        if o["scenario"] == "Baseline":
            continue
        counts[o["summary"]] = counts.get(o["summary"], 0) + 1
        if o["summary"] in ("MissedMutant", "Timeout"):
            m = o["scenario"]["Mutant"]
            missed.append(f'{o["summary"]}: {m["file"]}:{m["span"]["start"]["line"]}: {m.get("name") or m["replacement"]}')
    total = sum(counts.values())
    caught, miss, to, unv = (counts[k] for k in ("CaughtMutant", "MissedMutant", "Timeout", "Unviable"))
    viable = total - unv
    pct = f"{100 * caught / viable:.1f}" if viable else "-"
    rows.append((name, total, caught, miss, to, unv, pct))
    for m in missed:
        print(f"  [{name}] {m}")
print(f'{"run":<12} {"total":>5} {"caught":>6} {"missed":>6} {"timeout":>7} {"unviable":>8} {"%viable caught":>15}')
for r in rows:
    print(f"{r[0]:<12} {r[1]:>5} {r[2]:>6} {r[3]:>6} {r[4]:>7} {r[5]:>8} {r[6]:>15}")
PY
