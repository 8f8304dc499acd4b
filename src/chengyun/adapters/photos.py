"""Photos on disk: type checked by content (not by the name or the declared type),
size-limited, re-encoded without their metadata (a phone's EXIF carries the photographer's
position, device and time — the platform records positions itself, separately), and
stored once by their SHA-256 under the data directory."""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps

from chengyun.domain.errors import InvalidInput, Problem

MAX_PHOTO_BYTES = 10 * 1024 * 1024
#: Larger images are refused before they are decoded (decompression bombs).
MAX_PIXELS = 50_000_000

#: Leading bytes of the image formats phones send, and the type each one is.
SIGNATURES: tuple[tuple[bytes, int, str, str], ...] = (
    (b"\xff\xd8\xff", 0, "image/jpeg", "jpg"),
    (b"\x89PNG\r\n\x1a\n", 0, "image/png", "png"),
    (b"WEBP", 8, "image/webp", "webp"),
)
HEIF_BRANDS = (b"ftypheic", b"ftypheix", b"ftypmif1", b"ftyphevc")
FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}


@dataclass(frozen=True)
class StoredPhoto:
    sha256: str
    content_type: str
    size: int
    path: Path


def sniff(data: bytes) -> tuple[str, str] | None:
    """The content type and extension of an image, judged by its first bytes."""
    for signature, offset, content_type, extension in SIGNATURES:
        if data[offset : offset + len(signature)] == signature:
            if content_type == "image/webp" and not data.startswith(b"RIFF"):
                continue
            return content_type, extension
    return None


class PhotoStore:
    def __init__(self, root: Path, max_bytes: int = MAX_PHOTO_BYTES) -> None:
        self.root = root
        self.max_bytes = max_bytes

    def check(self, data: bytes, field: str = "photos") -> tuple[str, str]:
        if not data:
            raise InvalidInput(
                "照片为空 / the photo is empty", [Problem((field,), "empty file", "empty")]
            )
        if len(data) > self.max_bytes:
            raise InvalidInput(
                "照片过大 / photo too large",
                [
                    Problem(
                        (field,),
                        f"照片不能超过 {self.max_bytes // (1024 * 1024)} MB / a photo "
                        f"may be at most {self.max_bytes // (1024 * 1024)} MB, this one "
                        f"is {len(data) / (1024 * 1024):.1f} MB",
                        "size",
                    )
                ],
            )
        kind = sniff(data)
        if kind is None and data[4:12] in HEIF_BRANDS:
            raise InvalidInput(
                "暂不支持 HEIC 照片 / HEIC photos are not accepted",
                [
                    Problem(
                        (field,),
                        "请在手机设置中选择“兼容性最佳”(JPEG) / set the camera to "
                        "'Most Compatible' (JPEG) or convert the photo",
                        "type",
                    )
                ],
            )
        if kind is None:
            raise InvalidInput(
                "不是支持的图片 / not a supported image",
                [
                    Problem(
                        (field,),
                        "照片须为 JPEG、PNG 或 WebP 图片 / a photo must be a JPEG, PNG "
                        "or WebP image (judged by its content)",
                        "type",
                    )
                ],
            )
        return kind

    def clean(self, data: bytes, content_type: str, field: str = "photos") -> bytes:
        """The image re-encoded without metadata, turned upright first (EXIF orientation)."""
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                with Image.open(io.BytesIO(data)) as image:
                    if image.width * image.height > MAX_PIXELS:
                        raise InvalidInput(
                            "照片像素过多 / the photo has too many pixels",
                            [Problem((field,), f"at most {MAX_PIXELS:,} pixels", "size")],
                        )
                    image.load()
                    upright = ImageOps.exif_transpose(image)
                    out = io.BytesIO()
                    fmt = FORMATS[content_type]
                    if fmt == "JPEG":
                        upright.convert("RGB").save(out, fmt, quality=88, optimize=True)
                    else:
                        upright.save(out, fmt)
                    return out.getvalue()
        except InvalidInput:
            raise
        except (
            OSError,
            ValueError,
            SyntaxError,
            Image.DecompressionBombError,
            Image.DecompressionBombWarning,
        ) as exc:
            raise InvalidInput(
                "照片已损坏或无法读取 / the photo is damaged or cannot be read",
                [Problem((field,), f"{type(exc).__name__}: {exc}", "corrupt")],
            ) from exc

    def save(self, data: bytes, field: str = "photos") -> StoredPhoto:
        """Check, clean and store ``data``; storing the same image twice keeps one file."""
        content_type, extension = self.check(data, field)
        data = self.clean(data, content_type, field)
        digest = hashlib.sha256(data).hexdigest()
        path = self.path_for(digest, extension)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            # write then rename, so a reader never sees half a photo
            with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as handle:
                handle.write(data)
                temporary = Path(handle.name)
            os.replace(temporary, path)
        return StoredPhoto(digest, content_type, len(data), path)

    def path_for(self, digest: str, extension: str) -> Path:
        return self.root / digest[:2] / f"{digest}.{extension}"

    def open(self, digest: str, content_type: str) -> Path:
        extension = next(e for _, _, t, e in SIGNATURES if t == content_type)
        return self.path_for(digest, extension)
