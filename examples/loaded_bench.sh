#!/usr/bin/env bash
# BB-IS(50) encode/decode speed under N busy loops, once per environment setting.
# usage: examples/loaded_bench.sh LOADERS ENV...   e.g.  examples/loaded_bench.sh 2 X=1 GOMP_SPINCOUNT=300000
# PAPER (the paper's checkpoints) and DATA (EMNIST) default to ../shared beside the repository;
# NUM (images, default 2000) and RUN_ARGS (more `bitsback run` options, e.g. "--chain_threads 1").
set -euo pipefail
PAPER=${PAPER:-../shared/checkpoints/mcbits-paper}
DATA=${DATA:-../shared/data/emnist}
loaders=$1; shift
pids=()
for _ in $(seq 1 "$loaders"); do python -c "while True: pass" & pids+=($!); done
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
sleep 2
for setting in "$@"; do
  # shellcheck disable=SC2086  # RUN_ARGS is a list of options
  out=$(env "$setting" bitsback run --coder ISBitsBackCoder --num_particles 50 --num_compress "${NUM:-2000}" \
    --train_config "$PAPER/train_bin_emnist_split=mnist_num=50/train_config.yml" --datadir "$DATA" \
    --json true ${RUN_ARGS:-} 2>/dev/null)
  python - "$setting" "$loaders" "$out" <<'PY'
import json, os, sys
setting, loaders, text = sys.argv[1:4]
d = json.loads(text[text.index("{") : text.rindex("}") + 1])
n = d["num_compress"]
print(f"loaders={loaders} {setting:26s} chain groups {d['chain_groups']}: encode "
      f"{n / d['encode_s']:.0f} img/s, decode {n / d['decode_s']:.0f} img/s, "
      f"load {os.getloadavg()[0]:.2f}")
PY
done
