"""What a file is, read from its bytes: never from its name or a client's ``Content-Type``.

Accepted: PDF, PNG, JPEG, GIF, WEBP, TIFF, Office documents (OOXML: docx, xlsx, pptx; legacy
OLE compound files: doc, xls, ppt), CSV and plain text. Anything else is refused (415). The
name is consulted for one thing only: UTF-8 text named ``*.csv`` that parses as CSV is
``text/csv`` rather than ``text/plain``; a name never makes bytes acceptable.

Office files are recognised by their structure, not a magic number alone: a ZIP is OOXML only
with ``[Content_Types].xml`` and a ``word/``, ``xl/`` or ``ppt/`` part (only the ZIP's central
directory is read, nothing is decompressed); an OLE file only with a ``WordDocument``,
``Workbook``/``Book`` or ``PowerPoint Document`` stream in its directory, so other compound
files (installers, Outlook messages) are refused.
"""

from __future__ import annotations

import codecs
import csv
import struct
import zipfile
from pathlib import Path

from cornerstone.kit.problems import AppError

PDF = "application/pdf"
PNG = "image/png"
JPEG = "image/jpeg"
GIF = "image/gif"
WEBP = "image/webp"
TIFF = "image/tiff"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
DOC = "application/msword"
XLS = "application/vnd.ms-excel"
PPT = "application/vnd.ms-powerpoint"
CSV = "text/csv"
TEXT = "text/plain"

_CHUNK = 1 << 16
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_OOXML_PARTS = (("word/", DOCX), ("xl/", XLSX), ("ppt/", PPTX))
_OLE_STREAMS = (("WordDocument", DOC), ("Workbook", XLS), ("Book", XLS), ("PowerPoint Document", PPT))


class UnsupportedMediaType(AppError):
    """The uploaded file's content is not an accepted type; the type is read from the bytes, never from the name or the
    part's ``Content-Type``."""

    status = 415
    code = "UNSUPPORTED_MEDIA_TYPE"
    title = "Unsupported media type"

    def __init__(self) -> None:
        super().__init__(
            "The file's content is not an accepted type (PDF, PNG, JPEG, GIF, WEBP, TIFF, Office documents, "
            "CSV or UTF-8 text); its type is read from its bytes, not its name."
        )


def _magic_type(head: bytes) -> str | None:
    if head.startswith(b"%PDF-"):
        return PDF
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith((b"GIF87a", b"GIF89a")):
        return GIF
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return TIFF
    return None


def _ooxml_type(path: Path) -> str | None:
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return None
    if "[Content_Types].xml" not in names:
        return None
    for prefix, mime_type in _OOXML_PARTS:
        if any(name.startswith(prefix) for name in names):
            return mime_type
    return None


def _ole_stream_names(data: bytes) -> set[str]:
    """Names in a compound file's directory (MS-CFB), or an empty set if it does not parse."""
    if len(data) < 512 or not data.startswith(_OLE_MAGIC):
        return set()
    sector_size = 1 << struct.unpack_from("<H", data, 30)[0]
    if sector_size not in (512, 4096):
        return set()
    fat_sector_count, first_dir_sector = struct.unpack_from("<II", data, 44)
    first_difat_sector, difat_sector_count = struct.unpack_from("<II", data, 68)
    sectors = (len(data) - sector_size) // sector_size

    def sector(number: int) -> bytes:
        if not 0 <= number < sectors:
            raise ValueError("sector out of range")
        start = sector_size + number * sector_size
        return data[start : start + sector_size]

    fat_sectors = [n for n in struct.unpack_from("<109I", data, 76) if n < 0xFFFFFFFA]
    difat, seen = first_difat_sector, 0
    while difat < 0xFFFFFFFA and seen < difat_sector_count:
        entries = struct.unpack(f"<{sector_size // 4}I", sector(difat))
        fat_sectors += [n for n in entries[:-1] if n < 0xFFFFFFFA]
        difat, seen = entries[-1], seen + 1
    fat_sectors = fat_sectors[:fat_sector_count]
    fat: list[int] = []
    for number in fat_sectors:
        fat.extend(struct.unpack(f"<{sector_size // 4}I", sector(number)))

    names: set[str] = set()
    current, visited = first_dir_sector, 0
    while current < 0xFFFFFFFA:
        visited += 1
        if visited > sectors or current >= len(fat):
            raise ValueError("directory chain does not end")
        block = sector(current)
        for offset in range(0, sector_size, 128):
            name_length = struct.unpack_from("<H", block, offset + 64)[0]
            if 2 <= name_length <= 64:
                names.add(block[offset : offset + name_length - 2].decode("utf-16-le", errors="replace"))
        current = fat[current]
    return names


def _ole_type(path: Path) -> str | None:
    try:
        names = _ole_stream_names(path.read_bytes())
    except (ValueError, struct.error, OSError):
        return None
    for stream, mime_type in _OLE_STREAMS:
        if stream in names:
            return mime_type
    return None


def _is_utf8_text(path: Path) -> bool:
    decoder = codecs.getincrementaldecoder("utf-8")()
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            if b"\x00" in chunk:
                return False
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError:
                return False
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _parses_as_csv(path: Path) -> bool:
    try:
        with path.open(encoding="utf-8-sig", newline="") as stream:
            rows = sum(1 for _ in csv.reader(stream, strict=True))
    except (csv.Error, UnicodeDecodeError):
        return False
    return rows > 0


def sniff(path: Path, filename: str) -> str:
    """The MIME type of the file at ``path``, from its bytes; ``UnsupportedMediaType`` if not accepted."""
    with path.open("rb") as stream:
        head = stream.read(16)
    mime_type = _magic_type(head)
    if mime_type is not None:
        return mime_type
    if head.startswith(b"PK\x03\x04"):
        mime_type = _ooxml_type(path)
    elif head.startswith(_OLE_MAGIC):
        mime_type = _ole_type(path)
    elif _is_utf8_text(path):
        mime_type = CSV if filename.lower().endswith(".csv") and _parses_as_csv(path) else TEXT
    if mime_type is None:
        raise UnsupportedMediaType()
    return mime_type
