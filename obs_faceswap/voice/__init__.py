"""Voice engine: fixed-block SOLA streaming around a voice converter (DSP or neural).

- ``stream``: block layout, stateless resampling of the sliding window, SOLA offset search and
  sin² crossfades (the part every backend shares);
- ``engine``: ``VoiceEngine`` (any block size in, the same size out, a fixed delay), noise gate,
  dry/wet mix, live settings;
- ``backends``: the ``Converter`` interface and the backend factory;
- ``dsp``: WORLD vocoder pitch and formant shift (no weights);
- ``profile`` and ``clone``: the embedded voice clone (WORLD statistics of a reference voice, cached by
  file hash; the statistical mapping toward it, your statistics learnt live);
- ``openvoice`` and ``openvoice_model``: the OpenVoice v2 zero-shot converter (torch) and its loader;
- ``rvc``: RVC ONNX adapter (content encoder + synthesizer); ``pitch``: F0 from RMVPE or WORLD dio;
- ``files`` and ``devices``: audio files and sound devices (PortAudio via sounddevice).
"""
