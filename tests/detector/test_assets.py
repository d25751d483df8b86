"""detector.assets: fetching with SHA-256 checks (small temp files) and name resolution."""

from __future__ import annotations

import hashlib
import socket
from pathlib import Path

import pytest
import yaml

from detector import assets
from detector.assets import AssetError, FileSpec, fetch_assets, fetch_file, resolve_model

GOOD = b"weights v1\n"
GOOD_SHA = hashlib.sha256(GOOD).hexdigest()


def _closed_port_url() -> str:
    with socket.socket() as s:  # bind, read the port, close: nothing listens there afterwards
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/w.bin"


def _manifest(tmp: Path, url: str | None) -> Path:
    path = tmp / "manifest.yaml"
    entry = {
        "name": "w",
        "path": "w.bin",
        "files": [{"file": "w.bin", "size": len(GOOD), "sha256": GOOD_SHA, "url": url}],
    }
    path.write_text(yaml.safe_dump({"folder": "models", "entries": [entry]}))
    return path


# (case, bytes in the mirror or None, bytes already in dest or None, url kind,
#  expected status or None for an error, words the error must contain)
CASES = [
    ("copied from mirror", GOOD, None, "none", "copied", []),
    ("already present is kept", None, GOOD, "none", "verified", []),
    ("stale dest replaced from mirror", GOOD, b"old", "none", "copied", []),
    ("mirror has wrong bytes", b"tampered", None, "none", None, ["models/w.bin", "sha256 mismatch", GOOD_SHA]),
    ("download from file url", None, None, "file-ok", "downloaded", []),
    ("download has wrong bytes", None, None, "file-bad", None, ["models/w.bin", "sha256 mismatch"]),
    ("missing, url to missing file", None, None, "file-missing", None, ["models/w.bin", "download", "failed"]),
    ("missing, url to closed port", None, None, "closed-port", None, ["models/w.bin", "download", "failed"]),
    ("missing, no url", None, None, "none", None, ["models/w.bin", "no download URL"]),
]


@pytest.mark.parametrize("case,mirror_bytes,dest_bytes,url_kind,expected,words", CASES, ids=[c[0] for c in CASES])
def test_fetch_file(tmp_path, case, mirror_bytes, dest_bytes, url_kind, expected, words):
    mirror, dest, web = tmp_path / "mirror", tmp_path / "dest", tmp_path / "web"
    web.mkdir()
    (web / "ok.bin").write_bytes(GOOD)
    (web / "bad.bin").write_bytes(b"not the weights")
    url = {
        "none": None,
        "file-ok": (web / "ok.bin").as_uri(),
        "file-bad": (web / "bad.bin").as_uri(),
        "file-missing": (web / "gone.bin").as_uri(),
        "closed-port": _closed_port_url(),
    }[url_kind]
    if mirror_bytes is not None:
        (mirror / "models").mkdir(parents=True)
        (mirror / "models" / "w.bin").write_bytes(mirror_bytes)
    if dest_bytes is not None:
        (dest / "models").mkdir(parents=True)
        (dest / "models" / "w.bin").write_bytes(dest_bytes)
    spec = FileSpec("models", "w.bin", GOOD_SHA, len(GOOD), url)
    target = dest / "models" / "w.bin"

    if expected is None:
        with pytest.raises(AssetError) as err:
            fetch_file(spec, dest, mirror)
        for w in words:
            assert w in str(err.value)
        assert not target.exists()  # no partial, stale or unverified file is left behind
    else:
        assert fetch_file(spec, dest, mirror) == expected
        assert target.read_bytes() == GOOD
    leftovers = [p.name for p in (dest / "models").glob(".*")] if (dest / "models").exists() else []
    assert leftovers == []  # temp files are always cleaned up


def test_fetch_assets_reports_every_file_and_fails_at_the_end(tmp_path):
    (tmp_path / "models").mkdir()
    good = _manifest(tmp_path / "models", None)
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        yaml.safe_dump(
            {
                "folder": "models",
                "entries": [
                    {
                        "name": "x",
                        "path": "x.bin",
                        "files": [{"file": "x.bin", "size": 1, "sha256": "0" * 64, "url": None}],
                    }
                ],
            }
        )
    )
    mirror = tmp_path / "mirror"
    (mirror / "models").mkdir(parents=True)
    (mirror / "models" / "w.bin").write_bytes(GOOD)
    seen = []
    with pytest.raises(AssetError, match=r"1 asset file\(s\) failed:\n  models/x.bin"):
        fetch_assets(tmp_path / "dest", mirror, [bad, good], report=lambda s, st, d: seen.append((str(s.rel), st)))
    assert seen == [("models/x.bin", "FAILED"), ("models/w.bin", "copied")]
    assert fetch_assets(tmp_path / "dest", mirror, [good]) == {"models/w.bin": "verified"}


def test_cli_exit_status(tmp_path, monkeypatch, capsys):
    man = _manifest(tmp_path, None)
    monkeypatch.setattr(assets, "MANIFESTS", (man,))
    assert assets.main(["--mirror", str(tmp_path / "nowhere"), "--dest", str(tmp_path / "d")]) == 1
    out = capsys.readouterr()
    assert "FAILED     models/w.bin" in out.out and "error: 1 asset file(s) failed" in out.err
    (tmp_path / "m" / "models").mkdir(parents=True)
    (tmp_path / "m" / "models" / "w.bin").write_bytes(GOOD)
    assert assets.main(["--mirror", str(tmp_path / "m"), "--dest", str(tmp_path / "d")]) == 0
    assert "copied     models/w.bin" in capsys.readouterr().out


def test_env_overrides_default_folders(tmp_path, monkeypatch):
    monkeypatch.setenv("CROSSWATCH_ASSETS_DIR", str(tmp_path / "a"))
    monkeypatch.setenv("CROSSWATCH_ASSETS_MIRROR", str(tmp_path / "m"))
    assert assets.assets_dir() == tmp_path / "a"
    assert assets.default_mirror() == tmp_path / "m"
    monkeypatch.delenv("CROSSWATCH_ASSETS_DIR")
    monkeypatch.delenv("CROSSWATCH_ASSETS_MIRROR")
    assert assets.assets_dir() == assets.REPO_ROOT / "assets"
    assert assets.default_mirror() == assets.REPO_ROOT.parent / "shared"


# -- resolving ------------------------------------------------------------------------------------
def test_resolve_model_by_name_path_and_unknown(tmp_path):
    root = tmp_path / "assets"
    folder = root / "models" / "yolo11n_int8_openvino_model"
    assert resolve_model("yolo11n-openvino-int8", root) == folder  # where `make assets` puts it
    assert resolve_model("yolo11n-pt", root) == root / "models" / "yolo11n.pt"

    own = tmp_path / "custom.pt"
    own.write_bytes(b"x")
    assert resolve_model(str(own), root) == own
    assert resolve_model(own, root) == own
    assert resolve_model("not/fetched.onnx", root) == Path("not/fetched.onnx")  # a path stays a path

    with pytest.raises(AssetError) as err:
        resolve_model("yolo99-huge", root)
    assert "unknown model 'yolo99-huge'" in str(err.value)
    for name in ("yolo11n-openvino-int8", "yolov8n-openvino-int8", "yolov8n-int8-onnx", "yolo11n-pt", "yolov8n-pt"):
        assert name in str(err.value)


@pytest.mark.parametrize(
    "device,name",
    [
        ("cpu", "yolo11n-openvino-int8"),
        ("", "yolo11n-openvino-int8"),
        ("cuda", "yolo11n-pt"),
        ("cuda:0", "yolo11n-pt"),
        ("0", "yolo11n-pt"),
    ],
)
def test_default_model_name(device, name):
    assert assets.default_model_name(device) == name


def test_sample_resolvers(tmp_path):
    root = tmp_path / "assets"
    for name in ("vn_rear_stopline", "vn_rear_stopline.mp4"):
        assert assets.sample_clip(name, root) == root / "sample_videos" / "vn_rear_stopline.mp4"
    assert (
        assets.sample_crossing("vn_rear_stopline")
        == assets.REPO_ROOT / "sample_videos" / "vn_rear_stopline.crossing.yaml"
    )
    assert assets.sample_truth("vn_rear_stopline", root) == root / "sample_videos" / "vn_rear_stopline.truth.json"
    assert assets.sample_truth("hanoi_giangvo_langha", root) is None
    with pytest.raises(AssetError, match="is a truth, not a clip"):
        assets.sample_clip("vn_rear_stopline.truth", root)
    with pytest.raises(AssetError, match="unknown sample_videos name 'nope'"):
        assets.sample_clip("nope", root)
    listed = assets.sample_clips_with_crossings(root)
    assert [n for n, _, _ in listed] == [
        "vn_rear_stopline",
        "hanoi_giangvo_langha",
        "makassar_alauddin_dusk",
        "nl_motorway_overpass",
        "intel_parking_lot",
    ]
    for name, clip, crossing in listed:
        assert clip == root / "sample_videos" / f"{name}.mp4" and crossing.is_file()


# -- the real manifests --------------------------------------------------------------------------------
def _listed(folder: str) -> dict[str, FileSpec]:
    return {s.file: s for s in assets.file_specs() if s.folder == folder and not s.committed}


@pytest.mark.needs_assets
@pytest.mark.parametrize("folder", ["models", "sample_videos"])
def test_real_manifests_match_the_shared_mirror(folder):
    mirror = assets.default_mirror() / folder
    if not mirror.is_dir():
        pytest.skip(f"shared mirror {mirror} not present (set CROSSWATCH_ASSETS_MIRROR to check the manifests)")
    listed = _listed(folder)
    on_disk = {str(p.relative_to(mirror)) for p in mirror.rglob("*") if p.is_file()}
    assert sorted(on_disk - set(listed)) == [], "files in the mirror that no manifest lists"
    assert sorted(set(listed) - on_disk) == [], "manifest files missing from the mirror"
    for rel, spec in listed.items():
        path = mirror / rel
        assert path.stat().st_size == spec.size, rel
        assert assets.sha256_of(path) == spec.sha256, rel


def test_load_manifest_parses_each_text_once_and_hands_out_copies(tmp_path, monkeypatch):
    path = _manifest(tmp_path, None)
    calls = []
    real = assets.safe_load
    monkeypatch.setattr(assets, "safe_load", lambda text: calls.append(text) or real(text))
    assets._parse_manifest.cache_clear()
    folder, entries = assets.load_manifest(path)
    entries[0]["name"] = "changed by the caller"
    assert assets.load_manifest(path) == (folder, [{**entries[0], "name": "w"}])
    assert len(calls) == 1  # the same text: parsed once
    path.write_text(path.read_text().replace("w.bin", "v.bin"))
    assert assets.load_manifest(path)[1][0]["path"] == "v.bin"  # a changed file is parsed again
    assert len(calls) == 2


def test_real_manifests_are_well_formed():
    for manifest in assets.MANIFESTS:
        folder, entries = assets.load_manifest(manifest)
        assert folder == manifest.parent.name
        names = [e["name"] for e in entries]
        assert len(names) == len(set(names)), f"{manifest}: duplicate names"
        for e in entries:
            assert e["licence"] and e["source"], e["name"]
            files = [f["file"] for f in e["files"]]
            assert e["path"] in files or all(f.startswith(e["path"] + "/") for f in files), e["name"]
            for f in e["files"]:
                assert len(f["sha256"]) == 64 and f["size"] > 0, f["file"]
                if "repo" in e["source"]:  # public source: the URL is built from repo @ commit: path
                    src = e["source"]
                    assert f["url"].startswith(f"https://raw.githubusercontent.com/{src['repo']}/{src['commit']}/"), f[
                        "file"
                    ]
            if e.get("kind") == "clip":
                assert (manifest.parent / e["crossing"]).is_file(), e["crossing"]
                assert e["truth"] is None or e["truth"] in names
    models = assets.load_manifest(assets.MODELS_MANIFEST)[1]
    assert [m["name"] for m in models if m.get("default")] == ["yolo11n-openvino-int8"]
    for m in models:
        if m.get("role"):  # HyperLPR3 plate models
            assert m["role"] in ("plate_detector", "plate_colour", "licence") and m["licence"] == "Apache-2.0", m[
                "name"
            ]
            assert m["source"]["repo"] == "szad670401/HyperLPR" and m["name"] not in assets.model_names()
            continue
        assert m["licence"] == "AGPL-3.0" and m["device"] in ("cpu", "cuda")
        if m["format"] == "pytorch":  # derived from the INT8 IR: no public URL
            assert all(f["url"] is None for f in m["files"]) and "derived_from" in m["source"]


# -- committed build outputs (models/trained/) ------------------------------------------------------------
def test_committed_files_are_verified_in_place_never_fetched(tmp_path, monkeypatch):
    monkeypatch.setattr(assets, "REPO_ROOT", tmp_path)
    (tmp_path / "models" / "trained").mkdir(parents=True)
    good = tmp_path / "models" / "trained" / "m.bin"
    good.write_bytes(b"weights")
    spec = FileSpec("models", "trained/m.bin", hashlib.sha256(b"weights").hexdigest(), 7, None, committed=True)
    dest = tmp_path / "assets"
    assert assets.fetch_file(spec, dest, mirror=None) == "verified"
    assert not (dest / "models" / "trained" / "m.bin").exists()  # nothing copied
    good.write_bytes(b"changed")
    with pytest.raises(AssetError, match=r"trained/m.bin: sha256 does not match models/manifest.yaml"):
        assets.fetch_file(spec, dest, mirror=None)
    good.unlink()
    with pytest.raises(AssetError, match="committed file missing"):
        assets.fetch_file(spec, dest, mirror=None)


def test_committed_models_verify_and_resolve_into_the_repo():
    committed = [s for s in assets.file_specs() if s.committed]
    for spec in committed:
        assert spec.file.startswith("trained/"), spec.file
        assert assets.verify_committed(spec) == "verified"
    for e in assets.load_manifest(assets.MODELS_MANIFEST)[1]:
        if e.get("committed"):
            assert assets.resolve_model(e["name"]) == assets.REPO_ROOT / "models" / e["path"]
            assert sum(f["size"] for f in e["files"]) <= 10 * 1024 * 1024, e["name"]
