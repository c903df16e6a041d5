#!/usr/bin/env bash
# obs-faceswap installer for Linux and macOS. Run from anywhere:   installer/install.sh [options]
# Safe to run again: it only does what is not done yet.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
BASE_PYTHON="${PYTHON:-}"
ONNX_BUILD="auto"        # auto | gpu | cpu
EXTRAS=""
REGISTER=1
DRY_RUN=0
OBS_CONFIG=""
SCRIPT=""
CONFIG=""
RUN_DOCTOR=1
NO_INSTALL=0

usage() {
  cat <<EOF
Usage: installer/install.sh [options]

Creates the worker's virtual environment, installs obs-faceswap with the right onnxruntime
build, writes the user config, and adds the OBS script to your current OBS scene collection
(only while OBS is closed, after a backup). Running it again changes nothing that is already done.

Options:
  --venv DIR          virtual environment of the worker (default: <repo>/.venv)
  --python PY         Python 3.11+ used to create it (default: \$PYTHON, python3.12, python3.11, python3)
  --gpu | --cpu       force onnxruntime-gpu (CUDA) or the CPU build (default: GPU when nvidia-smi
                      reports a driver)
  --extras LIST       more extras to install, comma-separated (e.g. camera,test)
  --no-obs            do not touch OBS (print the Tools -> Scripts steps instead)
  --obs-config DIR    OBS config folder (default: the standard one for this OS)
  --script PATH       the OBS script to register (default: found in the checkout)
  --config FILE       obs-faceswap config file to write (default: \$OBS_FACESWAP_CONFIG or the OS default)
  --no-install        use the virtual environment as it is (offline; obs-faceswap must be importable there)
  --no-doctor         do not run 'obs-faceswap doctor' at the end
  --dry-run           print the plan, change nothing
  -h, --help          this help
EOF
}

die() { echo "install.sh: error: $*" >&2; exit 2; }

while [ $# -gt 0 ]; do
  case "$1" in
    --venv) [ $# -ge 2 ] || die "--venv needs a folder"; VENV="$2"; shift 2 ;;
    --venv=*) VENV="${1#*=}"; shift ;;
    --python) [ $# -ge 2 ] || die "--python needs an interpreter"; BASE_PYTHON="$2"; shift 2 ;;
    --gpu) ONNX_BUILD="gpu"; shift ;;
    --cpu) ONNX_BUILD="cpu"; shift ;;
    --extras) [ $# -ge 2 ] || die "--extras needs a list"; EXTRAS="$2"; shift 2 ;;
    --no-obs) REGISTER=0; shift ;;
    --obs-config) [ $# -ge 2 ] || die "--obs-config needs a folder"; OBS_CONFIG="$2"; shift 2 ;;
    --script) [ $# -ge 2 ] || die "--script needs a path"; SCRIPT="$2"; shift 2 ;;
    --config) [ $# -ge 2 ] || die "--config needs a path"; CONFIG="$2"; shift 2 ;;
    --no-doctor) RUN_DOCTOR=0; shift ;;
    --no-install) NO_INSTALL=1; shift ;;
    --dry-run) DRY_RUN=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown option: $1" ;;
  esac
done

case "$VENV" in /*) ;; *) VENV="$(pwd)/$VENV" ;; esac
VPY="$VENV/bin/python"
[ -n "$CONFIG" ] && export OBS_FACESWAP_CONFIG="$CONFIG"

step() { printf '\n==> %s\n' "$*"; }
run() {
  # print a command; run it unless --dry-run
  printf '    $'; printf ' %q' "$@"; printf '\n'
  if [ "$DRY_RUN" -eq 0 ]; then "$@"; fi
}

# --- 1. a Python 3.11+ to build the venv with -------------------------------------------------
if [ -z "$BASE_PYTHON" ]; then
  for cand in python3.12 python3.11 python3.13 python3; do
    # pyenv shims exist for versions that are not selected: really run each candidate
    if "$cand" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' >/dev/null 2>&1; then
      BASE_PYTHON="$cand"; break
    fi
  done
fi
[ -n "$BASE_PYTHON" ] || die "no Python 3.11+ found; install Python 3.11+ (Debian/Ubuntu: sudo apt install python3 python3-venv)"
command -v "$BASE_PYTHON" >/dev/null 2>&1 || [ -x "$BASE_PYTHON" ] || die "python not found: $BASE_PYTHON"
PYVER="$("$BASE_PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" \
  || die "cannot run $BASE_PYTHON (pass --python PATH to a Python 3.11+)"
"$BASE_PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
  || die "$BASE_PYTHON is Python $PYVER; obs-faceswap needs 3.11 or newer (pass --python)"

# --- 2. which onnxruntime build ---------------------------------------------------------------
GPU_DRIVER=""
if command -v nvidia-smi >/dev/null 2>&1; then
  GPU_DRIVER="$(nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>/dev/null | head -n1 || true)"
fi
if [ "$ONNX_BUILD" = "auto" ]; then
  if [ -n "$GPU_DRIVER" ] && [ "$(uname -s)" = "Linux" ]; then ONNX_BUILD="gpu"; else ONNX_BUILD="cpu"; fi
fi
EXTRA_LIST="$EXTRAS"
if [ "$ONNX_BUILD" = "gpu" ]; then EXTRA_LIST="gpu${EXTRA_LIST:+,$EXTRA_LIST}"; fi
SPEC="$ROOT"
[ -n "$EXTRA_LIST" ] && SPEC="$ROOT[$EXTRA_LIST]"
MODELS_DIR="${OBS_FACESWAP_MODELS:-$ROOT/models/downloads}"

echo "obs-faceswap installer"
echo "  project:      $ROOT"
echo "  venv:         $VENV"
echo "  base python:  $BASE_PYTHON ($PYVER)"
echo "  onnxruntime:  $ONNX_BUILD${GPU_DRIVER:+ (NVIDIA driver $GPU_DRIVER)}"
echo "  models:       $MODELS_DIR"
[ "$DRY_RUN" -eq 1 ] && echo "  dry run: nothing will be changed"

# --- 3. the virtual environment ---------------------------------------------------------------
step "virtual environment"
if [ -x "$VPY" ]; then
  echo "    exists: $VENV"
else
  "$BASE_PYTHON" -c 'import venv, ensurepip' 2>/dev/null \
    || die "$BASE_PYTHON cannot create virtual environments (Debian/Ubuntu: sudo apt install python3-venv)"
  run "$BASE_PYTHON" -m venv "$VENV"
fi

# --- 4. the package ---------------------------------------------------------------------------
step "install obs-faceswap ($SPEC)"
STAMP="$VENV/.obs-faceswap-install"
want_stamp() {
  local sum
  if command -v sha256sum >/dev/null 2>&1; then sum="$(sha256sum "$ROOT/pyproject.toml" | cut -d' ' -f1)"
  else sum="$(shasum -a 256 "$ROOT/pyproject.toml" | cut -d' ' -f1)"; fi
  echo "$sum $ONNX_BUILD $EXTRA_LIST $ROOT"
}
WANT="$(want_stamp)"
satisfied() {
  [ -x "$VPY" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ] \
    && "$VPY" -c 'import obs_faceswap, onnxruntime, cv2, numpy' >/dev/null 2>&1
}
if [ "$NO_INSTALL" -eq 1 ]; then
  [ -x "$VPY" ] || [ "$DRY_RUN" -eq 1 ] || die "--no-install: no virtual environment at $VENV"
  if [ "$DRY_RUN" -eq 0 ] && ! "$VPY" -c 'import obs_faceswap, onnxruntime' >/dev/null 2>&1; then
    die "--no-install: obs-faceswap is not importable in $VENV (run without --no-install)"
  fi
  echo "    skipped (--no-install)"
elif satisfied; then
  echo "    already installed (pyproject.toml and options unchanged)"
else
  run "$VPY" -m pip install --upgrade pip
  run "$VPY" -m pip install -e "$SPEC"
  if [ "$ONNX_BUILD" = "gpu" ]; then
    # onnxruntime and onnxruntime-gpu install the same 'onnxruntime' module: keep only the GPU one
    run "$VPY" -m pip uninstall -y onnxruntime
    run "$VPY" -m pip install --force-reinstall --no-deps "onnxruntime-gpu>=1.17"
  fi
  if [ "$DRY_RUN" -eq 0 ]; then echo "$WANT" > "$STAMP"; fi
fi
if [ "$DRY_RUN" -eq 0 ]; then
  echo "    onnxruntime providers: $("$VPY" -c 'import onnxruntime as o; print(", ".join(o.get_available_providers()))')"
fi

# --- 5. the user config -----------------------------------------------------------------------
step "user config"
VERSION="$(sed -n 's/^version *= *"\(.*\)"/\1/p' "$ROOT/pyproject.toml" | head -n1)"
CFG_PY="$VPY"
[ -x "$CFG_PY" ] || CFG_PY="$BASE_PYTHON"   # dry run before the venv exists
(cd "$ROOT" && run "$CFG_PY" -m obs_faceswap.config --write "python=$VPY" "project_root=$ROOT" \
  "models_dir=$MODELS_DIR" "version=$VERSION")

# --- 6. OBS -----------------------------------------------------------------------------------
step "OBS Studio"
REG_ARGS=(--root "$ROOT")
[ -n "$SCRIPT" ] && REG_ARGS+=(--script "$SCRIPT")
[ -n "$OBS_CONFIG" ] && REG_ARGS+=(--obs-config "$OBS_CONFIG")
[ "$DRY_RUN" -eq 1 ] && REG_ARGS+=(--dry-run)
if [ "$REGISTER" -eq 1 ]; then
  set +e
  (cd "$ROOT" && "$CFG_PY" -m obs_faceswap.install.obs_register "${REG_ARGS[@]}")
  rc=$?
  set -e
  [ $rc -eq 0 ] || echo "    (OBS not changed; follow the steps above)"
else
  (cd "$ROOT" && "$CFG_PY" -c 'import sys; from pathlib import Path; from obs_faceswap.install import obs_register as r
s = Path(sys.argv[1]) if sys.argv[1] else r.find_obs_script(Path(sys.argv[2]))
print(r.manual_steps(s, sys.argv[3]))' "$SCRIPT" "$ROOT" "$VPY")
fi

# --- 7. check -------------------------------------------------------------------------------
if [ "$RUN_DOCTOR" -eq 1 ]; then
  step "check (obs-faceswap doctor)"
  if [ "$DRY_RUN" -eq 0 ]; then
    "$VPY" -m obs_faceswap doctor || echo "    doctor found problems: see the fixes above"
  else
    printf '    $ %q -m obs_faceswap doctor\n' "$VPY"
  fi
fi

echo
echo "Done. Next:"
echo "  in OBS: right-click your camera -> Filters -> + -> Face Swap, and pick your face photo"
echo "  a photo, no OBS:  $VENV/bin/obs-faceswap swap-image --source your_face.jpg --target photo.jpg --output swapped.jpg"
if ls /dev/video* >/dev/null 2>&1; then
  echo "  your webcam:      $VENV/bin/obs-faceswap live --source your_face.jpg"
fi
