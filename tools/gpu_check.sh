#!/usr/bin/env bash
# The GPU measurement of the neural path in one command (issue #18).
#
#   tools/gpu_check.sh --prepare     on a machine with the 'train' extra (torch): writes the
#                                    architecture-exact models' skeletons (~0.7 MB) into .gpu_check/
#   OUT=DIR tools/gpu_check.sh       on a machine with an NVIDIA GPU, from the repository root:
#                                    uses the machine's onnxruntime-gpu if its Python has one (a venv with
#                                    system site-packages: works without network), else installs the GPU
#                                    extra into .gpu_check/venv (installer/install.sh --gpu, needs PyPI),
#                                    makes the models (torch if there, else from the skeletons), runs the
#                                    CUDA/TensorRT provider tests and 'bench neural' on cuda, cuda --fp16 and
#                                    tensorrt, and writes everything under $OUT (default ./gpu_check_out):
#                                    summary.txt, bench_neural_*.json, pytest.txt, nvidia-smi.txt, gpu_check.log
#
# Budget: under 8 minutes on a fresh 16-core machine whose pip reaches PyPI (the GPU wheels are a few GB).
# Every step is timed in the log; a step that cannot run says why in summary.txt and the script exits 1.
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
WORK="$ROOT/.gpu_check"
BUDGET_S=470   # stop starting new benches after this (the whole check must end within 8 minutes)

if [ "${1:-}" = "--prepare" ]; then
  PY="${PYTHON:-$ROOT/.venv/bin/python}"
  "$PY" -c 'import torch' 2>/dev/null || { echo "gpu_check --prepare: needs torch (pip install -e '.[train]') in $PY" >&2; exit 2; }
  PYTHONPATH="$ROOT" "$PY" -m obs_faceswap.bench.exact_models --skeletons "$WORK/skeletons" || exit 2
  echo "gpu_check: skeletons in $WORK/skeletons; carry the folder .gpu_check/skeletons to the GPU machine"
  exit 0
fi
case "${1:-}" in -h|--help) sed -n 2,16p "$0"; exit 0 ;; "") ;; *) echo "gpu_check: unknown option $1 (see --help)" >&2; exit 2 ;; esac

OUT="${OUT:-$ROOT/gpu_check_out}"
mkdir -p "$OUT" "$WORK"
exec > >(tee -a "$OUT/gpu_check.log") 2>&1
START=$SECONDS
SUMMARY="$OUT/summary.txt"
: > "$SUMMARY"
step() { echo "== [$((SECONDS - START)) s] $*"; }
note() { echo "$*"; echo "$*" >> "$SUMMARY"; }
fail() { note "FAILED: $*"; note "total: $((SECONDS - START)) s"; exit 1; }
left() { echo $((BUDGET_S - (SECONDS - START))); }

step "GPU"
command -v nvidia-smi >/dev/null 2>&1 || fail "no nvidia-smi: this machine has no NVIDIA driver"
nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1 || fail "nvidia-smi failed (see nvidia-smi.txt)"
note "gpu: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | head -n1)"

step "Python 3.11+"
PY=""
for c in "${PYTHON:-}" python3.12 python3.11 python3.13 python3; do
  [ -n "$c" ] && command -v "$c" >/dev/null 2>&1 \
    && "$c" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && { PY="$(command -v "$c")"; break; }
done
[ -n "$PY" ] || fail "no Python 3.11+ on this machine"
note "python: $("$PY" --version 2>&1)"

VENV="$WORK/venv"
VPY="$VENV/bin/python"
if "$PY" -c 'import onnxruntime as o, sys; sys.exit("CUDAExecutionProvider" not in o.get_available_providers())' \
     2>/dev/null; then
  # the machine's Python already has onnxruntime-gpu (a GPU image, maybe without network): use it
  step "Python packages: the machine's onnxruntime-gpu (venv with system site-packages)"
  [ -x "$VPY" ] || "$PY" -m venv --system-site-packages "$VENV" > "$OUT/install.txt" 2>&1 \
    || fail "$PY cannot create a virtual environment (see install.txt)"
  export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"  # the checkout itself: nothing to build or download
  mapfile -t MISSING < <("$VPY" - <<'PY'
import importlib.util as u
need = {"numpy": "numpy", "cv2": "opencv-python<5", "onnx": "onnx", "scipy": "scipy", "tqdm": "tqdm",
        "pytest": "pytest", "onnxconverter_common": "onnxconverter-common", "pynvml": "nvidia-ml-py"}
print("\n".join(dist for mod, dist in need.items() if u.find_spec(mod) is None))
PY
)
  if [ -n "${MISSING[*]}" ]; then
    "$VPY" -m pip install -q "${MISSING[@]}" >> "$OUT/install.txt" 2>&1 \
      || { tail -n 20 "$OUT/install.txt"; fail "missing Python packages (${MISSING[*]}) and pip cannot install them (no package index reachable?)"; }
  fi
  ORT_V="$("$VPY" -c 'import onnxruntime as o; print(o.__version__)')"
else
  step "install the GPU extra (installer/install.sh --gpu; needs PyPI)"
  PYTHON="$PY" installer/install.sh --gpu --no-obs --no-doctor --venv "$VENV" \
    --config "$WORK/config.toml" > "$OUT/install.txt" 2>&1 \
    || { tail -n 20 "$OUT/install.txt"; fail "installer/install.sh --gpu failed (pip could not install a package: no package index reachable? see install.txt)"; }
  ORT_V="$("$VPY" -c 'import importlib.metadata as m; print(m.version("onnxruntime-gpu"))' 2>/dev/null)" \
    || fail "onnxruntime-gpu is not installed in $VENV (see install.txt)"
  # CUDA 12 / cuDNN 9 runtime wheels (onnxruntime.preload_dlls loads them) and TensorRT 10 (ONNX Runtime's
  # TensorRT provider is built against 10.x), plus pytest
  "$VPY" -m pip install -q "onnxruntime-gpu[cuda,cudnn]==$ORT_V" "tensorrt-cu12-libs>=10,<11" "pytest>=8" \
    >> "$OUT/install.txt" 2>&1 \
    || { tail -n 20 "$OUT/install.txt"; fail "pip could not install the CUDA/cuDNN/TensorRT runtime wheels (see install.txt)"; }
fi
TRT_LIBS="$("$VPY" -c 'import os, tensorrt_libs; print(os.path.dirname(tensorrt_libs.__file__))' 2>/dev/null || true)"
[ -n "$TRT_LIBS" ] && export LD_LIBRARY_PATH="$TRT_LIBS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
PROVIDERS="$("$VPY" -c 'import onnxruntime as o; print(",".join(o.get_available_providers()))')"
note "onnxruntime-gpu $ORT_V, providers: $PROVIDERS"
case "$PROVIDERS" in *CUDAExecutionProvider*) ;; *) fail "onnxruntime-gpu offers no CUDA provider" ;; esac

step "architecture-exact models (random weights) and their fp16 variants"
export OBS_FACESWAP_EXACT_MODELS="$WORK/models" OBS_FACESWAP_TRT_CACHE="$WORK/tensorrt" OBS_FACESWAP_GPU_CHECK=1
FP16="--fp16"
"$VPY" -c 'import onnxconverter_common' 2>/dev/null || { FP16=""; note "no onnxconverter-common: no fp16 variants, no fp16 bench"; }
if "$VPY" -c 'import torch' 2>/dev/null; then
  "$VPY" -m obs_faceswap.bench.exact_models $FP16 || fail "building the exact models failed"
elif [ -f "$WORK/skeletons/builder" ]; then
  "$VPY" -m obs_faceswap.bench.exact_models --from-skeletons "$WORK/skeletons" $FP16 \
    || fail "making the models from .gpu_check/skeletons failed (written by another checkout? run --prepare again)"
else
  fail "no torch here and no .gpu_check/skeletons: run 'tools/gpu_check.sh --prepare' where torch is installed and carry .gpu_check/skeletons"
fi

step "CUDA/TensorRT provider tests"
if timeout 240 "$VPY" -m pytest -q -rs -p no:cacheprovider tests/models/test_gpu_providers.py tests/models/test_device.py \
     tests/models/test_session.py > "$OUT/pytest.txt" 2>&1; then
  note "tests: $(tail -n 1 "$OUT/pytest.txt")"
else
  note "tests FAILED: $(tail -n 1 "$OUT/pytest.txt") (see pytest.txt)"
  TESTS_FAILED=1
fi

bench() {  # NAME TIMEOUT ARGS...
  local name="$1" limit="$2"; shift 2
  [ "$limit" -gt 30 ] || { note "bench $name: skipped (time budget spent)"; return; }
  step "bench neural $* (at most ${limit} s)"
  if timeout "$limit" "$VPY" -m obs_faceswap bench neural --json "$@" > "$OUT/bench_neural_$name.json" \
       2> "$OUT/bench_neural_$name.err"; then
    "$VPY" - "$OUT/bench_neural_$name.json" <<'PY' | tee -a "$SUMMARY"
import json, sys
r = json.load(open(sys.argv[1]))
keys = ("swap_ms", "enhance_ms", "parse_ms", "swap3_batched_ms", "swap3_sequential_plain_ms",
        "frame_1080p_1face_fps", "frame_1080p_1face_without_enhance_ms", "frame_1080p_3face_fps")
print(f"bench {r['provider_asked']}{' fp16' if r['fp16'] else ''}: providers {sorted(set(r['providers'].values()))}; "
      + ", ".join(f"{k} {r.get(k)}" for k in keys) + f"; gpu memory {r.get('gpu_memory')}")
PY
  else
    note "bench $name FAILED or timed out (see bench_neural_$name.err): $(tail -n 1 "$OUT/bench_neural_$name.err")"
  fi
}
bench cuda "$(( $(left) > 150 ? 150 : $(left) ))" --provider cuda
[ -z "$FP16" ] || bench cuda_fp16 "$(( $(left) > 120 ? 120 : $(left) ))" --provider cuda --fp16
bench tensorrt "$(left)" --provider tensorrt --repeat 10 --frame-repeat 5

note "total: $((SECONDS - START)) s"
[ -z "${TESTS_FAILED:-}" ] || exit 1
