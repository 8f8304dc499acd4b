"""Vendored browser assets are exactly the recorded npm releases (nothing from a CDN)."""

import hashlib
import json
from pathlib import Path

import chengyun

VENDOR = Path(chengyun.__file__).parent / "entrypoints" / "web" / "static" / "vendor"


def test_vendored_files_match_their_recorded_checksums() -> None:
    recorded = json.loads((VENDOR / "versions.json").read_text("utf-8"))
    assert recorded, "versions.json lists no package"
    for package, entry in recorded.items():
        folder = VENDOR / entry["directory"]
        assert entry["version"], package
        # files in sub-folders (leaflet's images/) are recorded by their relative path
        on_disk = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
        assert on_disk == sorted(entry["files"]), package
        for name, digest in entry["files"].items():
            assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest, name
