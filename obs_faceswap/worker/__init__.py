"""The background worker: ``python -m obs_faceswap.worker`` (started by ``obs_faceswap.ipc.WorkerClient``).

One process serves every channel of one client: video channels run a processor per frame
(``face`` = ``obs_faceswap.vision.pipeline.FacePipeline``, or the test processors ``noop``,
``invert``, ``standin``) with pixel-format conversion to BGR and back; audio channels run
``obs_faceswap.voice.engine.VoiceEngine`` (or ``noop``). See ``server`` (control loop),
``channels`` (per-channel threads), ``processors`` and ``convert``; protocol in docs/worker.md.
"""
