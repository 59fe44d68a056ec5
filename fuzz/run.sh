#!/usr/bin/env bash
# Runs the property-based fuzzing of tended's parsers (src/fuzz.rs) and of the shell-quoting choke
# point (src/playbook/template_attacks.rs) with many cases, in an optimized build. Each property gets
# CASES cases (default 100000): with the 11 properties, over a million inputs in all.
#   bash fuzz/run.sh [CASES]
# A failure prints the smallest input that breaks the property; `cargo test` runs a few hundred.
set -euo pipefail
cd "$(dirname "$0")/.."
cases=${1:-100000}
start=$(date +%s)
TENDED_FUZZ_CASES=$cases cargo test --release --lib -- fuzz:: template_attacks:: glob:: duration:: --test-threads=2
echo "fuzz: $cases cases per property, no panic and no hang, in $(( $(date +%s) - start )) s"
