"""Photos are judged by content, re-encoded upright and without their metadata."""

import io

import pytest
from PIL import Image

from chengyun.adapters.photos import PhotoStore
from chengyun.domain.errors import InvalidInput
from tests.factories import png


def jpeg_with_gps() -> bytes:
    image = Image.new("RGB", (4, 2), (200, 30, 30))
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° to be upright
    exif[0x8825] = {1: "N", 2: (31.0, 9.0, 0.0), 3: "E", 4: (121.0, 6.0, 0.0)}  # GPS
    exif[0x010F] = "PhoneMaker"
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    return out.getvalue()


def test_metadata_is_stripped_and_orientation_applied(tmp_path) -> None:
    store = PhotoStore(tmp_path)
    original = jpeg_with_gps()
    assert Image.open(io.BytesIO(original)).getexif()  # the phone's photo carries EXIF
    stored = store.save(original)
    with Image.open(stored.path) as kept:
        assert not kept.getexif()
        assert kept.size == (2, 4)  # turned upright, then the orientation tag dropped
    assert stored.content_type == "image/jpeg" and stored.path.read_bytes() != original


def test_png_webp_kept_in_their_format(tmp_path) -> None:
    store = PhotoStore(tmp_path)
    assert store.save(png()).content_type == "image/png"
    out = io.BytesIO()
    Image.new("RGB", (3, 3)).save(out, "WEBP")
    assert store.save(out.getvalue()).content_type == "image/webp"


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b"", "empty"),
        (b"GIF89a....", "type"),
        (b"\x00\x00\x00\x18ftypheic" + b"\x00" * 20, "type"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 50, "corrupt"),
    ],
)
def test_bad_uploads_are_refused_with_a_reason(tmp_path, data: bytes, kind: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        PhotoStore(tmp_path).save(data, "photos[0]")
    assert refused.value.problems[0].kind == kind
    assert refused.value.problems[0].location == ("photos[0]",)


def test_size_limit(tmp_path) -> None:
    with pytest.raises(InvalidInput, match="too large"):
        PhotoStore(tmp_path, max_bytes=100).save(png(40, 40))
