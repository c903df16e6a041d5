"""Face swappers behind one ``Swapper`` protocol (``base.py``).

``classical/`` is the embedded landmark-warp swapper (no download); ``neural.py`` wraps the
identity-embedding ONNX adapters beside it (``inswapper.py``: inswapper_128 / ReSwapper,
``simswap.py``: SimSwap 256/512 with its identity converter); ``dfm.py`` runs DeepFaceLive models
(one trained identity each, no source photo). Each makes a ``FaceRecord`` per face; ``vision/merge.py`` pastes it.
"""
