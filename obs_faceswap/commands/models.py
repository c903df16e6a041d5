"""``obs-faceswap models list|download|verify|import|info``: the model registry from the command line."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from obs_faceswap.errors import DownloadError, FaceSwapError, ModelError
from obs_faceswap.models.download import _human, download_model, import_model, licence_notice
from obs_faceswap.models.manifest import ModelEntry
from obs_faceswap.models.registry import (
    entries,
    expected_sha256,
    get_entry,
    how_to_install,
    is_installed,
    is_verified,
    model_path,
    models_dir,
    verify,
)
from obs_faceswap.models.signatures import describe_signature, family_signature


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "models",
        help="list, download, verify and import model weights",
        description="The models obs-faceswap knows (models/manifest.toml): their licences, downloads "
                    "(SHA-256 checked, resumable) and the files installed in the models folder "
                    "($OBS_FACESWAP_MODELS or <repo>/models/downloads).",
    )
    msub = parser.add_subparsers(dest="models_command", metavar="ACTION")

    p = msub.add_parser("list", help="every known model: family, installed?, verified?, licence, size")
    p.add_argument("--json", action="store_true", help="print one JSON array instead of a table")
    p.set_defaults(func=cmd_list)

    p = msub.add_parser("download", help="download models after showing (and accepting) their licences")
    p.add_argument("ids", nargs="+", metavar="ID", help="model ids ('models list')")
    p.add_argument("--yes", "--accept-licence", dest="yes", action="store_true",
                   help="accept the licences without asking (needed when not run in a terminal)")
    p.add_argument("--force", action="store_true", help="download again even when a verified file is installed")
    p.add_argument("--timeout", type=float, default=30.0, help="network timeout in seconds (default 30)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_download)

    p = msub.add_parser("verify", help="check the SHA-256 of installed models (all installed ones by default)")
    p.add_argument("ids", nargs="*", metavar="ID")
    p.set_defaults(func=cmd_verify)

    p = msub.add_parser("import", help="install a model file you already have (its hash is checked); "
                        "'import FILE.dfm' installs a DeepFaceLive model under its name")
    p.add_argument("id", metavar="ID", help="manifest id, or the .dfm file to import")
    p.add_argument("file", metavar="FILE", nargs="?", help="the file (not with a .dfm)")
    p.set_defaults(func=cmd_import)

    p = msub.add_parser("info", help="everything about one model: source, licence, signature, where it goes")
    p.add_argument("id", metavar="ID")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_info)

    parser.set_defaults(func=lambda args: parser.print_help() or 1)


def _row(e: ModelEntry) -> dict[str, Any]:
    installed = is_installed(e.id)
    expected, source = expected_sha256(e)
    return {
        "id": e.id,
        "family": e.family,
        "installed": installed,
        "verified": installed and is_verified(e),
        "licence": e.licence,
        "redistributable": e.redistributable,
        "size": e.size,
        "embedded": e.embedded,
        "user_supplied": e.user_supplied,
        "sha256": expected,
        "sha256_source": source,
        "path": str(model_path(e)),
        "description": e.description,
    }


def cmd_list(args: argparse.Namespace) -> int:
    rows = [_row(e) for e in entries().values()]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    header = ("ID", "FAMILY", "INSTALLED", "VERIFIED", "SIZE", "REDIST", "LICENCE")
    table = [header] + [(
        r["id"], r["family"], "yes" if r["installed"] else "no",
        "yes" if r["verified"] else ("-" if not r["installed"] else "no"),
        _human(r["size"]) if r["size"] else "?", "yes" if r["redistributable"] else "no", r["licence"],
    ) for r in rows]
    widths = [max(len(str(row[i])) for row in table) for i in range(len(header) - 1)]
    for row in table:
        print("  ".join(str(c).ljust(w) for c, w in zip(row[:-1], widths, strict=False)) + "  " + row[-1])
    print(f"\nmodels folder: {models_dir()}")
    return 0


def cmd_download(args: argparse.Namespace) -> int:
    for mid in args.ids:  # fail on an unknown id before anything is downloaded
        get_entry(mid)
    failed: list[str] = []
    for mid in args.ids:  # one failure does not stop the others
        try:
            download_model(mid, accept_licence=args.yes, force=args.force, timeout=args.timeout,
                           progress=not args.no_progress and sys.stderr.isatty(), out=sys.stdout)
        except FaceSwapError as exc:
            if len(args.ids) == 1:
                raise
            print(f"{mid}: FAILED: {exc}", file=sys.stderr)
            failed.append(mid)
    if failed:
        raise DownloadError(f"{len(failed)} of {len(args.ids)} downloads failed ({', '.join(failed)}); the others "
                            "are installed. Run the command again to retry (downloads resume).")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    ids = args.ids or [e.id for e in entries().values() if is_installed(e.id) or model_path(e).is_file()]
    if not ids:
        print(f"no models installed in {models_dir()}")
        return 0
    bad: list[str] = []
    for mid in ids:
        res = verify(mid)
        if res.status == "ok":
            print(f"{mid}: ok  sha256 {res.actual}")
        elif res.status == "recorded":
            print(f"{mid}: no published hash; recorded sha256 {res.actual}")
        elif res.status == "unpinned":
            print(f"{mid}: user-supplied file, sha256 {res.actual}")
        elif res.status == "missing":
            print(f"{mid}: NOT INSTALLED ({how_to_install(get_entry(mid))})")
            bad.append(mid)
        else:
            print(f"{mid}: MISMATCH  expected {res.expected}\n{' ' * len(mid)}            got {res.actual}")
            bad.append(mid)
    if bad:
        raise ModelError(f"{len(bad)} model(s) failed verification: {', '.join(bad)}. Download them again with "
                         f"'obs-faceswap models download --force {' '.join(bad)}'.")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    if args.file is None:
        if not args.id.lower().endswith(".dfm"):
            raise ModelError("models import: give ID FILE (a manifest model), or one FILE.dfm (a DeepFaceLive model)")
        from obs_faceswap.models.dfm_import import import_dfm

        import_dfm(args.id, out=sys.stdout)
        return 0
    import_model(args.id, args.file, out=sys.stdout)
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    e = get_entry(args.id)
    row = _row(e)
    fam_in, fam_out = family_signature(e.family)
    row["urls"] = list(e.urls)
    row["licence_url"] = e.licence_url
    row["signature"] = describe_signature(list(e.inputs) or fam_in, list(e.outputs) or fam_out)
    if args.json:
        print(json.dumps(row, indent=2))
        return 0
    print(licence_notice(e))
    print(f"  family:  {e.family}")
    print(f"  file:    {row['path']}")
    print(f"  status:  {'installed' if row['installed'] else 'not installed'}"
          f"{', verified' if row['verified'] else ''}")
    none = "(your own file: not pinned)" if e.user_supplied else "(none published; the first download records one)"
    print(f"  sha256:  {row['sha256'] or none}"
          f"{' [from lock file]' if row['sha256_source'] == 'lock' else ''}")
    print(f"  signature: {row['signature']}")
    for url in e.urls:
        print(f"  url:     {url}")
    if not row["installed"]:
        print(f"  to install: {how_to_install(e)}")
    return 0
