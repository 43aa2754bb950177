"""Images inside the fake ComfyUI, and real PNG bytes for them (zlib + struct, no PIL).

An image is a batch of solid-colour frames: the fake never needs real pixels, only real
shapes and real files.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

RGB = tuple[int, int, int]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class Image:
    """An IMAGE value: `len(colors)` frames of `width` x `height`, each one solid colour."""

    width: int
    height: int
    colors: tuple[RGB, ...]

    @property
    def batch(self) -> int:
        return len(self.colors)

    def with_colors(self, colors: tuple[RGB, ...]) -> Image:
        return Image(self.width, self.height, colors)


@dataclass(frozen=True)
class Mask:
    """A MASK value (LoadImage's second output)."""

    width: int
    height: int
    batch: int


def rgb_of(color: int) -> RGB:
    return ((color >> 16) & 0xFF, (color >> 8) & 0xFF, color & 0xFF)


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def encode_png(
    width: int,
    height: int,
    rgb: RGB,
    *,
    alpha: int | None = None,
    text: dict[str, str] | None = None,
    compress_level: int = 4,
) -> bytes:
    """A real PNG of one solid colour (RGB, or RGBA when `alpha` is given)."""
    if alpha is None:
        color_type, pixel = 2, bytes(rgb)
    else:
        color_type, pixel = 6, bytes((*rgb, alpha))
    row = b"\x00" + pixel * width
    raw = row * height
    ihdr = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    chunks = [_chunk(b"IHDR", ihdr)]
    for key, value in (text or {}).items():
        chunks.append(_chunk(b"tEXt", key.encode("latin-1") + b"\x00" + value.encode("latin-1")))
    chunks.append(_chunk(b"IDAT", zlib.compress(raw, compress_level)))
    chunks.append(_chunk(b"IEND", b""))
    return PNG_SIGNATURE + b"".join(chunks)


def png_text_chunks(data: bytes) -> dict[str, str]:
    """The tEXt chunks of a PNG (what SaveImage stores the prompt and workflow in)."""
    out: dict[str, str] = {}
    pos = len(PNG_SIGNATURE)
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"tEXt":
            key, _, value = body.partition(b"\x00")
            out[key.decode("latin-1")] = value.decode("latin-1")
        pos += 12 + length
    return out


def probe_png(data: bytes) -> tuple[int, int, RGB] | None:
    """Width, height and the first pixel's colour of an 8-bit PNG, or None if not one.

    The first pixel of the first row is stored unfiltered whatever the filter type (every
    predictor is 0 there), so no unfiltering is needed.
    """
    if not data.startswith(PNG_SIGNATURE) or len(data) < 33 or data[12:16] != b"IHDR":
        return None
    width, height, depth, color_type = struct.unpack(">IIBB", data[16:26])
    idat = bytearray()
    pos = len(PNG_SIGNATURE)
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        if data[pos + 4 : pos + 8] == b"IDAT":
            idat += data[pos + 8 : pos + 8 + length]
        pos += 12 + length
    color: RGB = (128, 128, 128)
    if depth == 8:
        try:
            raw = zlib.decompressobj().decompress(bytes(idat), 8)
        except zlib.error:
            raw = b""
        if color_type in (2, 6) and len(raw) >= 4:
            color = (raw[1], raw[2], raw[3])
        elif color_type in (0, 4) and len(raw) >= 2:
            color = (raw[1], raw[1], raw[1])
    return width, height, color


# A 1x1 lossless WebP: what /view?preview=webp answers with (the fake cannot encode WebP).
TINY_WEBP = bytes.fromhex("524946461a000000574542505650384c0d0000002f00000010071011118888fe0700")


def placeholder_webp(image: Image) -> bytes:
    """Bytes for SaveAnimatedWEBP: a RIFF/WEBP container the fake does not fill with frames."""
    del image
    return TINY_WEBP


# -- the str() of a torch tensor, as ComfyUI puts it in execution_error.current_inputs --------

_EDGE = 3
_THRESHOLD = 1000


def _fmt(value: float, integral: bool) -> str:
    return f"{int(value)}." if integral else f"{value:.4f}"


def tensor_repr(image: Image) -> str:
    """`str(tensor)` for the [B, H, W, 3] float tensor ComfyUI would hold for `image`."""
    values = {c / 255.0 for rgb in image.colors for c in rgb}
    integral = all(v == int(v) for v in values)
    numel = image.batch * image.height * image.width * 3
    summarize = numel > _THRESHOLD

    def pixel(rgb: RGB) -> str:
        return "[" + ", ".join(_fmt(c / 255.0, integral) for c in rgb) + "]"

    def pick(size: int) -> list[int | None]:
        if summarize and size > 2 * _EDGE:
            return [*range(_EDGE), None, *range(size - _EDGE, size)]
        return list(range(size))

    def join(parts: list[str], dim: int, indent: int) -> str:
        return "[" + ("," + "\n" * (dim - 1) + " " * (indent + 1)).join(parts) + "]"

    def row(rgb: RGB, indent: int) -> str:
        return join(["..." if i is None else pixel(rgb) for i in pick(image.width)], 2, indent)

    def frame(rgb: RGB, indent: int) -> str:
        rows = ["..." if i is None else row(rgb, indent + 1) for i in pick(image.height)]
        return join(rows, 3, indent)

    frames = ["..." if i is None else frame(image.colors[i], 8) for i in pick(image.batch)]
    return "tensor(" + join(frames, 4, 7) + ")"
