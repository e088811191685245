"""GC's file types, recognised by content (engine.domain.file_types)."""

from __future__ import annotations

import io
import zipfile

import pytest

from engine.domain import file_types as ft


def _zip(entries: list[tuple[str, str]]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name, text in entries:
            z.writestr(name, text)
    return out.getvalue()


DOCX = _zip([
    ("[Content_Types].xml", "<Types/>"), ("_rels/.rels", "<Relationships/>"),
    ("word/document.xml", "<w:document/>"),
])  # fmt: skip
XLSX = _zip([
    ("[Content_Types].xml", "<Types/>"), ("_rels/.rels", "<Relationships/>"),
    ("xl/workbook.xml", "<workbook/>"),
])  # fmt: skip
ODT = _zip([("mimetype", "application/vnd.oasis.opendocument.text"), ("content.xml", "<x/>")])
OLE2 = bytes.fromhex("D0CF11E0A1B11AE1") + bytes(600)


@pytest.mark.parametrize(
    ("content", "name", "expected"),
    [
        (b"%PDF-1.7\n...", "a.pdf", ft.PDF),
        (b"\x89PNG\r\n\x1a\n" + bytes(32), "a.png", ft.PNG),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(32), "a.jpg", ft.JPEG),
        (b"{\\rtf1\\ansi hello}", "a.rtf", ft.RTF),
        (DOCX, "a.docx", ft.DOCX),
        (XLSX, "a.xlsx", ft.XLSX),
        (ODT, "a.odt", ft.ODT),
        (OLE2, "a.doc", ft.DOC),
        (OLE2, "a.xls", ft.XLS),
        ("Bonjour, café\r\n".encode(), "a.txt", ft.TXT),
        (b"a,b\n1,2\n", "a.csv", ft.CSV),
        (b"a,b\n1,2\n", None, ft.TXT),
    ],
)
def test_allowed_types_are_recognised_by_content(
    content: bytes, name: str | None, expected: str
) -> None:
    assert ft.detect(content, name) == expected
    assert ft.allowed(expected)


@pytest.mark.parametrize(
    ("content", "name"),
    [
        (b"MZ\x90\x00" + bytes(200), "report.pdf"),  # a Windows executable, named as a PDF
        (b"\x7fELF\x02\x01\x01" + bytes(100), "notes.txt"),
        (_zip([("evil.js", "alert(1)")]), "a.docx"),  # a plain zip is not a document
        (b"text with a NUL\x00 inside", "a.txt"),
        (b"\xff\xfe not utf-8 \xc3\x28", "a.txt"),
        (b"GIF89a" + bytes(20), "a.gif"),
    ],
)
def test_other_content_is_refused_whatever_its_name(content: bytes, name: str) -> None:
    assert not ft.allowed(ft.detect(content, name))


def test_utf8_cut_at_the_end_of_the_sniffed_window_is_still_text() -> None:
    content = "é".encode() * 5000  # 10,000 bytes: the 8 KiB window cuts nothing here
    assert ft.detect(content, "a.txt") == ft.TXT
    content = b"a" + "é".encode() * 5000  # the window ends in the middle of a character
    assert ft.detect(content, "a.txt") == ft.TXT
