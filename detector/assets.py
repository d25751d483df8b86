"""Model weights and sample clips: fetch them with their SHA-256 checked, and resolve names to paths.

The manifests (`models/manifest.yaml`, `sample_videos/manifest.yaml`) list every file with its size,
sha256 and public URL. `fetch_assets` puts them under `<repo>/assets/<folder>/` (env
`CROSSWATCH_ASSETS_DIR`), copying from a mirror folder (default `../shared` next to the repo, env
`CROSSWATCH_ASSETS_MIRROR`) or else downloading; a file is only ever in place once its hash matches.

    python -m detector.assets [--mirror DIR] [--dest DIR]      # what `make assets` runs
"""

from __future__ import annotations

import argparse
import copy
import functools
import hashlib
import os
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from .yamlio import safe_load

REPO_ROOT = Path(__file__).resolve().parents[1]
MODELS_MANIFEST = REPO_ROOT / "models" / "manifest.yaml"
SAMPLES_MANIFEST = REPO_ROOT / "sample_videos" / "manifest.yaml"
MANIFESTS = (MODELS_MANIFEST, SAMPLES_MANIFEST)
DOWNLOAD_TIMEOUT_S = 60.0
_CHUNK = 1 << 20


class AssetError(RuntimeError):
    """An asset that cannot be fetched or resolved; the message names the file or entry."""


@dataclass(frozen=True)
class FileSpec:
    folder: str  # the manifest's folder: "models" or "sample_videos"
    file: str  # relative to that folder
    sha256: str
    size: int
    url: str | None
    committed: bool = False  # a build output committed in the repo (models/trained/): verified in place

    @property
    def rel(self) -> Path:
        return Path(self.folder) / self.file


def assets_dir() -> Path:
    return Path(os.environ.get("CROSSWATCH_ASSETS_DIR") or REPO_ROOT / "assets")


def default_mirror() -> Path:
    return Path(os.environ.get("CROSSWATCH_ASSETS_MIRROR") or REPO_ROOT.parent / "shared")


def load_manifest(path: Path) -> tuple[str, list[dict]]:
    """(folder, entries) of one manifest file: read every time, parsed once per distinct text (a run
    resolves several names in the same manifest); the entries are the caller's own copy."""
    folder, entries = _parse_manifest(Path(path).read_text(encoding="utf-8"))
    return folder, copy.deepcopy(entries)


@functools.lru_cache(maxsize=8)
def _parse_manifest(text: str) -> tuple[str, list[dict]]:
    data = safe_load(text)
    return data["folder"], data["entries"]  # type: ignore[index]


def file_specs(manifests: Iterable[Path] = MANIFESTS) -> list[FileSpec]:
    specs = []
    for manifest in manifests:
        folder, entries = load_manifest(manifest)
        for entry in entries:
            for f in entry["files"]:
                specs.append(
                    FileSpec(
                        folder,
                        f["file"],
                        f["sha256"].lower(),
                        int(f["size"]),
                        f.get("url"),
                        bool(entry.get("committed")),
                    )
                )
    return specs


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


# -- fetching -------------------------------------------------------------------------------------
def _write_verified(stream: BinaryIO, target: Path, spec: FileSpec, origin: str) -> None:
    """Stream into a temp file next to `target`, check the hash, then rename into place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        h = hashlib.sha256()
        with os.fdopen(fd, "wb") as out:
            for chunk in iter(lambda: stream.read(_CHUNK), b""):
                h.update(chunk)
                out.write(chunk)
        if h.hexdigest() != spec.sha256:
            raise AssetError(
                f"{spec.rel}: sha256 mismatch in the copy from {origin}: "
                f"expected {spec.sha256}, got {h.hexdigest()}; nothing was kept"
            )
        tmp.chmod(0o644)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def verify_committed(spec: FileSpec) -> str:
    """'verified' when the repo's copy of a committed file matches the manifest, else AssetError."""
    path = REPO_ROOT / spec.rel
    if not path.is_file():
        raise AssetError(f"{spec.rel}: committed file missing from the repository")
    got = sha256_of(path)
    if got != spec.sha256:
        raise AssetError(
            f"{spec.rel}: sha256 does not match {spec.folder}/manifest.yaml: expected {spec.sha256}, got {got}"
        )
    return "verified"


def fetch_file(spec: FileSpec, dest: Path, mirror: Path | None) -> str:
    """Make `dest/spec.rel` a verified copy; returns 'verified', 'copied' or 'downloaded'. A committed file
    (`committed: true` in the manifest) is checked where it is in the repo, never copied."""
    if spec.committed:
        return verify_committed(spec)
    target = dest / spec.rel
    if target.is_file():
        if sha256_of(target) == spec.sha256:
            return "verified"
        target.unlink()  # stale or corrupt: never leave an unverified file in place
    source = mirror / spec.rel if mirror is not None else None
    if source is not None and source.is_file():
        with open(source, "rb") as fh:
            _write_verified(fh, target, spec, str(source))
        return "copied"
    if not spec.url:
        raise AssetError(f"{spec.rel}: not in the mirror ({mirror}) and the manifest has no download URL")
    try:
        with urllib.request.urlopen(spec.url, timeout=DOWNLOAD_TIMEOUT_S) as resp:
            _write_verified(resp, target, spec, spec.url)
    except (urllib.error.URLError, OSError) as e:  # URLError, HTTPError, timeouts, resets
        raise AssetError(
            f"{spec.rel}: not in the mirror ({mirror}) and the download from {spec.url} "
            f"failed: {getattr(e, 'reason', None) or e}"
        ) from e
    return "downloaded"


def fetch_assets(
    dest: Path | None = None,
    mirror: Path | None = None,
    manifests: Iterable[Path] | None = None,
    report: Callable[[FileSpec, str, str], None] | None = None,
) -> dict[str, str]:
    """Fetch every file of `manifests` (default: both repo manifests) into `dest` (default
    `assets_dir()`); `mirror` None = `default_mirror()`.

    Goes through all files, calls `report(spec, status, detail)` for each, and raises AssetError
    listing every failure at the end. Returns {relative path: status}.
    """
    dest = Path(dest) if dest is not None else assets_dir()
    mirror = Path(mirror) if mirror is not None else default_mirror()
    statuses: dict[str, str] = {}
    failures: list[str] = []
    for spec in file_specs(MANIFESTS if manifests is None else manifests):
        try:
            status, detail = fetch_file(spec, dest, mirror), ""
        except AssetError as e:
            status, detail = "FAILED", str(e)
            failures.append(detail)
        statuses[str(spec.rel)] = status
        if report:
            report(spec, status, detail)
    if failures:
        raise AssetError(f"{len(failures)} asset file(s) failed:\n  " + "\n  ".join(failures))
    return statuses


# -- resolving names --------------------------------------------------------------------------------
def _manifest_for(kind: str) -> Path:
    by_kind = {"models": MODELS_MANIFEST, "sample_videos": SAMPLES_MANIFEST}
    if kind not in by_kind:
        raise ValueError(f"unknown asset kind {kind!r}; expected one of {sorted(by_kind)}")
    return by_kind[kind]


def _entry(kind: str, name: str) -> dict:
    _, entries = load_manifest(_manifest_for(kind))
    for e in entries:
        if e["name"] == name:
            return e
    known = ", ".join(e["name"] for e in entries)
    raise AssetError(f"unknown {kind} name {name!r}; known: {known}")


def asset_path(kind: str, name: str, root: Path | None = None) -> Path:
    """Where manifest entry `name` (kind 'models' or 'sample_videos') lives once fetched.

    The path may not exist yet: callers check, and say "run `make assets`". A committed entry (a
    crosswatch-trained model under `models/trained/`) is in the repository: `<repo>/models/<path>`.
    """
    entry = _entry(kind, name)
    if entry.get("committed"):  # in the repo itself (models/trained/...), whatever the assets folder
        return REPO_ROOT / kind / entry["path"]
    return (Path(root) if root is not None else assets_dir()) / kind / entry["path"]


def model_names() -> list[str]:
    """The road-user detector models (`--model`); entries with a `role` (the plate models) are not among them."""
    return [e["name"] for e in load_manifest(MODELS_MANIFEST)[1] if not e.get("role")]


def role_entries(role: str) -> list[dict]:
    """The manifest entries of the models with `role` (e.g. 'plate_detector'), in manifest order."""
    return [e for e in load_manifest(MODELS_MANIFEST)[1] if e.get("role") == role]


def resolve_model(name_or_path: str | Path, root: Path | None = None) -> Path:
    """A manifest model name -> its path under the assets folder (which may not be fetched yet);
    a path -> itself. A bare word that is neither a manifest name nor an existing path is an error."""
    text = str(name_or_path)
    if text in model_names():
        return asset_path("models", text, root)
    path = Path(text).expanduser()
    if path.exists() or isinstance(name_or_path, Path) or "/" in text or os.sep in text or path.suffix:
        return path
    raise AssetError(f"unknown model {text!r}: not a manifest name and no such file; known: {', '.join(model_names())}")


def default_model_name(device: str = "cpu") -> str:
    """The manifest's default for `device`: 'cpu' -> the `default: true` entry; any accelerator
    ('cuda', 'cuda:0', '0', ...) -> the first PyTorch entry with device hint cuda."""
    entries = [e for e in load_manifest(MODELS_MANIFEST)[1] if not e.get("role")]
    if str(device).strip().lower() in ("", "cpu"):
        return next(e["name"] for e in entries if e.get("default") and e["device"] == "cpu")
    return next(e["name"] for e in entries if e["device"] == "cuda")


def _clip_entry(name: str) -> dict:
    entry = _entry("sample_videos", name.removesuffix(".mp4"))
    if entry["kind"] != "clip":
        raise AssetError(f"sample_videos entry {name!r} is a {entry['kind']}, not a clip")
    return entry


def sample_clip(name: str, root: Path | None = None) -> Path:
    """'vn_rear_stopline' (or 'vn_rear_stopline.mp4') -> the clip's path under the assets folder."""
    return asset_path("sample_videos", _clip_entry(name)["name"], root)


def sample_crossing(name: str) -> Path:
    """The committed crossing config that goes with a sample clip."""
    return REPO_ROOT / "sample_videos" / _clip_entry(name)["crossing"]


def sample_truth(name: str, root: Path | None = None) -> Path | None:
    """The truth labels of a sample clip under the assets folder, or None for an unlabelled clip."""
    truth = _clip_entry(name).get("truth")
    return asset_path("sample_videos", truth, root) if truth else None


def sample_clips_with_crossings(root: Path | None = None) -> list[tuple[str, Path, Path]]:
    """(name, clip path under the assets folder, committed crossing file) for every sample clip."""
    return [
        (e["name"], asset_path("sample_videos", e["name"], root), REPO_ROOT / "sample_videos" / e["crossing"])
        for e in load_manifest(SAMPLES_MANIFEST)[1]
        if e["kind"] == "clip"
    ]


# -- CLI -----------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m detector.assets", description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--mirror",
        type=Path,
        default=None,
        help="folder to copy from first (default: $CROSSWATCH_ASSETS_MIRROR or ../shared)",
    )
    ap.add_argument(
        "--dest", type=Path, default=None, help="assets folder (default: $CROSSWATCH_ASSETS_DIR or <repo>/assets)"
    )
    args = ap.parse_args(argv)

    def report(spec: FileSpec, status: str, detail: str) -> None:
        print(f"{status:<10} {spec.rel}" + (f"\n           {detail}" if detail else ""), flush=True)

    try:
        fetch_assets(args.dest, args.mirror, report=report)
    except AssetError as e:  # each failure was printed above with its reason
        print(f"error: {str(e).splitlines()[0].rstrip(':')} (see above)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
