"""Latents, audio and video inside the fake ComfyUI, and real bytes for their files.

Like images (`_images.py`), these carry shapes, not data: a latent knows the pixel size,
frame count or sample count it decodes to; audio is silence; a video is its frames' size,
count and rate. Files are a real (silent) FLAC, and MP4/Matroska placeholders: a valid
container header with no media track.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, replace
from typing import Literal

from ._images import RGB

LatentKind = Literal["image", "video", "audio"]

# Stable Audio: 44.1 kHz stereo, 2048 samples per latent step (comfy_extras/nodes_audio.py).
AUDIO_SAMPLE_RATE = 44100
AUDIO_CHANNELS = 2
AUDIO_DOWNSCALE = 2048


@dataclass(frozen=True)
class Latent:
    """A LATENT value: what it decodes to. Image and video latents decode to `width` x
    `height` pixels, a video latent to `frames` frames per batch item, an audio latent to
    `samples` samples per batch item. `colors`: the colour each batch item decodes to."""

    kind: LatentKind
    colors: tuple[RGB, ...]
    width: int = 0
    height: int = 0
    frames: int = 1
    samples: int = 0

    @property
    def batch(self) -> int:
        return len(self.colors)

    def with_colors(self, colors: tuple[RGB, ...]) -> Latent:
        return replace(self, colors=colors)


@dataclass(frozen=True)
class Audio:
    """An AUDIO value ({"waveform": [batch, channels, samples], "sample_rate"}): silence."""

    sample_rate: int
    channels: int
    samples: int
    batch: int = 1

    @property
    def seconds(self) -> float:
        return self.samples / self.sample_rate if self.sample_rate else 0.0


@dataclass(frozen=True)
class Video:
    """A VIDEO value (CreateVideo's VideoFromComponents): frames, their size and rate."""

    width: int
    height: int
    frames: int
    fps: float
    audio: Audio | None = None

    @property
    def seconds(self) -> float:
        return self.frames / self.fps if self.fps else 0.0


# -- FLAC (what SaveAudio writes) ------------------------------------------------------------

FLAC_BLOCK_SIZE = 4096
_FLAC_RATE_CODES = {
    88200: 1,
    176400: 2,
    192000: 3,
    8000: 4,
    16000: 5,
    22050: 6,
    24000: 7,
    32000: 8,
    44100: 9,
    48000: 10,
    96000: 11,
}


def _crc8(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def _crc16(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x8005) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


def _utf8_number(n: int) -> bytes:
    """A FLAC frame number, coded like an (extended) UTF-8 character."""
    if n < 0x80:
        return bytes((n,))
    length = 2
    while n >= 1 << (5 * length + 1):
        length += 1
    out = [0x80 | ((n >> (6 * i)) & 0x3F) for i in range(length - 1)]
    lead = ((0xFF00 >> length) & 0xFF) | (n >> (6 * (length - 1)))
    return bytes((lead, *reversed(out)))


def _silence_md5(size: int) -> bytes:
    """The MD5 of `size` bytes of zero samples (what STREAMINFO signs)."""
    digest = hashlib.md5(usedforsecurity=False)
    chunk = bytes(min(size, 1 << 20))
    while size > 0:
        digest.update(chunk[:size])
        size -= len(chunk)
    return digest.digest()


def encode_flac(sample_rate: int, channels: int, samples: int) -> bytes:
    """A real 16-bit FLAC stream of `samples` samples of silence per channel.

    Every block is one CONSTANT subframe per channel, so 30 s of stereo take about 6 kB.
    """
    if not 1 <= channels <= 8 or not 1 <= sample_rate < 1 << 20:
        raise ValueError(f"cannot write FLAC with {channels} channels at {sample_rate} Hz")
    streaminfo = struct.pack(">HH", FLAC_BLOCK_SIZE, FLAC_BLOCK_SIZE) + bytes(6)
    streaminfo += struct.pack(
        ">Q", (sample_rate << 44) | ((channels - 1) << 41) | (15 << 36) | samples
    )
    streaminfo += _silence_md5(channels * samples * 2)
    out = bytearray(b"fLaC")
    out += bytes((0x80,)) + len(streaminfo).to_bytes(3, "big") + streaminfo
    rate_code = _FLAC_RATE_CODES.get(sample_rate, 0)
    subframe = b"\x00\x00\x00"  # CONSTANT subframe, no wasted bits, value 0 (16 bits)
    for number, start in enumerate(range(0, samples, FLAC_BLOCK_SIZE)):
        block = min(FLAC_BLOCK_SIZE, samples - start)
        header = bytes((0xFF, 0xF8, (0b0111 << 4) | rate_code, ((channels - 1) << 4) | 0b1000))
        header += _utf8_number(number) + struct.pack(">H", block - 1)
        header += bytes((_crc8(header),))
        frame = header + subframe * channels
        out += frame + struct.pack(">H", _crc16(frame))
    return bytes(out)


def flac_streaminfo(data: bytes) -> tuple[int, int, int] | None:
    """(sample rate, channels, total samples) of a FLAC file, or None if not one."""
    if not data.startswith(b"fLaC") or len(data) < 42 or data[4] & 0x7F != 0:
        return None
    (packed,) = struct.unpack(">Q", data[18:26])
    return packed >> 44, ((packed >> 41) & 0x7) + 1, packed & ((1 << 36) - 1)


# -- video containers (what SaveVideo writes) ------------------------------------------------


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def _ebml(element_id: bytes, payload: bytes) -> bytes:
    return element_id + bytes((0x80 | len(payload),)) + payload


def placeholder_video(video: Video, container: str) -> bytes:
    """Bytes for SaveVideo: an MP4 (ftyp, a moov with only its mvhd carrying the duration,
    an empty mdat) or a Matroska/WebM EBML header. Containers without a media track."""
    if container in ("mkv", "webm"):
        doc_type = b"webm" if container == "webm" else b"matroska"
        header = b"".join(
            (
                _ebml(b"\x42\x86", b"\x01"),  # EBMLVersion
                _ebml(b"\x42\xf7", b"\x01"),  # EBMLReadVersion
                _ebml(b"\x42\xf2", b"\x04"),  # EBMLMaxIDLength
                _ebml(b"\x42\xf3", b"\x08"),  # EBMLMaxSizeLength
                _ebml(b"\x42\x82", doc_type),  # DocType
                _ebml(b"\x42\x87", b"\x04"),  # DocTypeVersion
                _ebml(b"\x42\x85", b"\x02"),  # DocTypeReadVersion
            )
        )
        return _ebml(b"\x1a\x45\xdf\xa3", header)
    ftyp = _box(b"ftyp", b"isom" + struct.pack(">I", 0x200) + b"isomiso2avc1mp41")
    timescale = 1000
    matrix = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
    mvhd = _box(
        b"mvhd",
        struct.pack(">IIIII", 0, 0, 0, timescale, round(video.seconds * timescale))
        + struct.pack(">IH", 0x10000, 0x100)
        + bytes(10)
        + matrix
        + bytes(24)
        + struct.pack(">I", 1),
    )
    return ftyp + _box(b"moov", mvhd) + _box(b"mdat", b"")
