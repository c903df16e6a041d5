"""``obs-faceswap lipsync`` and ``converse`` end to end: real ffmpeg, real espeak-ng, a real HTTP client
against a local chat server; the A/V offset of the written file is measured."""

from __future__ import annotations

import json
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import cv2
import numpy as np
import pytest
import soundfile as sf

from obs_faceswap.cli import main
from obs_faceswap.lipsync.embedded import EmbeddedLipSync
from obs_faceswap.lipsync.mesh_motion import mouth_opening
from obs_faceswap.media import probe_video, read_video_frames

FPS = 25


def _decode_audio(path: Path, rate: int = 16000) -> np.ndarray:
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-map", "0:a:0", "-ac", "1", "-ar", str(rate),
                          "-f", "f32le", "-"], capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.float32)


def _mouth_darkness(video: Path, photo: np.ndarray) -> np.ndarray:
    """Per frame: how much darker the mouth region is than in the photo (the cavity shows when open)."""
    face = EmbeddedLipSync().face(photo)
    x, y = face.landmarks[[13, 14]].mean(0)
    w = int(np.linalg.norm(face.landmarks[61] - face.landmarks[291]) * 0.3)
    win = (slice(int(y) - w // 2, int(y) + w), slice(int(x) - w, int(x) + w))
    base = float(cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY)[win].mean())
    return np.array([base - float(cv2.cvtColor(f, cv2.COLOR_BGR2GRAY)[win].mean()) for f in read_video_frames(video)])


def _onsets(x: np.ndarray, thr: float) -> list[int]:
    above = x > thr
    return [int(i) for i in np.nonzero(above[1:] & ~above[:-1])[0] + 1]


def test_av_offset_of_the_output_is_within_one_frame(tmp_path: Path, astronaut_path: Path, astronaut_bgr) -> None:
    """Tone bursts at known times: where the sound starts in the file vs where the mouth starts opening."""
    rate = 22050
    t = np.arange(int(3.0 * rate)) / rate
    audio = np.zeros_like(t)
    starts = (0.60, 1.50, 2.30)
    for s in starts:
        sel = (t >= s) & (t < s + 0.36)
        audio[sel] = 0.5 * np.sin(2 * np.pi * 220 * t[sel]) * (1 + 0.3 * np.sin(2 * np.pi * 1100 * t[sel]))
    wav = tmp_path / "bursts.wav"
    sf.write(wav, audio, rate, subtype="PCM_16")
    out = tmp_path / "out.mp4"
    assert main(["lipsync", "--face", str(astronaut_path), "--audio", str(wav), "--output", str(out), "-q"]) == 0
    info = probe_video(out)
    assert info.has_audio and float(info.fps) == FPS and info.frames == 75
    streams = json.loads(subprocess.run(["ffprobe", "-v", "error", "-show_streams", "-of", "json", str(out)],
                                        capture_output=True, text=True, check=True).stdout)["streams"]
    assert all(abs(float(s.get("start_time", 0))) < 1e-3 for s in streams)
    sound = _decode_audio(out)
    env = np.array([np.sqrt(np.mean(sound[int(i * 16000 / FPS / 4): int((i + 1) * 16000 / FPS / 4)] ** 2))
                    for i in range(len(sound) * FPS * 4 // 16000)])  # quarter-frame resolution
    audio_on = [i / (4 * FPS) for i in _onsets(env, 0.5 * env.max())]
    sync = EmbeddedLipSync()
    opening = np.array([mouth_opening(sync.face(f).landmarks) for f in read_video_frames(out)])  # re-detected
    opening -= opening.min()
    video_on = [i / FPS for i in _onsets(opening, 0.5 * opening.max())]
    print("audio onsets", audio_on, "mouth onsets", video_on)
    assert len(audio_on) == len(video_on) == 3, (audio_on, video_on)
    for a, v, s in zip(audio_on, video_on, starts, strict=True):
        assert abs(a - s) < 0.02  # the sound sits where it was put
        assert abs(v - a) <= 1.0 / FPS + 1e-9, (a, v)


def test_text_to_talking_photo(tmp_path: Path, astronaut_path: Path) -> None:
    out = tmp_path / "hello.mp4"
    assert main(["lipsync", "--face", str(astronaut_path), "--text", "Hello chat, welcome to the stream.",
                 "--voice", "en-us", "--output", str(out), "-q"]) == 0
    info = probe_video(out)
    seconds = len(_decode_audio(out)) / 16000
    assert info.has_audio and 1.0 < seconds < 4.0 and abs(info.frames / FPS - seconds) < 2.0 / FPS


def test_eight_khz_stereo_is_resampled(tmp_path: Path, astronaut_path: Path, speech_wav: Path) -> None:
    from obs_faceswap.lipsync.speech import load_speech

    x, rate = sf.read(speech_wav, dtype="float32")
    from scipy.signal import resample_poly

    low = resample_poly(x, 8000, rate)
    wav = tmp_path / "phone.wav"
    sf.write(wav, np.stack([low, low * 0.5], axis=1), 8000, subtype="PCM_16")
    speech = load_speech(wav)
    assert speech.rate == 8000 and speech.audio.ndim == 1
    assert abs(len(speech.resampled(16000).audio) - 2 * len(low)) <= 1
    out = tmp_path / "phone.mp4"
    assert main(["lipsync", "--face", str(astronaut_path), "--audio", str(wav), "--output", str(out), "-q"]) == 0
    assert abs(len(_decode_audio(out)) / 16000 - len(low) / 8000) < 0.1


def test_silence_gives_a_closed_mouth_video(tmp_path: Path, astronaut_path: Path, astronaut_bgr) -> None:
    wav = tmp_path / "silence.wav"
    sf.write(wav, np.zeros(16000), 16000, subtype="PCM_16")
    out = tmp_path / "silent.mp4"
    assert main(["lipsync", "--face", str(astronaut_path), "--audio", str(wav), "--output", str(out), "-q"]) == 0
    dark = _mouth_darkness(out, astronaut_bgr)
    assert len(dark) == 25 and dark.max() < 15  # never the dark open-mouth cavity


def test_photo_without_a_face_is_a_clear_error(tmp_path: Path, speech_wav: Path, capsys) -> None:
    wall = tmp_path / "wall.png"
    cv2.imwrite(str(wall), np.full((240, 320, 3), 128, np.uint8))
    out = tmp_path / "out" / "x.mp4"
    assert main(["lipsync", "--face", str(wall), "--audio", str(speech_wav), "--output", str(out), "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no face found in wall.png" in err[0]
    assert not out.exists() and not out.parent.exists()


class _Chat(BaseHTTPRequestHandler):
    seen: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _Chat.seen.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
        said = body["messages"][-1]["content"]
        reply = {"id": "x", "object": "chat.completion", "model": body["model"],
                 "choices": [{"index": 0, "finish_reason": "stop",
                              "message": {"role": "assistant", "content": f"You said {said}. Good question!"}}]}
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def chat_server():
    """A chat-completions server on 127.0.0.1: one request at a time, at most 3 connections (each waited
    for at most 20 s), and it stops by itself after the first chat request."""
    _Chat.seen = []
    server = HTTPServer(("127.0.0.1", 0), _Chat)
    server.timeout = 20

    def serve() -> None:
        for _ in range(3):
            server.handle_request()  # synchronous: the request is fully handled when this returns
            if _Chat.seen:
                break

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.server_close()
    thread.join(timeout=25)


def test_converse_speaks_the_endpoints_answer(tmp_path: Path, astronaut_path: Path, chat_server: str,
                                             monkeypatch, capsys) -> None:
    monkeypatch.setenv("MY_CHAT_KEY", "sk-test")
    out = tmp_path / "answer.mp4"
    assert main(["converse", "--face", str(astronaut_path), "--say", "what game is this", "--chat-url", chat_server,
                 "--chat-model", "llama-3", "--api-key-env", "MY_CHAT_KEY", "--output", str(out), "-q"]) == 0
    assert len(_Chat.seen) == 1
    req = _Chat.seen[0]
    assert req["path"] == "/v1/chat/completions" and req["auth"] == "Bearer sk-test"
    assert req["body"]["model"] == "llama-3" and req["body"]["messages"][-1] == {"role": "user",
                                                                                   "content": "what game is this"}
    assert "avatar: You said what game is this. Good question!" in capsys.readouterr().out
    assert probe_video(out).has_audio and len(_decode_audio(out)) / 16000 > 1.5


def test_unreachable_chat_endpoint_is_a_clear_error_and_writes_nothing(tmp_path: Path, astronaut_path: Path,
                                                                      capsys) -> None:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    out = tmp_path / "answer.mp4"
    assert main(["converse", "--face", str(astronaut_path), "--say", "hi", "--chat-url",
                 f"http://127.0.0.1:{port}/v1", "--timeout", "5", "--output", str(out), "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot reach the chat endpoint" in err[0] and str(port) in err[0]
    assert list(tmp_path.iterdir()) == []


def test_video_face_is_tracked_and_looped(tmp_path: Path, astronaut_bgr, speech_wav: Path) -> None:
    """A 0.4 s clip of a slowly moving face under 1.6 s of speech: looped, the face found in every frame."""
    from obs_faceswap.media import encode_video

    clip = tmp_path / "clip.mp4"
    frames = [np.roll(astronaut_bgr, (k, 2 * k), axis=(0, 1)) for k in range(10)]
    encode_video(frames, clip, 25, (512, 512))
    x, rate = sf.read(speech_wav, dtype="float32")
    wav = tmp_path / "short.wav"
    sf.write(wav, x[: int(1.6 * rate)], rate, subtype="PCM_16")
    out = tmp_path / "talk.mp4"
    assert main(["lipsync", "--face", str(clip), "--audio", str(wav), "--output", str(out), "-q"]) == 0
    seconds = 1.6
    got = list(read_video_frames(out))
    assert abs(len(got) - seconds * FPS) <= 1
    sync = EmbeddedLipSync()
    openings = []
    for f in got[::3]:
        face = sync.face(f)
        assert face is not None
        openings.append(mouth_opening(face.landmarks))
    assert max(openings) - min(openings) > 0.12  # the mouth moves on the moving face


def test_wav2lip_standin_through_the_cli(tmp_path: Path, astronaut_path: Path, astronaut_bgr) -> None:
    """--model PATH runs the Wav2Lip path end to end: the stand-in darkens the mouth on loud frames only."""
    from obs_faceswap.models.standins.lipsync import wav2lip

    model = wav2lip(tmp_path / "my_wav2lip.onnx")
    rate = 16000
    t = np.arange(2 * rate) / rate
    noise = np.random.default_rng(3).standard_normal(len(t)) * 0.3  # broadband: every mel band loud
    audio = np.where((t >= 1.0) & (t < 1.6), noise, 0.0)
    wav = tmp_path / "burst.wav"
    sf.write(wav, audio, rate, subtype="PCM_16")
    out = tmp_path / "w2l.mp4"
    assert main(["lipsync", "--face", str(astronaut_path), "--audio", str(wav), "--model", str(model),
                 "--output", str(out), "-q"]) == 0
    dark = _mouth_darkness(out, astronaut_bgr)
    assert len(dark) == 50
    assert dark[30:36].mean() > dark[5:20].mean() + 20  # loud chunks: darker mouth


@pytest.mark.parametrize("argv,message", [
    (["lipsync", "--text", "hi", "--voice", "missing_voice.onnx"], "Piper voice not found"),
    (["lipsync", "--text", "hi", "--voice", "xx-nonexistent"], "unknown espeak-ng voice"),
    (["lipsync", "--text", "hi", "--model", "missing_model.onnx"], "model file not found"),
    (["converse", "--audio", "{wav}", "--stt-model", "no_such_folder", "--chat-url", "http://127.0.0.1:9/v1"],
     "faster-whisper model folder not found"),
    (["converse", "--say", "hi", "--chat-url", "ftp://example/v1"], "must start with http"),
])
def test_bad_setup_is_one_clear_line_and_writes_nothing(tmp_path: Path, astronaut_path: Path, speech_wav: Path,
                                                       capsys, argv: list[str], message: str) -> None:
    out = tmp_path / "x.mp4"
    argv = [a.replace("{wav}", str(speech_wav)) for a in argv]
    assert main([*argv, "--face", str(astronaut_path), "--output", str(out), "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert list(tmp_path.iterdir()) == []


def test_swap_then_speak(tmp_path: Path, astronaut_path: Path, astronaut_bgr, group_photo_path: Path,
                         speech_wav: Path) -> None:
    """--swap-source: the face swap runs first and the swapped face is the one that speaks."""
    x, rate = sf.read(speech_wav, dtype="float32")
    wav = tmp_path / "short.wav"
    sf.write(wav, x[: int(1.2 * rate)], rate, subtype="PCM_16")
    plain, swapped = tmp_path / "plain.mp4", tmp_path / "swapped.mp4"
    assert main(["lipsync", "--face", str(astronaut_path), "--audio", str(wav), "--output", str(plain), "-q"]) == 0
    assert main(["lipsync", "--face", str(astronaut_path), "--audio", str(wav), "--swap-source",
                 str(group_photo_path), "--output", str(swapped), "-q"]) == 0
    a, b = list(read_video_frames(plain)), list(read_video_frames(swapped))
    assert len(a) == len(b) == 30
    face = EmbeddedLipSync().face(astronaut_bgr)
    x0, y0, x1, y1 = (int(v) for v in face.bbox)
    changed = (np.abs(a[0][y0:y1, x0:x1].astype(int) - b[0][y0:y1, x0:x1]).max(axis=2) > 12).mean()
    assert changed > 0.1, changed  # another face (the same face gives 0)
    sync = EmbeddedLipSync()
    openings = [mouth_opening(sync.face(f).landmarks) for f in b[::2]]
    assert max(openings) - min(openings) > 0.12  # and it speaks


def _median_f0(x: np.ndarray, rate: int) -> float:
    import pyworld

    f0, _ = pyworld.dio(x.astype(np.float64), rate, f0_floor=60.0, f0_ceil=500.0)
    return float(np.median(f0[f0 > 0]))


def test_reference_voice_makes_the_avatar_speak_in_that_voice(tmp_path: Path, astronaut_path: Path) -> None:
    """--reference-voice runs the speech through Voice Clone first: the video's voice takes the reference's pitch."""
    ref = tmp_path / "her.wav"
    subprocess.run(["espeak-ng", "-v", "en+f3", "-w", str(ref), "The quick brown fox jumps over the lazy dog. "
                    "She sells sea shells by the sea shore, and the shells she sells are surely sea shells."],
                   check=True)
    her, rate = sf.read(str(ref), dtype="float32")
    text = "Hello chat, welcome to the stream. Today we play something new."
    plain, cloned = tmp_path / "plain.mp4", tmp_path / "cloned.mp4"
    assert main(["lipsync", "--face", str(astronaut_path), "--text", text, "--voice", "en-us",
                 "--output", str(plain), "-q"]) == 0
    assert main(["lipsync", "--face", str(astronaut_path), "--text", text, "--voice", "en-us",
                 "--reference-voice", str(ref), "--output", str(cloned), "-q"]) == 0
    f_ref, f_in, f_out = _median_f0(her, rate), _median_f0(_decode_audio(plain), 16000), \
        _median_f0(_decode_audio(cloned), 16000)
    assert abs(np.log(f_out / f_ref)) < 0.5 * abs(np.log(f_in / f_ref)), (f_in, f_out, f_ref)
    assert abs(len(_decode_audio(cloned)) - len(_decode_audio(plain))) < 0.05 * 16000  # timing kept
