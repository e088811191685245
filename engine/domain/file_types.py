"""Which files may be sent: GC Notify's list of types, recognised by content, not by name.

GC's documentation lists .pdf, .csv, .txt, .jpeg, .png, .doc, .docx, .xls, .xlsx, .rtf and
.odt; its document-download API checks the MIME type libmagic reads from the content
(``application/CDFV2`` standing for legacy Office files, whose kind libmagic cannot tell)
and answers 400 ``Unsupported file type '<type>'. Supported types are: ...`` otherwise.

Rules:
- The content decides (``filetype``'s magic numbers: PDF, PNG, JPEG, RTF, and the zip
  packages DOCX, XLSX, ODT, which it recognises by their first entries). Two kinds
  carry no magic number and are checked here: a legacy Office file (OLE2 compound file:
  .doc / .xls, told apart by the filename, as GC's libmagic cannot either), and text
  (.txt / .csv: UTF-8 without NUL or other control characters but tab, CR, LF, FF; CSV
  by its filename, as GC does).
- The filename never widens the list: ``report.pdf`` holding a Windows executable is an
  ``application/x-msdownload`` and refused; it only chooses between the types the content
  allows (.csv or .txt, .doc or .xls).
- An empty file is refused before any of this (``engine.api.v2.files``).
- ``filetype`` (pure Python, no native libmagic): it reads the first 8 KiB only; the
  whole check is well under a millisecond for a 10 MiB file.
"""

from __future__ import annotations

import filetype

PDF = "application/pdf"
CSV = "text/csv"
TXT = "text/plain"
DOC = "application/msword"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLS = "application/vnd.ms-excel"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
JPEG = "image/jpeg"
PNG = "image/png"
RTF = "application/rtf"
ODT = "application/vnd.oasis.opendocument.text"

ALLOWED = (PDF, CSV, TXT, DOC, DOCX, JPEG, PNG, XLS, XLSX, RTF, ODT)
ALLOWED_EXTENSIONS = "pdf, csv, txt, doc, docx, jpeg, jpg, png, xls, xlsx, rtf, odt"

_OLE2 = bytes.fromhex("D0CF11E0A1B11AE1")
_SNIFF = 8192
# Control characters text may not hold: all but tab, LF, FF, CR.
_BAD_BYTES = bytes(b for b in [*range(32), 127] if b not in b"\t\n\x0c\r")


def detect(content: bytes, filename: str | None) -> str:
    """The MIME type of ``content`` (``application/octet-stream`` if unknown)."""
    head = content[:_SNIFF]
    name = (filename or "").lower()
    if head.startswith(_OLE2):
        return XLS if name.endswith(".xls") else DOC
    kind = filetype.guess_mime(head)
    if kind is not None:
        return str(kind)
    if _is_text(head, complete=len(content) <= _SNIFF):
        return CSV if name.endswith(".csv") else TXT
    return "application/octet-stream"


def _is_text(head: bytes, *, complete: bool) -> bool:
    if len(head.translate(None, _BAD_BYTES)) != len(head):
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # The sniffed window may cut a multi-byte character in two at its end.
        return (
            not complete and exc.start >= len(head) - 3 and exc.reason == "unexpected end of data"
        )
    return True


def allowed(mime_type: str) -> bool:
    return mime_type in ALLOWED
