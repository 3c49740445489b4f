#!/usr/bin/env bash
# Quality bar of the mrpc task (issue 2): the task's default hyperparameters, the embedded model,
# the real GLUE MRPC files. Prints the run's summary and its dev metrics. About 5 min on 2 cores.
#   usage: scripts/quality_mrpc.sh [GLUE_MRPC_DIR] [extra taskrun options...]
set -euo pipefail
data=${1:-"$(dirname "$0")/../../shared/data/glue/MRPC"}
shift || true
out=$(mktemp -d)/mrpc
start=$(date +%s)
taskrun run mrpc --model embedded --data-dir "$data" "$@" --output-dir "$out"
echo "wall time: $(( $(date +%s) - start )) s"
python - "$out/metrics.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))["eval"]
print(f"dev accuracy {m['accuracy']:.4f}  dev F1 {m['f1']:.4f}  (bar: accuracy >= 0.80, F1 >= 0.86)")
PY
