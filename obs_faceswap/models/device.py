"""Running a loaded model on its device: IO binding, CUDA graphs, GPU options and GPU memory.

``BoundSession`` runs a ``Session`` through ONNX Runtime's IO binding: each input lives in a buffer
on the session's device (CUDA memory under the CUDA/TensorRT providers) that is reused and updated
in place from one call to the next, outputs are written into buffers on that device, and a caller
can keep an output there (``run_device``) and hand it to the next model without a trip through
host memory. Fixed buffers are also what CUDA graphs need: with ``device_options(cuda_graph=True)``
the CUDA provider records the first run and replays it afterwards. On the CPU provider the same code
runs with host buffers, which is how the tests check it.

``device_options`` gives the per-provider options the GPU path adds to the session factory's
defaults: the TensorRT engine and timing caches, fp16 and the optimisation profile for a dynamic
batch axis (faces of one frame batched through the swapper), CUDA graphs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from obs_faceswap.models.session import Session

DEVICE_PROVIDERS = {"CUDAExecutionProvider": "cuda", "TensorrtExecutionProvider": "cuda"}
_NP_TYPES = {"float32": np.float32, "float16": np.float16, "float64": np.float64, "int64": np.int64,
             "int32": np.int32, "uint8": np.uint8, "bool": np.bool_}


def session_device(session: Session) -> str:
    """'cuda' when the session's first provider runs on an NVIDIA GPU, else 'cpu'."""
    return DEVICE_PROVIDERS.get(session.providers[0], "cpu") if session.providers else "cpu"


def device_options(*, cuda_graph: bool = False, batch_inputs: Mapping[str, Sequence[int]] | None = None,
                   max_batch: int = 4, fp16: bool = True) -> dict[str, dict[str, str]]:
    """Extra ORT provider options for the GPU path, by ORT provider name (merged over the defaults).

    ``batch_inputs`` maps a model's batched inputs to their shape without the batch axis (e.g.
    ``{"target": (3, 128, 128), "source": (512,)}``): TensorRT then builds one engine for batches
    1..``max_batch`` instead of rebuilding on every new face count. ``cuda_graph`` records the CUDA
    provider's run once and replays it (inputs and outputs must stay at fixed addresses: use
    ``BoundSession``; a model with nodes off the GPU cannot be captured and ORT says so at load).
    """
    trt: dict[str, str] = {"trt_timing_cache_enable": "True", "trt_fp16_enable": "True" if fp16 else "False"}
    if batch_inputs:
        def shapes(n: int) -> str:
            return ",".join(f"{name}:{'x'.join(str(d) for d in (n, *dims))}" for name, dims in batch_inputs.items())
        trt.update({"trt_profile_min_shapes": shapes(1), "trt_profile_opt_shapes": shapes(min(2, max_batch)),
                    "trt_profile_max_shapes": shapes(max_batch)})
    cuda: dict[str, str] = {"enable_cuda_graph": "1"} if cuda_graph else {}
    return {"TensorrtExecutionProvider": trt, "CUDAExecutionProvider": cuda}


class BoundSession:
    """A session run through IO binding with device-resident, reused input and output buffers.

    It stands in for the ``Session`` it wraps (``inputs``, ``outputs``, ``path``, ``providers``...
    are the session's), so a model class given it (``FaceEnhancer``, ``FaceParser``) runs through
    IO binding unchanged.
    """

    def __init__(self, session: Session, *, device: str | None = None, cuda_graph: bool = False) -> None:
        self.session = session
        self.device = device or session_device(session)
        self.cuda_graph = cuda_graph and self.device == "cuda"
        self._binding = session.inner.io_binding()
        # one buffer per (input or output name, shape): a shape seen again finds the same address,
        # which a CUDA graph recorded for that shape replays
        self._buffers: dict[tuple[str, tuple[int, ...]], Any] = {}
        self._graphs: dict[tuple[tuple[int, ...], ...], int] = {}  # input shapes -> CUDA graph id
        self._dims: dict[str, int] = {}
        self.runs = 0

    def __getattr__(self, name: str) -> Any:  # inputs, outputs, path, providers, input_names ...
        return getattr(self.__dict__["session"], name)

    def _input(self, name: str, value: Any) -> None:
        import onnxruntime as ort

        if isinstance(value, ort.OrtValue):  # already on a device (another model's output): bind as is
            self._binding.bind_ortvalue_input(name, value)
            return
        arr = np.ascontiguousarray(value)
        key = (name, tuple(arr.shape))
        buf = self._buffers.get(key)
        if buf is not None and buf.data_type() == _ort_type(arr.dtype):
            buf.update_inplace(arr)  # same buffer, same address
        else:
            buf = ort.OrtValue.ortvalue_from_numpy(arr.copy() if self.device == "cpu" else arr, self.device, 0)
            self._buffers[key] = buf
        self._binding.bind_ortvalue_input(name, buf)

    def _output_shape(self, spec_shape: Sequence[Any]) -> tuple[int, ...] | None:
        dims: list[int] = []
        for d in spec_shape:
            if isinstance(d, int) and d > 0:
                dims.append(d)
            elif isinstance(d, str) and d in self._dims:
                dims.append(self._dims[d])
            else:
                return None
        return tuple(dims)

    def _bind_outputs(self) -> None:
        import onnxruntime as ort

        for spec in self.session.outputs:
            shape = self._output_shape(spec.shape)
            if shape is None:  # a size only the run knows: let ORT allocate it on the device
                self._binding.bind_output(spec.name, self.device)
                continue
            buf = self._buffers.get((spec.name, shape))
            if buf is None:
                buf = ort.OrtValue.ortvalue_from_shape_and_type(list(shape), _NP_TYPES.get(spec.dtype, np.float32),
                                                                self.device, 0)
                self._buffers[(spec.name, shape)] = buf
            self._binding.bind_ortvalue_output(spec.name, buf)

    def run_device(self, feeds: Mapping[str, Any]) -> list[Any]:
        """Run; the outputs stay on the device as ``onnxruntime.OrtValue`` (valid until the next run)."""
        import onnxruntime as ort

        shapes = []
        for spec in self.session.inputs:
            if spec.name not in feeds:
                raise KeyError(f"{self.session.path.name}: missing input {spec.name!r}")
            value = feeds[spec.name]
            shape = tuple(value.shape()) if callable(getattr(value, "shape", None)) else tuple(np.shape(value))
            shapes.append(shape)
            for d, n in zip(spec.shape, shape, strict=False):
                if isinstance(d, str):
                    self._dims[d] = int(n)
            self._input(spec.name, value)
        self._bind_outputs()
        options = None
        if self.cuda_graph:  # one recorded graph per input shape set (ORT's gpu_graph_id; -1 = no graph)
            graph = self._graphs.setdefault(tuple(shapes), len(self._graphs) + 1)
            options = ort.RunOptions()
            options.add_run_config_entry("gpu_graph_id", str(graph))
        self.session.inner.run_with_iobinding(self._binding, options)
        self.runs += 1
        return list(self._binding.get_outputs())

    def run(self, feeds: Mapping[str, Any], outputs: Sequence[str] | None = None) -> list[np.ndarray]:
        """Run and copy the outputs (all, or those named) to host numpy arrays, like ``Session.run``."""
        values = self.run_device(feeds)
        names = self.session.output_names
        wanted = list(outputs) if outputs else names
        return [np.array(values[names.index(n)].numpy()) for n in wanted]


def _ort_type(dtype: np.dtype[Any]) -> str:
    return {np.dtype(np.float32): "tensor(float)", np.dtype(np.float16): "tensor(float16)",
            np.dtype(np.float64): "tensor(double)", np.dtype(np.int64): "tensor(int64)",
            np.dtype(np.int32): "tensor(int32)", np.dtype(np.uint8): "tensor(uint8)"}.get(np.dtype(dtype), "")


def preload_gpu_libraries() -> None:
    """Load CUDA/cuDNN from the nvidia-* wheels (``onnxruntime-gpu[cuda,cudnn]``, ORT 1.21+) before the first
    GPU session, so a machine without a system CUDA still gets the CUDA provider. No-op elsewhere."""
    import onnxruntime as ort

    if hasattr(ort, "preload_dlls") and "CUDAExecutionProvider" in ort.get_available_providers():
        try:
            ort.preload_dlls()
        except Exception:  # noqa: BLE001 - a system CUDA may still be found by the provider itself
            pass


def gpu_memory() -> dict[str, float] | None:
    """Used and total memory of GPU 0 in MiB (NVML, the ``gpu`` extra's nvidia-ml-py), or None without one."""
    try:
        import pynvml
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
        try:
            handle = pynvml.nvmlDeviceGetHandleByIndex(0)
            info = pynvml.nvmlDeviceGetMemoryInfo(handle)
            return {"gpu_memory_used_mb": round(info.used / 2 ** 20, 1),
                    "gpu_memory_total_mb": round(info.total / 2 ** 20, 1)}
        finally:
            pynvml.nvmlShutdown()
    except Exception:  # no NVIDIA driver, no GPU: nothing to report
        return None
