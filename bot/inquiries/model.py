"""An inquiry's metadata, read from its folder's optional ``inquiry.json``."""

from __future__ import annotations

import enum
import json
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from bot.documents import DOCUMENT_SUFFIXES, CorpusError, read_meta

INQUIRY_FILE = "inquiry.json"
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
_KEYS = frozenset({"name", "title", "summary", "chair", "set_up", "reported", "website", "status"})


class InquiryStatus(enum.StrEnum):
    TAKING_EVIDENCE = "taking evidence"
    REPORTED = "reported"
    UNKNOWN = ""

    @classmethod
    def parse(cls, raw: str, path: Path) -> InquiryStatus:
        folded = " ".join(raw.lower().replace("_", " ").replace("-", " ").split())
        if folded in ("taking evidence", "open", "ongoing", "in progress"):
            return cls.TAKING_EVIDENCE
        if folded in ("reported", "closed", "concluded", "finished"):
            return cls.REPORTED
        raise CorpusError(
            f'{path}: \'status\' must be "taking evidence" or "reported", not {raw!r}'
        )


@dataclass(frozen=True)
class Inquiry:
    """What the bot knows about an inquiry before loading its documents."""

    name: str  # short, lower case, used in commands: /inquiry casey
    title: str
    summary: str | None = None  # one line for /inquiries
    chair: str | None = None  # who chairs or led it
    set_up: str | None = None  # ISO date
    reported: str | None = None  # ISO date
    website: str | None = None
    status: InquiryStatus = InquiryStatus.UNKNOWN
    folder: Path | None = None  # None: only documents added with ``ingest``
    documents: int = 0  # how many it has: its folder's files and those ``ingest`` added

    def describe_status(self) -> str:
        if self.status is InquiryStatus.TAKING_EVIDENCE:
            return "taking evidence"
        if self.status is InquiryStatus.REPORTED:
            return f"reported {self.reported[:4]}" if self.reported else "reported"
        return ""

    def template_data(self) -> dict[str, Any]:
        """What templates see as ``inquiry`` (plain data only)."""
        return {
            "name": self.name,
            "title": self.title,
            "summary": self.summary,
            "chair": self.chair,
            "set_up": self.set_up,
            "reported": self.reported,
            "website": self.website,
            "status": str(self.status),
        }


def normalise_name(raw: str) -> str:
    """A folder or typed name as an inquiry name: lower case, spaces and dots as dashes."""
    return re.sub(r"[^a-z0-9_-]+", "-", raw.strip().lower()).strip("-_")[:32]


def document_files(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in DOCUMENT_SUFFIXES
    )


def read_inquiry(folder: Path) -> Inquiry:
    """The inquiry in ``folder``: its ``inquiry.json``, else the folder name and the title
    of its report (the document whose metadata says ``"kind": "report"``)."""
    files = document_files(folder)
    path = folder / INQUIRY_FILE
    data = _read_object(path) if path.is_file() else {}
    name = _text(data, "name", path) or normalise_name(folder.name)
    if not NAME_PATTERN.match(name):
        raise CorpusError(
            f"{path if data else folder}: the inquiry name {name!r} must be 1–32 lower-case "
            "letters, digits, '-' or '_', starting with a letter or digit"
        )
    status_raw = _text(data, "status", path)
    reported = _date(data, "reported", path)
    if status_raw:
        status = InquiryStatus.parse(status_raw, path)
    else:
        status = InquiryStatus.REPORTED if reported else InquiryStatus.UNKNOWN
    return Inquiry(
        name=name,
        title=_text(data, "title", path) or _report_title(files) or folder.name,
        summary=_text(data, "summary", path),
        chair=_text(data, "chair", path),
        set_up=_date(data, "set_up", path),
        reported=reported,
        website=_text(data, "website", path),
        status=status,
        folder=folder,
        documents=len(files),
    )


def _report_title(files: list[Path]) -> str | None:
    for file in files:
        meta = read_meta(file)
        if meta.kind == "report":
            return meta.title
    return None


def _read_object(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CorpusError(f"{path}: not valid UTF-8 JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise CorpusError(f"{path}: must be a JSON object, not {type(data).__name__}")
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise CorpusError(
            f"{path}: unknown keys {', '.join(unknown)} (known: {', '.join(sorted(_KEYS))})"
        )
    return data


def _text(data: dict[str, Any], key: str, path: Path) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise CorpusError(f"{path}: {key!r} must be a string or null, not {value!r}")
    return " ".join(value.split()) or None


def _date(data: dict[str, Any], key: str, path: Path) -> str | None:
    value = _text(data, key, path)
    if value is None:
        return None
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        pass
    if re.fullmatch(r"\d{4}(-\d{2})?", value):  # a year, or a year and month, is enough
        return value
    raise CorpusError(f"{path}: {key!r} must be an ISO date like 2023-03-21, not {value!r}")
