"""Read and check what the web form sent: answers to the flow's questions and attachments."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from werkzeug.datastructures import FileStorage, MultiDict

from hotline.settings import WebTipSettings
from hotline.tipweb import uploads
from hotline.tipweb.intake import Answers
from hotline.tipweb.questions import MAX_ANSWER_CHARS, Question
from hotline.tipweb.texts import text

FILES_FIELD = "files"
HONEYPOT_FIELD = "website"
MAX_REPLY_CHARS = 2000
_DIGITS = re.compile(r"[0-9]+")


@dataclass
class Checked:
    """The outcome of reading a form: values to show again, errors by field id, clean files."""

    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    files: list[uploads.CleanFile] = field(default_factory=list)
    files_sent: bool = False

    def error_list(self) -> list[tuple[str, str]]:
        return list(self.errors.items())


def read_answers(questions: list[Question], form: MultiDict[str, str], language: str) -> tuple[Checked, Answers]:
    """Each question's answer, checked; text stripped, choices among the options, digits bounded."""
    checked = Checked()
    written: dict[str, str] = {}
    keypad: dict[str, str] = {}
    for q in questions:
        raw = form.get(q.key, "")
        if q.kind == "text":
            value = raw.replace("\r\n", "\n").strip()
            checked.values[q.key] = value
            if len(value) > MAX_ANSWER_CHARS:
                checked.errors[q.field_id] = text(language, "error_too_long", max=MAX_ANSWER_CHARS)
            elif value:
                written[q.key] = value
        elif q.kind == "choice":
            value = raw or (q.default or "")
            checked.values[q.key] = value
            if value not in {c.value for c in q.choices}:
                checked.errors[q.field_id] = text(language, "error_choice")
            else:
                keypad[q.key] = value
        else:
            # Full-width digits become ASCII; other scripts' digits (str.isdigit() takes "٣") are refused.
            value = "".join(unicodedata.normalize("NFKC", raw).split())
            checked.values[q.key] = value
            if value and not (_DIGITS.fullmatch(value) and q.min_digits <= len(value) <= q.max_digits):
                checked.errors[q.field_id] = text(language, "error_digits", min=q.min_digits, max=q.max_digits)
            elif value:
                keypad[q.key] = value
    return checked, Answers(written, keypad)


def read_files(
    files: list[FileStorage], limits: WebTipSettings, language: str, checked: Checked, field_id: str
) -> None:
    """Sniff and clean each attached file into `checked.files`; the first problem is its error."""
    sent = [f for f in files if f.filename or f.content_length]
    checked.files_sent = bool(sent)
    if len(sent) > limits.max_files:
        checked.errors[field_id] = text(language, "error_files_count", files=limits.max_files)
        return
    max_bytes = limits.max_file_mb * 1024 * 1024
    for number, storage in enumerate(sent, start=1):
        # Named by its place, never by the tipster's file name (it may hold a name or a place).
        name = ("File" if language != "es" else "El archivo") + f" {number}"
        data = storage.stream.read(max_bytes + 1)
        if len(data) > max_bytes:
            checked.errors[field_id] = text(language, "error_file_size", name=name, mb=limits.max_file_mb)
            return
        if not data:
            continue
        try:
            checked.files.append(uploads.clean(data, max_pixels=limits.max_image_pixels))
        except uploads.Refused as refused:
            checked.errors[field_id] = text(language, refused.reason, name=name, **refused.values)
            return
