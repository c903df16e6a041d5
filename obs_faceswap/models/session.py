"""The one place ONNX Runtime sessions are made, and the session cache.

Every model (detector, embedder, swapper, enhancer, parser, voice) goes through
``create_session`` so provider choice, threading and error messages are the same everywhere.
Sessions are cached by (file, size and modification time, providers, options): every stage, every
pipeline and every worker channel that asks for the same file on the same provider gets the same
session, for as long as one of them holds it (the cache keeps no session alive by itself).
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from obs_faceswap.errors import ModelError, ModelSignatureError

# user-facing names -> ONNX Runtime provider names, in order of preference for "auto"
PROVIDER_NAMES: dict[str, str] = {
    "tensorrt": "TensorrtExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "directml": "DmlExecutionProvider",
    "coreml": "CoreMLExecutionProvider",
    "cpu": "CPUExecutionProvider",
}
AUTO_ORDER: tuple[str, ...] = ("cuda", "directml", "coreml", "cpu")  # TensorRT only when asked (slow first build)


@dataclass(frozen=True)
class TensorSpec:
    """One input or output of a model: name, dtype ('float32', 'float64', 'int64'...), shape.

    A shape entry of ``None`` or a string matches any size (dynamic axis).
    """

    name: str
    dtype: str
    shape: tuple[int | str | None, ...]

    def describe(self) -> str:
        dims = ",".join("?" if d is None or isinstance(d, str) else str(d) for d in self.shape)
        return f"{self.name} {self.dtype}[{dims}]"


_ORT_TYPES = {
    "tensor(float)": "float32",
    "tensor(float16)": "float16",
    "tensor(double)": "float64",
    "tensor(int64)": "int64",
    "tensor(int32)": "int32",
    "tensor(uint8)": "uint8",
    "tensor(bool)": "bool",
}


def available_providers() -> list[str]:
    import onnxruntime as ort

    return list(ort.get_available_providers())


def resolve_providers(preference: str | Sequence[str] = "auto") -> list[str]:
    """Turn 'auto', 'cuda', 'cpu' ... (or a list of them) into ORT provider names that exist here.

    CPU is always appended as the last fallback.
    """
    avail = set(available_providers())
    if isinstance(preference, str):
        wanted = list(AUTO_ORDER) if preference in ("", "auto") else [preference]
    else:
        wanted = list(preference)
    out: list[str] = []
    for w in wanted:
        name = PROVIDER_NAMES.get(w.lower(), w)
        if name in avail and name not in out:
            out.append(name)
    if "CPUExecutionProvider" not in out:
        out.append("CPUExecutionProvider")
    return out


def provider_options(providers: Sequence[str], cache_dir: str | os.PathLike[str] | None = None) -> list[dict[str, str]]:
    """ORT options for each provider name: TensorRT caches its engines (the first build takes
    minutes; later starts load the cache) and runs fp16; CUDA picks convolution algorithms by
    heuristic instead of an exhaustive first-run search. Others get no options.
    """
    out: list[dict[str, str]] = []
    for name in providers:
        if name == "TensorrtExecutionProvider":
            folder = Path(cache_dir) if cache_dir else Path(
                os.environ.get("OBS_FACESWAP_TRT_CACHE", "") or Path.home() / ".cache" / "obs-faceswap" / "tensorrt")
            out.append({"trt_engine_cache_enable": "True", "trt_engine_cache_path": str(folder),
                        "trt_fp16_enable": "True"})
        elif name == "CUDAExecutionProvider":
            out.append({"cudnn_conv_algo_search": "HEURISTIC"})
        else:
            out.append({})
    return out


@dataclass(eq=False)
class Session:
    """An ONNX Runtime session plus what a user (and the stats) should know about it."""

    path: Path
    inner: Any  # onnxruntime.InferenceSession
    providers: list[str]  # providers actually in use, from session.get_providers()
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]

    @property
    def input_names(self) -> list[str]:
        return [t.name for t in self.inputs]

    @property
    def output_names(self) -> list[str]:
        return [t.name for t in self.outputs]

    def run(self, feeds: dict[str, Any], outputs: Sequence[str] | None = None) -> list[Any]:
        return self.inner.run(list(outputs) if outputs else None, feeds)


def _specs(args: Sequence[Any]) -> list[TensorSpec]:
    return [TensorSpec(a.name, _ORT_TYPES.get(a.type, a.type), tuple(a.shape)) for a in args]


def invalid_model_error(path: str | os.PathLike[str], exc: BaseException, *, user_file: bool = False) -> ModelError:
    """The one message for a model file that cannot be parsed (corrupt, truncated, not ONNX at all).

    ``user_file``: the user named this file (``--swapper-model FILE``): advise checking or
    re-exporting it, not downloading it again (that is for the manifest's models).
    """
    p = Path(path)
    text = str(exc).strip()
    first = text.splitlines()[0][:200] if text else type(exc).__name__
    advice = ("Check that it is the right file and completely copied, or export it to ONNX again." if user_file
              else "Delete it and download it again ('obs-faceswap models download').")
    return ModelError(f"cannot load model {p}: it is corrupt or not an ONNX model ({first}). {advice}")


def create_session(
    path: str | os.PathLike[str],
    provider: str | Sequence[str] = "auto",
    *,
    threads: int = 0,
    expect_inputs: Sequence[TensorSpec] | None = None,
    expect_outputs: Sequence[TensorSpec] | None = None,
    family: str = "",
    user_file: bool = False,
    options: Mapping[str, Mapping[str, str]] | None = None,
) -> Session:
    """Load an ONNX model with the preferred providers and check its signature.

    ``threads`` = 0: this process's default (``set_default_threads``), else ORT chooses. Raises ``ModelError`` for a missing or corrupt file and
    ``ModelSignatureError`` (naming the expected inputs/outputs) for a wrong signature.
    ``user_file`` marks a file the user named (the corrupt-file advice differs, see ``invalid_model_error``).
    ``options``: extra provider options by ORT provider name, over the defaults (``models.device.device_options``).
    """
    p = Path(path)
    if not p.is_file():
        raise ModelError(f"model file not found: {p}. Download it with 'obs-faceswap models download', "
                         "or pass the path of an existing .onnx file.")
    providers = resolve_providers(provider)
    threads = threads or _default_threads
    st = p.stat()
    extra = tuple(sorted((n, tuple(sorted(o.items()))) for n, o in (options or {}).items() if o))
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns, tuple(providers), threads, extra)
    sess = _cached_or_built(key, lambda: _new_session(p, providers, threads, user_file, options))
    if expect_inputs is not None or expect_outputs is not None:
        check_signature(sess, expect_inputs or [], expect_outputs or [], family=family)
    return sess


_default_threads = 0


def set_default_threads(threads: int) -> None:
    """Intra-op threads of the sessions this process creates without asking for a number (0: ORT's
    choice, one per core). A process that shares the cores with others of its kind (swap-video
    --jobs N, a Ray worker) sets its share, so N processes do not run N x cores threads."""
    global _default_threads
    _default_threads = max(0, int(threads))


_CACHE: weakref.WeakValueDictionary[tuple[Any, ...], Session] = weakref.WeakValueDictionary()
_CACHE_LOCK = threading.Lock()  # guards the dictionaries only, never held while a session is built
_BUILDING: dict[tuple[Any, ...], threading.Lock] = {}  # one lock per key being built


def _cached_or_built(key: tuple[Any, ...], build: Callable[[], Session]) -> Session:
    """The cached session for ``key``, or one built now. Two channels asking for the same model
    build it once; a channel asking for another (or a cached) model never waits for a build."""
    with _CACHE_LOCK:
        sess = _CACHE.get(key)
        if sess is not None:
            return sess
        building = _BUILDING.setdefault(key, threading.Lock())
    with building:
        with _CACHE_LOCK:
            sess = _CACHE.get(key)
        if sess is None:
            try:
                sess = build()
                with _CACHE_LOCK:
                    _CACHE[key] = sess
            finally:
                with _CACHE_LOCK:
                    if _BUILDING.get(key) is building:
                        del _BUILDING[key]
    return sess
_created = 0


def sessions_created() -> int:
    """How many ONNX Runtime sessions this process has created (cache hits are not counted)."""
    return _created


def _new_session(p: Path, providers: list[str], threads: int, user_file: bool,
                 options: Mapping[str, Mapping[str, str]] | None = None) -> Session:
    global _created
    import onnxruntime as ort

    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    try:
        if "TensorrtExecutionProvider" in providers:
            Path(provider_options(["TensorrtExecutionProvider"])[0]["trt_engine_cache_path"]).mkdir(
                parents=True, exist_ok=True)
        per_provider = [{**o, **(options or {}).get(n, {})} for n, o in zip(providers, provider_options(providers),
                                                                             strict=True)]
        inner = ort.InferenceSession(str(p), sess_options=opts, providers=providers, provider_options=per_provider)
    except Exception as exc:  # ORT raises several exception types for corrupt files
        raise invalid_model_error(p, exc, user_file=user_file) from None
    _created += 1
    return Session(p, inner, list(inner.get_providers()), _specs(inner.get_inputs()), _specs(inner.get_outputs()))


def _shape_ok(actual: tuple[Any, ...], expected: tuple[Any, ...]) -> bool:
    if len(actual) != len(expected):
        return False
    for a, e in zip(actual, expected, strict=True):
        if e is None or isinstance(e, str) or a is None or isinstance(a, str):
            continue
        if int(a) != int(e):
            return False
    return True


def check_signature(
    sess: Session, inputs: Sequence[TensorSpec], outputs: Sequence[TensorSpec], *, family: str = ""
) -> None:
    """Raise ``ModelSignatureError`` unless every expected input/output exists with that dtype and shape.

    Expected inputs and outputs may leave ``name`` empty to match by position.
    """
    problems: list[str] = []
    have_in = {t.name: t for t in sess.inputs}
    for i, spec in enumerate(inputs):
        got = have_in.get(spec.name) if spec.name else (sess.inputs[i] if i < len(sess.inputs) else None)
        if got is None or got.dtype != spec.dtype or not _shape_ok(got.shape, spec.shape):
            problems.append(f"input {spec.describe()}")
    for i, spec in enumerate(outputs):
        got = next((t for t in sess.outputs if t.name == spec.name), None) if spec.name else (
            sess.outputs[i] if i < len(sess.outputs) else None)
        if got is None or got.dtype != spec.dtype or not _shape_ok(got.shape, spec.shape):
            problems.append(f"output {spec.describe()}")
    if problems:
        have = ", ".join([f"input {t.describe()}" for t in sess.inputs] + [f"output {t.describe()}" for t in sess.outputs])
        what = f"a {family} model" if family else "this model"
        raise ModelSignatureError(
            f"{sess.path.name} is not {what}: expected {'; '.join(problems)}; the file has {have}."
        )
