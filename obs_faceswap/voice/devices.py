"""Sound devices (PortAudio through sounddevice): list them, pick one, run microphone -> speakers.

Every failure a user can cause (PortAudio missing, no sound card, a device name that matches
nothing, a rate the device refuses) becomes a ``DeviceError`` that says what to do.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np

from obs_faceswap.errors import DeviceError
from obs_faceswap.voice.engine import VoiceEngine
from obs_faceswap.voice.options import VoiceOptions

MIN_RATE, MAX_RATE = 8000, 384000


def _sounddevice() -> Any:
    try:
        import sounddevice as sd
    except OSError as exc:  # the wheel is there but libportaudio is not
        raise DeviceError(f"PortAudio is not installed ({exc}). Install it: Debian/Ubuntu "
                          "'sudo apt install libportaudio2', Fedora 'sudo dnf install portaudio', "
                          "macOS 'brew install portaudio'.") from None
    except ImportError:
        raise DeviceError("the 'sounddevice' package is missing: pip install sounddevice") from None
    return sd


def list_devices() -> list[dict[str, Any]]:
    """Every PortAudio device: index, name, host API, input/output channels, default rate."""
    sd = _sounddevice()
    try:
        devices = sd.query_devices()
        apis = sd.query_hostapis()
    except sd.PortAudioError as exc:
        raise DeviceError(f"PortAudio cannot list sound devices ({exc})") from None
    out = []
    for d in devices:
        out.append({"index": int(d["index"]), "name": str(d["name"]),
                    "hostapi": str(apis[d["hostapi"]]["name"]) if d["hostapi"] < len(apis) else "",
                    "inputs": int(d["max_input_channels"]), "outputs": int(d["max_output_channels"]),
                    "default_rate": float(d["default_samplerate"])})
    return out


def format_devices(devices: list[dict[str, Any]]) -> str:
    if not devices:
        return "no sound devices found (is a sound card or PulseAudio/PipeWire available?)"
    lines = [f"{'#':>3}  {'in':>3} {'out':>3}  {'rate':>6}  name (host API)"]
    for d in devices:
        lines.append(f"{d['index']:>3}  {d['inputs']:>3} {d['outputs']:>3}  {d['default_rate']:>6.0f}  "
                     f"{d['name']} ({d['hostapi']})")
    return "\n".join(lines)


def resolve_device(spec: str | int | None, kind: str) -> int | None:
    """A device index from an index or a case-insensitive part of its name; ``None`` = the default.

    ``kind`` is 'input' or 'output'. Raises ``DeviceError`` listing the candidates.
    """
    devices = list_devices()
    key = "inputs" if kind == "input" else "outputs"
    usable = [d for d in devices if d[key] > 0]
    if spec is None or str(spec).strip() == "":
        if not usable:
            raise DeviceError(f"no {kind} sound device found: {format_devices(devices)}")
        return None
    text = str(spec).strip()
    if text.lstrip("-").isdigit():
        idx = int(text)
        match = [d for d in usable if d["index"] == idx]
    else:
        match = [d for d in usable if text.lower() in d["name"].lower()]
    if len(match) == 1:
        return int(match[0]["index"])
    names = ", ".join(f"{d['index']}: {d['name']}" for d in usable) or "none"
    if not match:
        raise DeviceError(f"no {kind} device matches {text!r}; {kind} devices: {names} "
                          "('obs-faceswap voice --list-devices')")
    raise DeviceError(f"{text!r} matches several {kind} devices ({', '.join(d['name'] for d in match)}); "
                      "give its number from 'obs-faceswap voice --list-devices'")


def run_live(options: VoiceOptions, *, input_device: str | int | None = None,
             output_device: str | int | None = None, sample_rate: int = 48000, duration: float | None = None,
             on_status: Any = None) -> dict[str, Any]:
    """Microphone -> ``VoiceEngine`` -> speakers until Ctrl-C (or ``duration`` seconds).

    Returns counts of callbacks and over/underruns PortAudio reported. A device that stops delivering
    audio while running (unplugged, taken by another program, a write error) raises ``DeviceError``.
    """
    if not MIN_RATE <= int(sample_rate) <= MAX_RATE:
        raise DeviceError(f"sample rate {sample_rate} Hz is not usable for live voice; use {MIN_RATE}-{MAX_RATE} Hz "
                          "(48000 or 44100 for most sound cards)")
    sd = _sounddevice()
    dev_in = resolve_device(input_device, "input")
    dev_out = resolve_device(output_device, "output")
    engine = VoiceEngine(options, sample_rate, 1)
    counts = {"callbacks": 0, "xruns": 0, "errors": 0, "latency_ms": round(engine.latency_ms, 2)}
    failure: list[BaseException] = []

    def callback(indata: np.ndarray, outdata: np.ndarray, frames: int, _time: Any, status: Any) -> None:
        counts["callbacks"] += 1
        if status:
            counts["xruns"] += 1
        try:
            outdata[:, 0] = engine.process(indata[:, :1].T)[0]
        except Exception as exc:  # never let an exception kill the audio thread silently
            counts["errors"] += 1
            outdata.fill(0)
            if not failure:
                failure.append(exc)

    def names() -> str:
        return f"input {_device_name(sd, dev_in, 'input')!r}, output {_device_name(sd, dev_out, 'output')!r}"

    try:
        stream = sd.Stream(samplerate=sample_rate, blocksize=engine.block_samples, channels=1,
                           dtype="float32", device=(dev_in, dev_out), callback=callback)
    except (sd.PortAudioError, ValueError) as exc:
        raise DeviceError(f"cannot open the sound devices ({names()}) at {sample_rate} Hz ({exc}); pick others "
                          "with --input-device/--output-device ('obs-faceswap voice --list-devices')") from None
    done = threading.Event()
    t0 = time.monotonic()
    stopped_by_device = False
    try:
        with stream:
            if on_status is not None:
                on_status(engine)
            try:
                while not done.wait(0.1):
                    if failure:
                        break
                    if not stream.active:  # PortAudio ended the stream: the device failed or vanished
                        stopped_by_device = True
                        break
                    if duration is not None and time.monotonic() - t0 >= duration:
                        break
            except KeyboardInterrupt:
                pass
    except sd.PortAudioError as exc:
        raise DeviceError(f"the sound devices ({names()}) failed: {exc}") from None
    finally:
        engine.close()
    if failure:
        raise DeviceError(f"voice processing failed during live audio: {failure[0]}")
    if stopped_by_device:
        raise DeviceError(f"the sound device stopped after {counts['callbacks']} blocks ({names()}): was it "
                          "unplugged or taken by another program? Check 'obs-faceswap voice --list-devices'")
    counts["seconds"] = round(time.monotonic() - t0, 2)
    return counts


def _device_name(sd: Any, index: int | None, kind: str) -> str:
    try:
        if index is None:
            return str(sd.query_devices(kind=kind)["name"])
        return str(sd.query_devices(index)["name"])
    except Exception:  # only for messages: never hide the real error behind a lookup failure
        return "default" if index is None else str(index)
