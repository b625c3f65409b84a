#!/usr/bin/env bash
# Benchmarks webtrt against its own op-by-op executor and onnxruntime-web, on one machine,
# one process per run: for each model and batch size, `webtrt exec --native`, the FP32
# engine, the FP16 engine and the INT8 engine (webtrt exec --best --calib: INT8 where
# calibrated, FP16 elsewhere, calibrated on the run's own input), and onnxruntime-web's
# WebGPU provider (peers.mjs), all fed the same .npy inputs. Writes <out>/benchmarks.md (the table, redone
# after every run, so a run cut short still leaves the rows it finished), and beside it
# runs.tsv, times/ (each run's --exportTimes) and logs/.
#
# On a GPU machine, from the repository root, with .gpu-kit, lib/cli and lib/bench carried
# (scripts/bench/prepare.sh makes them where the repository's node_modules are):
#   source .gpu-kit/enter.sh && scripts/bench/run.sh --models resnet50 --out "$OUT"
# Without a GPU, on SwiftShader (which onnxruntime-web finds only when told):
#   VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json \
#     scripts/bench/run.sh --models small_cnn --batches 2 --quick
#
# Options:
#   --models a,b      resnet50, mobilenetv2, bert, small_cnn (default resnet50,mobilenetv2,bert)
#   --batches 1,8     batch sizes (default 1,8)
#   --modes a,b       native, fp32, fp16, int8, ort-web (default all five)
#   --quick           5 timed runs and no warm-up, for trying the harness out
#   --out dir         where results go (default $OUT, else bench-results)
#   --timeout s       the most one run may take (default 300)
# Models and inputs are exported to build/bench (git-ignored, kept for the next call); the
# export needs python3 with numpy, and torch, torchvision and transformers for the three
# exported models (PYTHON chooses another interpreter).
set -uo pipefail
cd "$(dirname "$0")/../.."

models=resnet50,mobilenetv2,bert
batches=1,8
modes=native,fp32,fp16,int8,ort-web
iterations=50
warm_up=200
out=${OUT:-bench-results}
run_timeout=300
python=${PYTHON:-python3}
work=build/bench

usage() {
  echo "run.sh: $1 (see the options at the top of scripts/bench/run.sh)" >&2
  exit 2
}
quick=
while [ $# -gt 0 ]; do
  case $1 in
    --quick)
      quick=" --quick"
      iterations=5
      warm_up=0
      shift
      continue
      ;;
    --models | --batches | --modes | --out | --timeout) [ $# -ge 2 ] || usage "$1 needs a value" ;;
    *) usage "unknown option '$1'" ;;
  esac
  case $1 in
    --models) models=$2 ;;
    --batches) batches=$2 ;;
    --modes) modes=$2 ;;
    --out) out=$2 ;;
    --timeout) run_timeout=$2 ;;
  esac
  shift 2
done
for mode in ${modes//,/ }; do
  case $mode in native | fp32 | fp16 | int8 | ort-web) ;; *) usage "unknown mode '$mode'" ;; esac
done
for file in lib/cli/webtrt.cjs lib/bench/harness.mjs lib/bench/table.mjs; do
  [ -f "$file" ] || { echo "run.sh: $file is missing: run scripts/bench/prepare.sh" >&2; exit 1; }
done

mkdir -p "$out/times" "$out/logs" "$work"
: >"$out/runs.tsv"
command_line="scripts/bench/run.sh --models $models --batches $batches --modes $modes$quick"

# The table with what it was measured on; redone after each run.
write_table() {
  local device
  device=$(grep -h -m1 '^device ' "$out"/logs/*.log 2>/dev/null | head -n1 | sed 's/^device *//')
  {
    echo "# webtrt benchmark"
    echo
    echo "- command: \`$command_line\`"
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'), node $(node --version)"
    echo "- device: ${device:-unknown}"
    echo "- each run: first run (build, load or session creation, plus the first execution)," \
      "then $warm_up ms warm-up and $iterations timed end-to-end executions with host I/O"
    echo
    node lib/bench/table.mjs "$out"
  } >"$out/benchmarks.md.partial" && mv "$out/benchmarks.md.partial" "$out/benchmarks.md"
}

# The calibration cache of one run, made on its own input (one batch): the layout of
# `webtrt calibrate --data` is a .npy per batch for one input, a directory per batch for more.
calibration_cache() {
  local name=$1 inputs=$2 data="$work/calibration/$1" cache="$work/$1.calib"
  if [ ! -f "$cache" ]; then
    rm -rf "$data" && mkdir -p "$data/batch_0"
    local files=()
    IFS=, read -ra pairs <<<"$inputs"
    for pair in "${pairs[@]}"; do files+=("$PWD/${pair#*:}"); done
    if [ ${#files[@]} = 1 ]; then
      ln -s "${files[0]}" "$data/batch_0.npy" && rmdir "$data/batch_0"
    else
      ln -s "${files[@]}" "$data/batch_0/"
    fi
    node lib/cli/webtrt.cjs calibrate "$3" --data "$data" -o "$cache" >"$out/logs/$name.calibrate.log" 2>&1 ||
      return 1
  fi
  echo "$cache"
}

# The one line that says why a run failed, fit for a markdown list.
failure_reason() {
  local log=$1 status=$2
  if [ "$status" = 124 ]; then
    echo "timed out after ${run_timeout} s"
    return
  fi
  local line
  line=$(grep -m1 -E '^webtrt: error:|Error:' "$log" || tail -n1 "$log")
  echo "${line:-exit status $status}" | tr '|' '/' | cut -c1-300
}

echo "exporting ${models} (batches ${batches}) into ${work}" >&2
if ! "$python" scripts/bench/export_models.py --out "$work" --models "$models" \
  --batches "$batches" >"$out/models.tsv" 2>"$out/logs/export.log"; then
  echo "run.sh: the export failed; see $out/logs/export.log:" >&2
  tail -n5 "$out/logs/export.log" >&2
  exit 1
fi

while IFS=$'\t' read -r model batch path shapes inputs; do
  for mode in ${modes//,/ }; do
    name="$model.b$batch.$mode"
    case $mode in
      native) run=(node lib/cli/webtrt.cjs exec --onnx "$path" --native) ;;
      fp32) run=(node lib/cli/webtrt.cjs exec --onnx "$path") ;;
      fp16) run=(node lib/cli/webtrt.cjs exec --onnx "$path" --fp16) ;;
      int8)
        if ! calib=$(calibration_cache "$model.b$batch" "$inputs" "$path"); then
          reason=$(failure_reason "$out/logs/$model.b$batch.calibrate.log" 1)
          printf '%s\t%s\t%s\t%s\n' "$model" "$batch" "$mode" "failed: calibration: $reason" >>"$out/runs.tsv"
          write_table
          continue
        fi
        run=(node lib/cli/webtrt.cjs exec --onnx "$path" --best --calib "$calib")
        ;;
      ort-web) run=(node scripts/bench/peers.mjs --model "$path") ;;
    esac
    [ "$mode" = ort-web ] || run+=(--shapes "$shapes")
    echo "$name" >&2
    timeout "$run_timeout" "${run[@]}" --loadInputs "$inputs" --iterations "$iterations" \
      --warmUp "$warm_up" --exportTimes "$out/times/$name.json" >"$out/logs/$name.log" 2>&1
    status=$?
    if [ "$status" = 0 ]; then
      result="times/$name.json"
    else
      result="failed: $(failure_reason "$out/logs/$name.log" "$status")"
    fi
    printf '%s\t%s\t%s\t%s\n' "$model" "$batch" "$mode" "$result" >>"$out/runs.tsv"
    write_table
  done
done <"$out/models.tsv"
cat "$out/benchmarks.md"
