"""Per-channel processors the worker runs: the face pipeline, the voice engine, and test processors.

Video processors take and return a BGR ``Frame``; audio processors a float32 (channels, n) block
and return exactly n frames (fixed delay). Test processors: ``noop`` (bytes copied unchanged,
no conversion), ``invert`` (every pixel inverted after a round trip through BGR: visible and
checkable), ``standin`` (a tiny ONNX model run per frame on the top-left 64x64 patch, which it
inverts). The face pipeline and voice engine are imported lazily (heavy imports).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import numpy as np

STANDIN_SIZE = 64


class VideoProcessor(Protocol):
    name: str
    last_error: str

    def process(self, frame: np.ndarray) -> np.ndarray:
        """The processed frame: a new array, or ``frame`` itself (unmodified) when nothing changed
        (the worker then copies nothing back: ``channel_workers.VideoWorker``)."""
        ...

    def update(self, settings: Mapping[str, Any]) -> None: ...
    def stats(self) -> dict[str, Any]: ...
    def close(self) -> None: ...


class _Simple:
    name = ""
    last_error = ""

    def update(self, settings: Mapping[str, Any]) -> None:
        pass

    def stats(self) -> dict[str, Any]:
        return {}

    def close(self) -> None:
        pass


class NoopProcessor(_Simple):
    """Marker: the channel copies the input bytes to the output without conversion."""

    name = "noop"

    def process(self, frame: np.ndarray) -> np.ndarray:
        return frame


class InvertProcessor(_Simple):
    name = "invert"

    def process(self, frame: np.ndarray) -> np.ndarray:
        return 255 - frame


def standin_model_path() -> Path:
    """Build (once) a tiny ONNX model: input f32[1,3,64,64] -> output = 1 - input (via a 1x1 conv)."""
    import onnx
    from onnx import TensorProto, helper

    w = -np.eye(3, dtype=np.float32).reshape(3, 3, 1, 1)
    b = np.ones(3, np.float32)
    graph = helper.make_graph(
        [helper.make_node("Conv", ["input", "W", "B"], ["output"])],
        "standin",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, STANDIN_SIZE, STANDIN_SIZE])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, STANDIN_SIZE, STANDIN_SIZE])],
        [helper.make_tensor("W", TensorProto.FLOAT, w.shape, w.ravel().tolist()),
         helper.make_tensor("B", TensorProto.FLOAT, b.shape, b.tolist())],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    data = model.SerializeToString()
    path = Path(tempfile.gettempdir()) / f"obs-faceswap-standin-{hashlib.sha256(data).hexdigest()[:16]}.onnx"
    if not path.is_file():
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    onnx.checker.check_model(str(path))
    return path


class StandinProcessor(_Simple):
    name = "standin"

    def __init__(self, settings: Mapping[str, Any]) -> None:
        from obs_faceswap.models.session import create_session

        self.session = create_session(standin_model_path(), str(settings.get("provider", "cpu")), threads=1)

    def process(self, frame: np.ndarray) -> np.ndarray:
        h, w = frame.shape[:2]
        n = min(STANDIN_SIZE, h, w)
        x = np.zeros((1, 3, STANDIN_SIZE, STANDIN_SIZE), np.float32)
        x[0, :, :n, :n] = frame[:n, :n].transpose(2, 0, 1) / 255.0
        y = self.session.run({"input": x})[0]
        out = frame.copy()  # a new array: the worker finds what changed by comparing with its input
        out[:n, :n] = np.clip(y[0, :, :n, :n].transpose(1, 2, 0) * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return out

    def stats(self) -> dict[str, Any]:
        return {"providers": list(self.session.providers)}


class FaceProcessor(_Simple):
    """One face channel's pipeline. Settings from OBS are validated here, once, into ``FaceOptions``;
    channels with the same models share their ONNX sessions through the session cache, and a look
    change (blend, colour, masks) only swaps the options the pipeline reads."""

    name = "face"

    def __init__(self, settings: Mapping[str, Any]) -> None:
        from obs_faceswap.vision.options import FaceOptions
        from obs_faceswap.vision.pipeline import FacePipeline

        self.pipeline = FacePipeline(FaceOptions.from_settings(settings), live=True)

    def process(self, frame: np.ndarray) -> np.ndarray:
        return self.pipeline.process(frame)

    def process_region(self, frame: np.ndarray, crop: np.ndarray | None, crop_xy: tuple[int, int]
                       ) -> tuple[np.ndarray | None, list[Any]]:
        """A region frame: track on ``frame``, swap on ``crop``; (swapped crop or None, face boxes in
        the frame) (``worker/region_frames.py``)."""
        out, faces = self.pipeline.process_region(frame, crop, crop_xy)
        return out, [tuple(float(v) for v in f.bbox) for f in faces]

    def update(self, settings: Mapping[str, Any]) -> None:
        self.pipeline.update(self.pipeline.options.with_changes(settings))

    @property
    def last_error(self) -> str:  # type: ignore[override]
        return self.pipeline.last_error

    def stats(self) -> dict[str, Any]:
        st = dict(self.pipeline.stats)
        return {"stages": st, "providers": st.get("providers", [])}


def make_video_processor(name: str, settings: Mapping[str, Any]) -> VideoProcessor:
    override = os.environ.get("OBS_FACESWAP_TEST_PROCESSOR", "")
    name = override or name
    if name == "noop":
        return NoopProcessor()
    if name == "invert":
        return InvertProcessor()
    if name == "standin":
        return StandinProcessor(settings)
    if name == "face":
        return FaceProcessor(settings)
    raise ValueError(f"unknown video processor {name!r}")


class AudioProcessor(Protocol):
    name: str
    last_error: str

    @property
    def latency_ms(self) -> float: ...
    def process(self, block: np.ndarray) -> np.ndarray: ...
    def update(self, settings: Mapping[str, Any]) -> None: ...
    def close(self) -> None: ...


class NoopAudio:
    name = "noop"
    latency_ms = 0.0
    last_error = ""

    def process(self, block: np.ndarray) -> np.ndarray:
        return block

    def update(self, settings: Mapping[str, Any]) -> None:
        pass

    def close(self) -> None:
        pass


class VoiceProcessor:
    """One audio channel's voice engine. Settings from OBS are validated here, once, into ``VoiceOptions``;
    the engine and its converter take those as they are."""

    name = "voice"

    def __init__(self, settings: Mapping[str, Any], sample_rate: int, channels: int) -> None:
        from obs_faceswap.voice.engine import VoiceEngine
        from obs_faceswap.voice.options import VoiceOptions

        self.engine = VoiceEngine(VoiceOptions.from_settings(settings), sample_rate, channels)
        self.last_error = ""

    @property
    def latency_ms(self) -> float:
        return float(self.engine.latency_ms)

    @property
    def voice(self) -> str:
        """What the converter does, for the filter's status (e.g. the clone's target, its warm-up)."""
        describe = getattr(self.engine.converter, "describe", None)
        return str(describe()) if describe is not None else ""

    def process(self, block: np.ndarray) -> np.ndarray:
        return self.engine.process(block)

    def update(self, settings: Mapping[str, Any]) -> None:
        self.engine.update(self.engine.options.with_changes(settings))

    def close(self) -> None:
        self.engine.close()


def make_audio_processor(name: str, settings: Mapping[str, Any], sample_rate: int,
                         channels: int) -> AudioProcessor:
    override = os.environ.get("OBS_FACESWAP_TEST_AUDIO_PROCESSOR", "")
    name = override or name
    if name == "noop":
        return NoopAudio()
    if name == "voice":
        return VoiceProcessor(settings, sample_rate, channels)
    raise ValueError(f"unknown audio processor {name!r}")
