"""Errors a user can read. Every message says what went wrong and what to do about it."""

from __future__ import annotations


class FaceSwapError(Exception):
    """Base class for errors shown to the user (CLI exit code 2, OBS status line)."""


class NoFaceError(FaceSwapError):
    """A source photo (or a required image) contains no detectable face."""


class ImageReadError(FaceSwapError):
    """An image or video file could not be read or decoded."""


class ModelError(FaceSwapError):
    """A model file is missing, corrupt, or has the wrong input/output signature."""


class ModelSignatureError(ModelError):
    """A model's ONNX inputs/outputs do not match what its family needs."""


class DownloadError(FaceSwapError):
    """A download failed (network, HTTP status, size or SHA-256 mismatch)."""


class DeviceError(FaceSwapError):
    """An audio/video device is missing, vanished, or PortAudio is not installed."""


class WorkerError(FaceSwapError):
    """The worker process is absent, died, or answered something unexpected."""


class ProtocolError(WorkerError):
    """A control message was malformed, oversized, or of another protocol version."""
