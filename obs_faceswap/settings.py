"""Every user setting, declared once (standard library only: OBS imports this).

The OBS property panels, the CLI flags and the worker's validation are all built from
``FACE_SETTINGS`` and ``VOICE_SETTINGS``. Setting names are public interface: OBS scene
collections, obs-websocket scripts and CLI users refer to them, so never rename one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

# kinds
BOOL = "bool"
INT = "int"
FLOAT = "float"
TEXT = "text"
PATH = "path"  # a file path (OBS: file picker)
PATHS = "paths"  # several file paths separated by ';' (OBS: editable list of files)
CHOICE = "choice"


@dataclass(frozen=True)
class Setting:
    name: str
    kind: str
    default: Any
    label: str
    help: str
    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None
    choices: tuple[tuple[str, str], ...] = ()  # (value, label)
    suffix: str = ""  # unit shown in panels, e.g. " %", " ms"
    group: str = ""
    multiline: bool = False  # TEXT: a multi-line box in the OBS panel (entries one per line)

    def coerce(self, value: Any, *, strict: bool = False) -> Any:
        """Return ``value`` converted to this setting's type and clamped to its range.

        Raises ``ValueError`` with a readable message when it cannot be converted, and with
        ``strict`` (what a user typed, e.g. a CLI flag) when it is outside the range, naming it.
        """
        if value is None:
            return self.default
        try:
            if self.kind == BOOL:
                if isinstance(value, str):
                    low = value.strip().lower()
                    if low in ("1", "true", "yes", "on"):
                        return True
                    if low in ("0", "false", "no", "off", ""):
                        return False
                    raise ValueError(value)
                return bool(value)
            if self.kind == INT:
                out: Any = int(round(float(value)))
            elif self.kind == FLOAT:
                out = float(value)
                if out != out:  # NaN
                    raise ValueError(value)
            elif self.kind == CHOICE:
                out = str(value)
                allowed = [c[0] for c in self.choices]
                if allowed and out not in allowed:
                    raise ValueError(f"{out!r} is not one of {', '.join(allowed)}")
                return out
            elif self.kind == PATHS:
                if isinstance(value, (list, tuple)):
                    return ";".join(str(v) for v in value if str(v))
                return str(value)
            else:
                return str(value)
        except (TypeError, ValueError, OverflowError) as exc:  # OverflowError: int(inf), float(10**400)
            shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
            raise ValueError(f"setting {self.name!r}: cannot use {shown} ({exc})") from None
        if strict and ((self.minimum is not None and out < self.minimum)
                       or (self.maximum is not None and out > self.maximum)):
            raise ValueError(f"setting {self.name!r}: {value!r} is outside its range "
                             f"{self.range_text()}") from None
        if self.minimum is not None and out < self.minimum:
            out = type(out)(self.minimum)
        if self.maximum is not None and out > self.maximum:
            out = type(out)(self.maximum)
        return out


    def range_text(self) -> str:
        """The valid range as shown to users, e.g. '0..100 %' or '-24..24'."""
        lo = "" if self.minimum is None else f"{self.minimum:g}"
        hi = "" if self.maximum is None else f"{self.maximum:g}"
        return f"{lo}..{hi}{self.suffix}"


@dataclass(frozen=True)
class Schema:
    settings: tuple[Setting, ...]
    by_name: dict[str, Setting] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {s.name: s for s in self.settings})

    def defaults(self) -> dict[str, Any]:
        return {s.name: s.default for s in self.settings}

    def validate(self, values: Mapping[str, Any], *, partial: bool = False, strict: bool = False) -> dict[str, Any]:
        """Coerce and clamp ``values``; unknown names are ignored (newer clients may send more).

        With ``partial=False`` the result has every setting (defaults filled in); with ``strict``
        a value outside its range is refused (``ValueError`` naming the range) instead of clamped.
        """
        out: dict[str, Any] = {} if partial else self.defaults()
        for name, value in values.items():
            s = self.by_name.get(name)
            if s is not None:
                out[name] = s.coerce(value, strict=strict)
        return out

    def __iter__(self) -> Iterable[Setting]:  # type: ignore[override]
        return iter(self.settings)


def split_paths(value: str) -> list[str]:
    """Split a PATHS value ('a.jpg;b.jpg', newlines also accepted) into a list."""
    parts = value.replace("\n", ";").split(";")
    return [p.strip() for p in parts if p.strip()]


COLOR_METHODS: tuple[tuple[str, str], ...] = (
    ("none", "None"),
    ("lab", "LAB mean/std (Reinhard)"),
    ("rct", "RCT (DeepFaceLab)"),
    ("lct", "LCT linear (DeepFaceLab)"),
    ("mkl", "MKL (DeepFaceLab)"),
    ("idt", "IDT iterative (DeepFaceLab)"),
    ("sot", "SOT sliced OT (DeepFaceLab)"),
    ("hist", "Histogram matching"),
)

FACE_SETTINGS = Schema(
    (
        Setting("enabled", BOOL, True, "Swap faces", "Turn the swap off to pass the video through unchanged.",
                group="Face"),
        Setting("source_image", PATHS, "", "Source face photo(s)",
                "Photo(s) of the face to put on the camera, separated by ';'. Neural swappers average "
                "several photos into one identity; the embedded swapper averages their face shape and "
                "takes each region (eyes, brows, nose, mouth, skin) from the photo that shows it best.",
                group="Face"),
        Setting("swapper", TEXT, "embedded", "Swapper",
                "'embedded' (classical landmark swap, no download) or an installed model id such as "
                "inswapper_128, or a path to your own .onnx swapper; 'dfm' runs the DeepFaceLive model in "
                "'DFM model'.", group="Face"),
        Setting("pixel_boost", INT, 128, "Pixel boost",
                "Run a 128 px swapper (inswapper_128, ReSwapper-128) at 256/384/512 px: the crop is split "
                "into 4/9/16 interleaved 128 px crops, each swapped. Sharper on large faces; costs that many "
                "model runs per face. 128 = off.", minimum=128, maximum=512, step=128, suffix=" px", group="Face"),
        Setting("dfm_model", PATH, "", "DFM model",
                "With swapper 'dfm': your DeepFaceLive .dfm model (a file, or an id imported with "
                "'obs-faceswap models import').", group="Face"),
        Setting("dfm_face_type", CHOICE, "whole_face", "DFM face type",
                "With swapper 'dfm': the face type the model was trained with (DeepFaceLab's face_type; "
                "most public DFM models are whole face).",
                choices=(("face", "Face (coverage 1.6)"), ("whole_face", "Whole face (coverage 2.2)"),
                         ("head", "Head (coverage 3.0, follows head turns)")), group="Face"),
        Setting("dfm_morph", INT, 75, "DFM morph",
                "With swapper 'dfm' and an AMP model: how far the face morphs toward the trained person "
                "(AMP's morph_value).", minimum=0, maximum=100, step=1, suffix=" %", group="Face"),
        Setting("source_map", TEXT, "", "Source per face",
                "A different source photo per face, entries separated by ';' or one per line: 'POSITION=photo' "
                "(0 = left-most face) or 'reference.jpg=photo' (faces of the person in reference.jpg). Faces "
                "not in the map use the source photo(s) above; empty = off.", group="Face", multiline=True),
        Setting("detector", TEXT, "auto", "Detector",
                "'auto' (SCRFD det_10g when installed, else the embedded detector), 'embedded', 'det_10g', "
                "or a path to a SCRFD .onnx file.",
                group="Face"),
        Setting("embedder", TEXT, "auto", "Face recogniser",
                "ArcFace model that turns the source photos into an identity for neural swappers: 'auto' "
                "(w600k_r50) or a path to an ArcFace .onnx file.", group="Face"),
        Setting("face_selection", CHOICE, "largest", "Faces to swap",
                "Which faces in the frame to swap.",
                choices=(("largest", "Largest face"), ("all", "All faces"), ("index", "By position (left to right)"),
                         ("reference", "Matching a reference photo")), group="Face"),
        Setting("face_index", INT, 0, "Face position", "With 'By position': 0 is the left-most face.",
                minimum=0, maximum=31, step=1, group="Face"),
        Setting("reference_image", PATH, "", "Reference face photo",
                "With 'Matching a reference photo': only faces of this person are swapped.", group="Face"),
        Setting("reference_threshold", FLOAT, 0.6, "Reference match distance",
                "Largest embedding distance still counted as the reference person (lower is stricter).",
                minimum=0.1, maximum=2.0, step=0.05, group="Face"),
        Setting("blend", INT, 100, "Blend", "How much of the swapped face is shown (0 = original, 100 = swapped).",
                minimum=0, maximum=100, step=1, suffix=" %", group="Look"),
        Setting("shape_strength", INT, 100, "Face shape",
                "Embedded swapper: how much of the source's face proportions (eye spacing, nose, mouth width, "
                "jaw line, brow height) the output takes, in your pose and expression (0 = your own face shape, "
                "only the skin changes).", minimum=0, maximum=100, step=5, suffix=" %", group="Look"),
        Setting("color_method", CHOICE, "lab", "Colour transfer",
                "Match the swapped face's colours to the camera's.", choices=COLOR_METHODS, group="Look"),
        Setting("color_strength", INT, 100, "Colour strength", "How strongly colours are matched.",
                minimum=0, maximum=100, step=1, suffix=" %", group="Look"),
        Setting("mask_blur", INT, 30, "Mask blur", "Softness of the face edge, as a share of the face size.",
                minimum=0, maximum=100, step=1, suffix=" %", group="Mask"),
        Setting("mask_padding", INT, 0, "Mask padding", "Shrink the face mask inwards on every side.",
                minimum=0, maximum=50, step=1, suffix=" %", group="Mask"),
        Setting("mask_regions", TEXT, "", "Face-parser regions",
                "Comma-separated BiSeNet regions to swap (skin,brows,eyes,nose,mouth,lips,...); empty = off.",
                group="Mask"),
        Setting("occlusion_mask", BOOL, False, "Occlusion mask",
                "Keep hands and microphones in front of the face (needs the XSeg model).", group="Mask"),
        Setting("keep_mouth", BOOL, False, "Keep original mouth", "Show your own mouth inside the swapped face.",
                group="Mask"),
        Setting("mouth_size", INT, 100, "Mouth size", "Size of the kept mouth region.",
                minimum=20, maximum=200, step=5, suffix=" %", group="Mask"),
        Setting("enhancer", CHOICE, "none", "Face enhancer", "Sharpen the swapped face (needs a downloaded model).",
                choices=(("none", "None"), ("gfpgan_1.4", "GFPGAN 1.4"), ("codeformer", "CodeFormer"),
                         ("gpen_512", "GPEN 512")), group="Enhancer"),
        Setting("enhancer_blend", INT, 80, "Enhancer blend", "How much of the enhanced face is used.",
                minimum=0, maximum=100, step=1, suffix=" %", group="Enhancer"),
        Setting("codeformer_fidelity", FLOAT, 0.7, "CodeFormer fidelity",
                "0 = strongest restoration, 1 = closest to the input.", minimum=0.0, maximum=1.0, step=0.05,
                group="Enhancer"),
        Setting("enhancer_every", INT, 1, "Enhance every k-th frame", "Live mode: run the enhancer on every k-th "
                "frame and reuse the last result in between.", minimum=1, maximum=10, step=1, group="Enhancer"),
        Setting("smoothing", INT, 50, "Landmark smoothing", "Steadies a still face (0 = off).",
                minimum=0, maximum=100, step=1, suffix=" %", group="Tracking"),
        Setting("detect_every", INT, 3, "Detect every N frames", "Track landmarks between detections for speed.",
                minimum=1, maximum=30, step=1, group="Tracking"),
        Setting("provider", CHOICE, "auto", "Execution provider", "Where the neural models run.",
                choices=(("auto", "Best available"), ("tensorrt", "TensorRT"), ("cuda", "CUDA"),
                         ("directml", "DirectML"), ("coreml", "CoreML"), ("cpu", "CPU")), group="Performance"),
        Setting("lipsync", BOOL, False, "Lip sync", "Move the mouth with the sound of the audio source below; "
                "the video is delayed by the look-ahead (shown in the status).", group="Lip sync"),
        Setting("lipsync_audio_source", TEXT, "", "Lip sync audio source",
                "Name of the OBS audio source whose sound drives the mouth (e.g. the microphone with Voice Clone).",
                group="Lip sync"),
    )
)

VOICE_SETTINGS = Schema(
    (
        Setting("enabled", BOOL, True, "Change voice", "Turn off to pass the microphone through unchanged.",
                group="Voice"),
        Setting("backend", CHOICE, "dsp", "Voice backend",
                "'dsp' needs no weights: with a reference voice it clones it (embedded clone), without one it "
                "shifts pitch and formant; 'rvc' uses your RVC ONNX voice model; 'openvoice' clones the reference "
                "with the OpenVoice v2 network ('models download openvoice_v2').",
                choices=(("dsp", "DSP (pitch and formant)"), ("rvc", "RVC voice model (ONNX)"),
                         ("openvoice", "OpenVoice v2 zero-shot clone (download, torch)")), group="Voice"),
        Setting("reference_voice", PATH, "", "Reference voice",
                "A 5-60 s clip of the voice to sound like (use only voices you have the right to use). "
                "Pitch and formant then become offsets on top of the clone.", group="Voice"),
        Setting("own_voice", PATH, "", "Your voice (optional)",
                "A clip of your own voice: the clone starts from it instead of learning your voice over the "
                "first seconds of speech.", group="Voice"),
        Setting("own_voice_profile", TEXT, "", "Your voice profile name",
                "Name under which the clone keeps what it learned about your voice between sessions "
                "(empty: one per filter).", group="Voice"),
        Setting("pitch", FLOAT, 0.0, "Pitch", "Pitch shift in semitones.", minimum=-24.0, maximum=24.0, step=0.5,
                suffix=" st", group="Voice"),
        Setting("formant", FLOAT, 0.0, "Formant", "Formant (timbre) shift in semitones: + brighter/smaller, "
                "- darker/larger.", minimum=-12.0, maximum=12.0, step=0.5, suffix=" st", group="Voice"),
        Setting("voice_model", PATH, "", "Voice model", "RVC .onnx model (backend 'rvc'); backend 'openvoice': "
                "a converter checkpoint.pth (empty: the downloaded openvoice_v2).", group="Voice"),
        Setting("content_encoder", TEXT, "contentvec", "Content encoder",
                "Backend 'rvc': model id or .onnx path of the ContentVec/HuBERT encoder your voice model was "
                "trained with (768-d for RVC v2).", group="Voice"),
        Setting("pitch_detector", TEXT, "auto", "Pitch detector",
                "Backend 'rvc': 'auto' (RMVPE when installed, else WORLD), 'world' (no download), 'rmvpe', "
                "or a path to an RMVPE .onnx file.", group="Voice"),
        Setting("block_ms", INT, 20, "Block size", "Audio processed per step; larger is more robust, adds latency.",
                minimum=10, maximum=500, step=5, suffix=" ms", group="Streaming"),
        Setting("crossfade_ms", INT, 10, "Crossfade", "SOLA crossfade between blocks.", minimum=2, maximum=100,
                step=1, suffix=" ms", group="Streaming"),
        Setting("context_ms", INT, 60, "Left context", "Audio before each block the model sees.",
                minimum=0, maximum=1000, step=10, suffix=" ms", group="Streaming"),
        Setting("mix", INT, 100, "Dry/wet", "0 = your voice only, 100 = converted voice only.",
                minimum=0, maximum=100, step=1, suffix=" %", group="Streaming"),
        Setting("gate_db", FLOAT, -60.0, "Noise gate", "Blocks quieter than this are silenced.",
                minimum=-100.0, maximum=0.0, step=1.0, suffix=" dB", group="Streaming"),
        Setting("provider", CHOICE, "auto", "Execution provider", "Where the neural voice models run.",
                choices=(("auto", "Best available"), ("cuda", "CUDA"), ("directml", "DirectML"),
                         ("coreml", "CoreML"), ("cpu", "CPU")), group="Performance"),
    )
)
