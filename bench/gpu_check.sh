#!/usr/bin/env bash
# The trainer's GPU check (issue 27), one script of a few minutes on one GPU:
#  (a) `torchrun -m train` on a small built corpus with --compile and packing: trains, stops at a
#      checkpoint, resumes to the end, exports, generates on the GPU;
#  (b) bench.gpu_train: FlexAttention's loss and gradients against SDPA's, then tokens/s, real-token MFU and
#      peak memory of small, base and large on packed batches shaped like the corpus's examples,
#  (c) with transformers' T5 on the same examples (ours/hf column), and the trainer's own tokens/s
#      against the bench step's at the same batch.
# Usage: bench/gpu_check.sh [--smoke] [--data CORPUS] [--out DIR]
#   --smoke: the same code paths on CPU (tiny model, generated corpus, fp32) in a few minutes.
#   CORPUS: built by `longlm build` (default .gpucorpus); DIR: where logs and the run go (default a temp dir).
# Python: $PYTHON, else python3; run from the repository root.
set -u -o pipefail
PY=${PYTHON:-python3}
SMOKE=0
DATA=.gpucorpus
OUTDIR=""
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) SMOKE=1 ;;
    --data) DATA=$2; shift ;;
    --out) OUTDIR=$2; shift ;;
    *) echo "gpu_check.sh: unknown argument $1 (usage: bench/gpu_check.sh [--smoke] [--data DIR] [--out DIR])" >&2; exit 2 ;;
  esac
  shift
done
OUTDIR=${OUTDIR:-$(mktemp -d)}
mkdir -p "$OUTDIR"
export PYTHONPATH="$(pwd)${PYTHONPATH:+:$PYTHONPATH}"
FAILED=0
started=$(date +%s)
say() { echo "== [$(( $(date +%s) - started ))s] $*"; }

if [ $SMOKE = 1 ]; then
  DATA="$OUTDIR/corpus"
  "$PY" -c "from train.synthetic import make_corpus; make_corpus('$DATA', n_train_lines=400, n_val_lines=40, seed=3)" || exit 1
  DEVICE=cpu
  STOP=4
  COMPILE_BENCH=()  # the trainer runs compiled; the bench's CPU compile would only add minutes
  TRAIN=(--model tiny --steps 8 --save-every 4 --eval-every 4 --eval-batches 2 --log-every 2
         --batch-size 4 --max-input-len 64 --max-target-len 32 --packed-input-len 128 --packed-target-len 96
         --threads 1 --num-workers 1)
  BENCH=(--device cpu --dtype float32 --presets tiny --steps 2 --rows 2 --input-len 128 --target-len 96
         --max-input-len 64 --max-target-len 32 --vocab 640 --batches 2 --budget-s 60)
  LARGE=()
  GEN=(--max-length 16)
else
  DEVICE=cuda
  STOP=100
  COMPILE_BENCH=(--compile)
  TRAIN=(--model small --steps 200 --save-every 100 --eval-every 100 --eval-batches 5 --log-every 20
         --batch-size 64 --max-input-len 512 --max-target-len 512 --packed-input-len 1024 --packed-target-len 512
         --num-workers 2)
  BENCH=(--device cuda --presets small,base --steps 12 --rows 64 --input-len 1024 --target-len 512 --budget-s 150
         --check-flex)
  LARGE=(--device cuda --presets large --steps 8 --rows 64 --input-len 1024 --target-len 512 --budget-s 90)
  GEN=(--max-length 64 --num-samples 2)
fi
RUN="$OUTDIR/run"
train() {
  timeout 200 "$PY" -m torch.distributed.run --standalone --nproc_per_node 1 -m train --data "$DATA" --out "$RUN" \
    --device $DEVICE --packing on --compile --no-tensorboard --seed 0 "${TRAIN[@]}" "$@"
}

say "(a) torchrun -m train --compile --packing on: to the stop step"
train --stop-at $STOP 2>&1 | tee "$OUTDIR/train1.log" || FAILED=1
say "(a) resume to the end, export"
train --resume 2>&1 | tee "$OUTDIR/train2.log" || FAILED=1
say "(a) generate from the export on $DEVICE"
timeout 120 "$PY" -m train generate --model "$RUN/hf" "小咕噜对，" --device $DEVICE --seed 0 "${GEN[@]}" 2>&1 \
  | tee "$OUTDIR/generate.log" || FAILED=1
"$PY" - "$RUN" <<'EOF' || FAILED=1
import json, statistics, sys
from pathlib import Path
run = Path(sys.argv[1])
records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
progress = [r for r in records if "tokens_per_s" in r]
info = json.loads((run / "config.json").read_text())
later = [r["tokens_per_s"] for r in progress[1:]] or [r["tokens_per_s"] for r in progress]
print(f"trainer: steps {[r['step'] for r in progress][-1]} | compiled {info['compiled']} | attention {info['attention']}"
      f" | packing {info['packing']} | median tok/s {statistics.median(later):,.0f} (after the first window) | pad "
      f"{statistics.median(r['padding'] for r in progress):.1%} | mfu {statistics.median(r.get('mfu', 0) for r in progress[1:] or progress):.1%}"
      f" | val_loss {[round(r['val_loss'], 3) for r in records if 'val_loss' in r]}")
assert (run / "hf" / "model.safetensors").is_file(), "no export"
EOF

say "(b, c) bench.gpu_train: flex vs sdpa, MFU table, ours vs transformers"
timeout 240 "$PY" -m bench.gpu_train --data "$DATA" "${COMPILE_BENCH[@]}" --attention $([ $SMOKE = 1 ] && echo sdpa || echo flex) \
  --transformers "${BENCH[@]}" 2>&1 | tee "$OUTDIR/bench.log" || FAILED=1
if [ ${#LARGE[@]} -gt 0 ]; then
  timeout 150 "$PY" -m bench.gpu_train --data "$DATA" --compile --attention flex --transformers "${LARGE[@]}" 2>&1 \
    | tee "$OUTDIR/bench_large.log" || FAILED=1
  if grep -q "out of memory" "$OUTDIR/bench_large.log"; then
    say "large ran out of memory at 64 rows: again with activation checkpointing"
    timeout 120 "$PY" -m bench.gpu_train --data "$DATA" --compile --attention flex --activation-checkpointing \
      "${LARGE[@]}" 2>&1 | tee "$OUTDIR/bench_large_ckpt.log" || FAILED=1
  fi
fi
say "done (failed parts: $FAILED); logs in $OUTDIR"
exit $FAILED
