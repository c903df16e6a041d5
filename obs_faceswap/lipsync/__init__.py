"""Lip sync: a talking face from speech or text, on files and (via the worker) live.

- ``speech``: speech audio as one record (mono samples, rate, optional phoneme timing), loading
  and resampling of any WAV/FLAC/OGG;
- ``tts`` / ``stt``: espeak-ng (embedded) and optional Piper voices; optional faster-whisper;
- ``motion``: per-video-frame mouth shape (opening, spread) from loudness, spectral shape and
  phonemes; ``mesh_motion``: that shape applied to the 468-point face mesh (mouth and jaw);
- ``embedded``: the no-download lip sync, the face warped with the classical swap's triangle warp;
- ``mel`` / ``wav2lip``: the Wav2Lip-class model adapter (user-supplied ONNX file);
- ``render``: face photo or video + speech -> video file with the audio muxed;
- ``chat`` / ``converse``: speech or text -> an OpenAI-compatible chat endpoint -> TTS -> lip sync.
"""
