"""Types are read from the bytes: every accepted type is recognised, everything else refused, names ignored."""

from __future__ import annotations

from pathlib import Path

import pytest

from cornerstone.kernel.artifacts import sniff as types
from cornerstone.kernel.artifacts.service import sanitize_filename
from cornerstone.kernel.artifacts.sniff import UnsupportedMediaType, sniff
from cornerstone.kit.content_disposition import attachment
from tests import artifact_samples as samples


def typed(tmp_path: Path, content: bytes, filename: str = "file") -> str:
    path = tmp_path / "upload"
    path.write_bytes(content)
    return sniff(path, filename)


@pytest.mark.parametrize(
    ("content", "filename", "expected"),
    [
        (samples.PDF, "memo.pdf", types.PDF),
        (samples.png_1x1(), "pixel.png", types.PNG),
        (samples.JPEG, "photo.jpg", types.JPEG),
        (samples.GIF, "anim.gif", types.GIF),
        (samples.WEBP, "img.webp", types.WEBP),
        (samples.TIFF, "scan.tif", types.TIFF),
        (samples.docx(), "lease.docx", types.DOCX),
        (samples.xlsx(), "rent-roll.xlsx", types.XLSX),
        (samples.ole("WordDocument"), "old.doc", types.DOC),
        (samples.ole("Workbook"), "old.xls", types.XLS),
        (samples.CSV, "rent-roll.csv", types.CSV),
        (samples.CSV, "rent-roll.txt", types.TEXT),
        (samples.TEXT, "notes.txt", types.TEXT),
        # The name never decides: bytes of one type under another type's name are typed by their bytes.
        (samples.PDF, "photo.png", types.PDF),
        (samples.TEXT, "statement.pdf", types.TEXT),
        (samples.png_1x1(), "rent-roll.csv", types.PNG),
    ],
)
def test_accepted_types_are_recognised_from_their_bytes(
    tmp_path: Path, content: bytes, filename: str, expected: str
) -> None:
    assert typed(tmp_path, content, filename) == expected


@pytest.mark.parametrize(
    ("content", "filename"),
    [
        (samples.ELF, "report.pdf"),
        (samples.EXE, "lease.docx"),
        (samples.plain_zip(), "model.xlsx"),
        (b"PK\x03\x04 not really a zip", "model.xlsx"),
        (samples.ole("\x05SummaryInformation"), "setup.doc"),  # a compound file, but no Office stream
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1 truncated", "old.xls"),
        (b"text with a NUL \x00 byte", "notes.txt"),
        (b"latin-1 \xe9t\xe9", "notes.txt"),
        (b"\x1f\x8b\x08\x00" + b"\x00" * 16, "archive.csv"),  # gzip
    ],
)
def test_anything_else_is_unsupported_whatever_its_name(tmp_path: Path, content: bytes, filename: str) -> None:
    with pytest.raises(UnsupportedMediaType) as refused:
        typed(tmp_path, content, filename)
    assert (refused.value.status, refused.value.code) == (415, "UNSUPPORTED_MEDIA_TYPE")


def test_a_csv_name_on_text_that_does_not_parse_as_csv_is_plain_text(tmp_path: Path) -> None:
    assert typed(tmp_path, b'a,b\n"unterminated,c\n', "broken.csv") == types.TEXT


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("lease.pdf", "lease.pdf"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\gp\\Rent Roll.xlsx", "Rent Roll.xlsx"),
        ("  .hidden  ", "hidden"),
        ("invoice\u202efdp.exe", "invoicefdp.exe"),  # a right-to-left override would disguise the extension
        ("line\r\nbreak.txt", "linebreak.txt"),
        ("Cafe\u0301.txt", "Café.txt"),  # NFC
        ("..", "upload"),
        ("", "upload"),
    ],
)
def test_file_names_are_sanitized(raw: str, stored: str) -> None:
    assert sanitize_filename(raw) == stored


def test_long_file_names_keep_their_extension_within_255_characters() -> None:
    name = sanitize_filename("x" * 400 + ".pdf")
    assert len(name) == 255
    assert name.endswith("x.pdf")


def test_the_content_disposition_of_any_name_is_one_safe_header_value() -> None:
    header = attachment('Rent "roll"; evil=1\\.csv')
    assert header == (
        "attachment; filename=\"Rent _roll_; evil=1_.csv\"; filename*=UTF-8''Rent%20%22roll%22%3B%20evil%3D1%5C.csv"
    )
    assert attachment("Café €.pdf").endswith("filename*=UTF-8''Caf%C3%A9%20%E2%82%AC.pdf")
    injected = attachment("a\r\nSet-Cookie: x")
    assert "\r" not in injected
    assert "\n" not in injected
