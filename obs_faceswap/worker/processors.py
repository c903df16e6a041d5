"""Per-channel processors the worker runs: the face pipeline, the voice engine, and test processors.

Video processors take and return a BGR ``Frame``; audio processors a float32 (channels, n) block
and return exactly n frames (fixed delay). Test processors: ``noop`` (bytes copied unchanged,
no conversion), ``invert`` (every pixel inverted after a round trip through BGR: visible and
checkable), ``standin`` (a tiny ONNX model run per frame on the top-left 64x64 patch, which it
inverts). The face pipeline and voice engine are imported lazily (heavy imports).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import numpy as np

STANDIN_SIZE = 64


class VideoProcessor(Protocol):
    name: str
    last_error: str

    def process(self, frame: np.ndarray) -> np.ndarray: ...
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
        frame[:n, :n] = np.clip(y[0, :, :n, :n].transpose(1, 2, 0) * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return frame  # the worker hands each processor its own copy of the frame

    def stats(self) -> dict[str, Any]:
        return {"providers": list(self.session.providers)}


def _key(settings: Mapping[str, Any]) -> str:
    return json.dumps(dict(settings), sort_keys=True, default=str)


class _Shared:
    def __init__(self, pipeline: Any) -> None:
        self.pipeline = pipeline
        self.refs = 0
        self.lock = threading.Lock()


class PipelineCache:
    """FacePipelines shared by channels with identical settings, so models load once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[str, _Shared] = {}

    def acquire(self, settings: Mapping[str, Any]) -> tuple[str, _Shared]:
        key = _key(settings)
        with self._lock:
            item = self._items.get(key)
            if item is None:
                from obs_faceswap.vision.pipeline import FacePipeline

                item = _Shared(FacePipeline(dict(settings), live=True))
                self._items[key] = item
            item.refs += 1
            return key, item

    def release(self, key: str) -> None:
        with self._lock:
            item = self._items.get(key)
            if item is not None:
                item.refs -= 1
                if item.refs <= 0:
                    del self._items[key]

    def rekey(self, old: str, settings: Mapping[str, Any]) -> tuple[str, _Shared]:
        """The channel's settings changed: update its pipeline in place when it is the only user
        (the pipeline reloads only what changed); otherwise take/make one for the new settings."""
        new = _key(settings)
        with self._lock:
            item = self._items.get(old)
            if item is not None and item.refs == 1 and new not in self._items:
                with item.lock:
                    item.pipeline.update(dict(settings))
                del self._items[old]
                self._items[new] = item
                return new, item
        key, item = self.acquire(settings)
        self.release(old)
        return key, item

    def __len__(self) -> int:
        return len(self._items)


PIPELINES = PipelineCache()


class FaceProcessor(_Simple):
    name = "face"

    def __init__(self, settings: Mapping[str, Any], cache: PipelineCache = PIPELINES) -> None:
        from obs_faceswap.settings import FACE_SETTINGS

        self.cache = cache
        self.settings = FACE_SETTINGS.validate(settings)
        self.key, self.item = cache.acquire(self.settings)

    def process(self, frame: np.ndarray) -> np.ndarray:
        if not self.settings.get("enabled", True):
            return frame
        with self.item.lock:
            return self.item.pipeline.process(frame)

    def update(self, settings: Mapping[str, Any]) -> None:
        from obs_faceswap.settings import FACE_SETTINGS

        merged = FACE_SETTINGS.validate({**self.settings, **settings})
        self.key, self.item = self.cache.rekey(self.key, merged)
        self.settings = merged

    @property
    def last_error(self) -> str:  # type: ignore[override]
        return str(getattr(self.item.pipeline, "last_error", "") or "")

    def stats(self) -> dict[str, Any]:
        st = dict(getattr(self.item.pipeline, "stats", {}) or {})
        return {"stages": st, "providers": st.get("providers", [])}

    def close(self) -> None:
        self.cache.release(self.key)


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
        try:
            return FaceProcessor(settings)
        except ImportError as exc:
            raise RuntimeError(f"the face pipeline cannot be loaded in the worker's Python ({exc}); "
                               "re-run the installer") from None
    raise ValueError(f"unknown video processor {name!r}")


class NoopAudio:
    name = "noop"
    latency_ms = 0.0
    last_error = ""

    def process(self, block: np.ndarray) -> np.ndarray:
        return block

    def update(self, settings: Mapping[str, Any]) -> None:
        pass


class VoiceProcessor:
    name = "voice"

    def __init__(self, settings: Mapping[str, Any], sample_rate: int, channels: int) -> None:
        from obs_faceswap.settings import VOICE_SETTINGS
        from obs_faceswap.voice.engine import VoiceEngine

        self.engine = VoiceEngine(VOICE_SETTINGS.validate(settings), sample_rate, channels)
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
        from obs_faceswap.settings import VOICE_SETTINGS

        self.engine.update(VOICE_SETTINGS.validate(settings, partial=True))

    def close(self) -> None:
        self.engine.close()


def make_audio_processor(name: str, settings: Mapping[str, Any], sample_rate: int, channels: int) -> Any:
    override = os.environ.get("OBS_FACESWAP_TEST_AUDIO_PROCESSOR", "")
    name = override or name
    if name == "noop":
        return NoopAudio()
    if name == "voice":
        try:
            return VoiceProcessor(settings, sample_rate, channels)
        except ImportError as exc:
            raise RuntimeError(f"the voice engine cannot be loaded in the worker's Python ({exc}); "
                               "re-run the installer") from None
    raise ValueError(f"unknown audio processor {name!r}")
