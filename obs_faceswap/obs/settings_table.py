"""Print the public setting keys of both filters as Markdown (for docs/obs.md).

    python -m obs_faceswap.obs.settings_table
"""

from __future__ import annotations

from ..settings import FACE_SETTINGS, VOICE_SETTINGS, Schema


def markdown(title: str, schema: Schema) -> str:
    rows = [f"### {title}", "", "| key | kind | default | range / choices | meaning |", "|---|---|---|---|---|"]
    for s in schema.settings:
        if s.choices:
            span = ", ".join(f"`{value}`" for value, _ in s.choices)
        elif s.minimum is not None:
            span = f"{s.minimum:g} … {s.maximum:g}{s.suffix}"
        else:
            span = ""
        default = "(empty)" if s.default == "" else f"`{s.default}`"
        rows.append(f"| `{s.name}` | {s.kind} | {default} | {span} | {s.help.replace('|', '/')} |")
    return "\n".join(rows)


def main() -> None:
    print(markdown("Face Swap (`obs_faceswap_video`)", FACE_SETTINGS))
    print()
    print(markdown("Voice Clone (`obs_faceswap_audio`)", VOICE_SETTINGS))


if __name__ == "__main__":
    main()
