#!/usr/bin/env bash
# The trainer's GPU check (issue 27), one script of a few minutes on one GPU:
#  (b) bench.gpu_train: FlexAttention's loss and gradients against SDPA's (the rest falls back to sdpa if
#      they differ or flex fails), then tokens/s, real-token MFU and peak memory of small and base on
#      packed batches shaped like the corpus's examples, (c) with transformers' T5 on the same examples;
#  (a) `torchrun -m train` on a small built corpus with --compile and packing: trains, stops at a
#      checkpoint, resumes to the end, exports, generates on the GPU; its tokens/s against the bench step's;
#  then large, at 64 rows (again with activation checkpointing if that runs out of memory).
# Every part has a time limit inside --budget-s; a part that fails is reported and the others still run.
# Usage: bench/gpu_check.sh [--smoke] [--data CORPUS] [--out DIR] [--budget-s S] [--attention checked|flex|sdpa]
#   --smoke: the same code paths on CPU (tiny model, generated corpus, fp32) in a few minutes.
#   CORPUS: built by `longlm build` (default .gpucorpus); DIR: logs and the run (default a temp dir).
#   --attention: checked (default) = flex if its check passes, else sdpa; flex/sdpa: that one whatever the check.
# Python: $PYTHON, else python3; run from the repository root.
set -u -o pipefail
PY=${PYTHON:-python3}
SMOKE=0
DATA=.gpucorpus
OUTDIR=""
BUDGET=390
ATTENTION=checked
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) SMOKE=1 ;;
    --data) DATA=$2; shift ;;
    --out) OUTDIR=$2; shift ;;
    --budget-s) BUDGET=$2; shift ;;
    --attention) ATTENTION=$2; shift ;;
    *) echo "gpu_check.sh: unknown argument $1 (usage: bench/gpu_check.sh [--smoke] [--data DIR] [--out DIR] [--budget-s S] [--attention A])" >&2
       exit 2 ;;
  esac
  shift
done
OUTDIR=${OUTDIR:-$(mktemp -d)}
mkdir -p "$OUTDIR"
export PYTHONPATH="$(pwd)${PYTHONPATH:+:$PYTHONPATH}"
FAILED=""
started=$(date +%s)
say() { echo "== [$(( $(date +%s) - started ))s] $*"; }
# limit CAP: CAP seconds, or what is left of the budget (minus a margin for the summary)
limit() { local left=$(( BUDGET - ($(date +%s) - started) - 5 )); [ "$left" -lt "$1" ] && echo $(( left > 1 ? left : 1 )) || echo "$1"; }
part() {  # part NAME LOG CAP command...: run with a time limit, log to OUTDIR/LOG, remember a failure
  local name=$1 log=$2 cap; cap=$(limit "$3"); shift 3
  say "$name (limit ${cap}s)"
  timeout "$cap" "$@" 2>&1 | tee "$OUTDIR/$log"
  local rc=${PIPESTATUS[0]}
  [ "$rc" = 0 ] || { FAILED="$FAILED $name(rc=$rc)"; say "$name failed: rc $rc"; }
  return "$rc"
}

if [ $SMOKE = 1 ]; then
  DATA="$OUTDIR/corpus"
  "$PY" -c "from train.synthetic import make_corpus; make_corpus('$DATA', n_train_lines=400, n_val_lines=40, seed=3)" || exit 1
  DEVICE=cpu; STOP=4; ATTN=sdpa
  TRAIN=(--model tiny --steps 8 --save-every 4 --eval-every 4 --eval-batches 2 --log-every 2 --batch-size 4
         --max-input-len 64 --max-target-len 32 --packed-input-len 128 --packed-target-len 96 --threads 1 --num-workers 1)
  SHAPE=(--rows 2 --input-len 128 --target-len 96 --max-input-len 64 --max-target-len 32)
  BENCH=(--device cpu --dtype float32 --presets tiny --steps 2 --vocab 640 --batches 2)  # eager: the trainer compiles
  GEN=(--max-length 16)
else
  DEVICE=cuda; STOP=60; ATTN=flex
  nvidia-smi --query-gpu=name,memory.total,clocks.sm,clocks.max.sm,power.draw --format=csv 2>&1 | tee "$OUTDIR/gpu.txt"
  "$PY" -c "import torch, triton, transformers; print('torch', torch.__version__, '| triton', triton.__version__, '| transformers', transformers.__version__)"
  TRAIN=(--model small --steps 120 --save-every 60 --eval-every 60 --eval-batches 4 --log-every 10 --batch-size 64
         --max-input-len 512 --max-target-len 512 --packed-input-len 1024 --packed-target-len 512 --num-workers 2)
  SHAPE=(--rows 64 --input-len 1024 --target-len 512)
  BENCH=(--device cuda --compile --steps 12 --hf-micro-batch 48)
  GEN=(--max-length 64 --num-samples 2)
  if ! part "flex vs sdpa gradients" flex.log 120 "$PY" -m bench.gpu_train --device cuda --presets "" --check-flex \
      || ! "$PY" - "$OUTDIR/flex.log" <<'EOF'
import re, sys
rows = {m[0]: dict(re.findall(r"([a-z ]+?) ([0-9.]+e[+-][0-9]+)", m[1]))
        for m in re.findall(r"^  (flex fp32|flex bf16|sdpa bf16) +(.*)$", open(sys.argv[1]).read(), re.M)}
rows = {run: {k.strip(): float(v) for k, v in found.items()} for run, found in rows.items()}
keys = ("loss", "worst grad", "enc bias", "dec bias")
ok = len(rows) == 3 and all(k in rows[r] for r in rows for k in keys)
ok = ok and all(rows["flex fp32"][k] < 5e-3 for k in keys)  # fp32: the same function (TF32 would be ~1e-3)
ok = ok and all(rows["flex bf16"][k] <= 2 * rows["sdpa bf16"][k] + 1e-3 for k in keys)  # bf16: no worse than SDPA
print(f"flex check: {'ok' if ok else 'FAILED'} {rows} (fp32 flex within 5e-3 of the fp32 reference; bf16 flex "
      "within 2x bf16 SDPA's error + 1e-3)")
sys.exit(0 if ok else 1)
EOF
  then
    [ "$ATTENTION" = checked ] && { ATTN=sdpa; say "flex check failed: the rest runs with --attention sdpa"; }
  fi
  [ "$ATTENTION" = checked ] || ATTN=$ATTENTION
fi

part "(b, c) MFU table small, base; ours vs transformers" bench.log 200 \
  "$PY" -m bench.gpu_train --data "$DATA" --attention $ATTN --transformers --presets "$([ $SMOKE = 1 ] && echo tiny || echo small,base)" \
  "${SHAPE[@]}" "${BENCH[@]}" --budget-s "$(limit 150)"

RUN="$OUTDIR/run"
TRAINCMD=("$PY" -m torch.distributed.run --standalone --nproc_per_node 1 -m train --data "$DATA" --out "$RUN"
          --device $DEVICE --packing on --compile --attention $ATTN --no-tensorboard --seed 0 "${TRAIN[@]}")
part "(a) torchrun -m train --compile --packing on, to step $STOP" train1.log 150 "${TRAINCMD[@]}" --stop-at $STOP
part "(a) resume to the end, export" train2.log 120 "${TRAINCMD[@]}" --resume
part "(a) generate from the export on $DEVICE" generate.log 60 \
  "$PY" -m train generate --model "$RUN/hf" "小咕噜对，" --device $DEVICE --seed 0 "${GEN[@]}"
"$PY" - "$RUN" "$OUTDIR/bench.log" $STOP <<'EOF' || FAILED="$FAILED trainer-summary"
import json, re, statistics, sys
from pathlib import Path
run = Path(sys.argv[1])
records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
progress = [r for r in records if "tokens_per_s" in r]
info = json.loads((run / "config.json").read_text())
stop = int(sys.argv[3])
first = {min(r["step"] for r in progress if (r["step"] > stop) == resumed) for resumed in (False, True)
         if any((r["step"] > stop) == resumed for r in progress)}
later = [r for r in progress if r["step"] not in first] or progress  # windows without compilation
rate = statistics.median(r["tokens_per_s"] for r in later)
mfu = statistics.median(r.get("mfu", 0.0) for r in later)
print(f"trainer: to step {progress[-1]['step']} | compiled {info['compiled']} | attention {info['attention']} | packing "
      f"{info['packing']} | median tok/s {rate:,.0f} (windows without compilation) | mfu {mfu:.1%} | pad "
      f"{statistics.median(r['padding'] for r in progress):.1%} | val_loss {[round(r['val_loss'], 3) for r in records if 'val_loss' in r]}")
bench = re.search(r"^(small|tiny)\s.*$", Path(sys.argv[2]).read_text(), re.M)
if bench:
    cells = bench.group(0).split()
    step = float(cells[5].replace(",", ""))
    print(f"trainer / bench step ({cells[0]}, {cells[2]}): {rate / step:.2f} ({rate:,.0f} vs {step:,.0f} tok/s)")
assert (run / "hf" / "model.safetensors").is_file(), "no export"
EOF

if [ $SMOKE = 0 ]; then
  part "large at 64 rows" bench_large.log 130 "$PY" -m bench.gpu_train --data "$DATA" --attention $ATTN --presets large \
    "${SHAPE[@]}" "${BENCH[@]}" --steps 8 --budget-s "$(limit 100)"
  if grep -q "out of memory" "$OUTDIR/bench_large.log"; then
    part "large at 64 rows, activation checkpointing" bench_large_ckpt.log 110 "$PY" -m bench.gpu_train --data "$DATA" \
      --attention $ATTN --presets large --activation-checkpointing "${SHAPE[@]}" "${BENCH[@]}" --steps 6 --budget-s "$(limit 80)"
  fi
fi
say "done; failed parts:${FAILED:- none}; logs in $OUTDIR"
grep -h -A4 "^preset" "$OUTDIR"/bench*.log 2>/dev/null
[ -z "$FAILED" ]
