"""The anonymous web tip pages: /tip, /tip/<hotline>, the PIN page, /tip/check and replies.

No page needs JavaScript or sets a cookie beyond the CSRF token's session. The tipster's
rights between pages (choose a PIN, reply) travel in signed, expiring hidden fields.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from typing import Any

from flask import Blueprint, Response, abort, render_template, request
from flask_wtf.csrf import CSRFError  # type: ignore[import-untyped]
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException

from hotline.extensions import db, runtime
from hotline.followup import access, messages
from hotline.hotlines import Line
from hotline.jobs.declarations import FINALIZE
from hotline.models import Report, utcnow
from hotline.pipeline.services import services_of
from hotline.states import Channel, ReportStatus
from hotline.tipweb import forms, intake, passphrase, tokens
from hotline.tipweb.questions import Question, questions_of
from hotline.tipweb.texts import LANGUAGES, language_of, text

log = logging.getLogger(__name__)
bp = Blueprint("tip", __name__)

FILES_ID = "q-files"
_TIP = re.compile(r"^[0-9]{8}$")


@bp.after_request
def _not_kept(response: Response) -> Response:
    """A tip number, a passphrase or a message must not stay in a shared computer's cache."""
    response.headers["Cache-Control"] = "no-store"
    return response


def _lang() -> str:
    # From the URL only: every form posts to ?lang=, and reading the body may be what failed (413).
    return language_of(request.args.get("lang"))


def _page(template: str, status: int = 200, **context: Any) -> tuple[str, int]:
    lang = context.pop("lang", None) or _lang()
    return (
        render_template(
            template,
            lang=lang,
            t=lambda key, **values: text(lang, key, **values),
            languages=LANGUAGES,
            **context,
        ),
        status,
    )


def _web_lines() -> list[Line]:
    return [line for line in runtime.get().lines if line.config.web_tips]


def _line(hotline_id: str) -> Line:
    line = runtime.get().lines.by_id(hotline_id)
    if line is None or not line.config.web_tips:
        abort(404)
    return line


def _line_language(line: Line) -> str:
    lang = _lang()
    codes = [v.code for v in line.flow.languages]
    return lang if lang in codes else (codes[0] if codes[0] in LANGUAGES else "en")


def _hotline_name(line: Line, lang: str) -> str:
    name = line.config.name.get(lang) or line.name
    return name[:1].upper() + name[1:]  # "línea de Escuelas Seguras" heads a page


@bp.get("/tip")
def index() -> tuple[str, int]:
    """The hotlines that take web tips."""
    lang = _lang()
    lines = [(line.config.id, _hotline_name(line, lang)) for line in _web_lines()]
    return _page("tip/index.html", lines=lines, switch=True)


def _form_page(
    line: Line, lang: str, questions: list[Question], checked: forms.Checked, status: int
) -> tuple[str, int]:
    limits = runtime.get().settings.web
    return _page(
        "tip/form.html",
        status,
        lang=lang,
        line=line,
        hotline_name=_hotline_name(line, lang),
        questions=questions,
        checked=checked,
        limits=limits,
        files_id=FILES_ID,
        switch=status == 200 and not checked.errors,
    )


@bp.get("/tip/<hotline_id>")
def form(hotline_id: str) -> tuple[str, int]:
    """The hotline's questions as a form, in the chosen language."""
    line = _line(hotline_id)
    lang = _line_language(line)
    return _form_page(line, lang, questions_of(line.flow, lang), forms.Checked(), 200)


@bp.post("/tip/<hotline_id>")
def submit(hotline_id: str) -> tuple[str, int]:
    """File the tip: a web report with its answers and files, then the tip number and PIN page."""
    line = _line(hotline_id)
    lang = _line_language(line)
    questions = questions_of(line.flow, lang)
    checked, answers = forms.read_answers(questions, request.form, lang)
    settings = runtime.get().settings
    forms.read_files(request.files.getlist(forms.FILES_FIELD), settings.web, lang, checked, FILES_ID)
    if not checked.errors and not answers.written and not checked.files:
        first = next((q.field_id for q in questions if q.kind == "text"), FILES_ID)
        checked.errors[first] = text(lang, "error_empty")
    if checked.errors:
        return _form_page(line, lang, questions, checked, 400)
    if request.form.get(forms.HONEYPOT_FIELD):
        # A bot filled the hidden field: it sees the usual page, and nothing is stored.
        # Its token names no tip, so its PIN page can never touch a real one.
        return _filed_page(tip_number=_decoy_number(), token_tip="", lang=lang)
    report = intake.file_tip(db.session, services_of().store, line.config.id, lang, questions, answers, checked.files)
    db.session.commit()
    FINALIZE.enqueue(FINALIZE.id(report.id, Channel.WEB.value), report.id)
    return _filed_page(tip_number=report.tip_number, token_tip=report.tip_number, lang=lang)


def _decoy_number() -> str:
    from hotline.voice.calls import new_tip_number

    return new_tip_number()


def _filed_page(
    *,
    tip_number: str,
    token_tip: str,
    lang: str,
    errors: dict[str, str] | None = None,
    phrase: str | None = None,
    status: int = 200,
) -> tuple[str, int]:
    return _page(
        "tip/filed.html",
        status,
        lang=lang,
        tip_number=tip_number,
        token=tokens.issue(tokens.SET_PIN, token_tip),
        phrase=phrase or passphrase.generate(lang),
        errors=errors or {},
    )


@bp.post("/tip/pin")
def set_pin() -> tuple[str, int]:
    """Keep the PIN or passphrase the tipster chose for the tip just filed (its hash only)."""
    lang = _lang()
    tip = tokens.redeem(tokens.SET_PIN, request.form.get("token", ""))
    if tip is None:
        return _page("tip/message.html", 400, title=text(lang, "pin_title"), message=text(lang, "error_expired"))
    errors: dict[str, str] = {}
    if request.form.get("choice") == "passphrase":
        kind, secret = "passphrase", passphrase.normalize(request.form.get("passphrase", ""))
        if not passphrase.is_passphrase(secret):
            errors["pin"] = text(lang, "error_pin_format")
    else:
        # Normalized as /tip/check normalizes what is typed there: "１２３４" is kept as "1234".
        kind, secret = "pin", passphrase.normalize(request.form.get("pin", ""))
        if not passphrase.is_pin(secret):
            errors["pin"] = text(lang, "error_pin_format")
        elif secret != passphrase.normalize(request.form.get("pin2", "")):
            errors["pin2"] = text(lang, "error_pin_match")
    report = intake.find(db.session, tip) if tip else None
    if not errors and report is not None and not intake.set_secret(db.session, report, secret, kind):
        errors["pin"] = text(lang, "error_pin_set")
    if errors:
        db.session.rollback()
        return _filed_page(
            tip_number=tip or _decoy_number(),
            token_tip=tip,
            lang=lang,
            errors=errors,
            phrase=request.form.get("passphrase") or None,
            status=400,
        )
    # A decoy tip (the honeypot) has no report: it gets the same page.
    db.session.commit()
    return _page("tip/message.html", title=text(lang, "pin_saved_title"), message=text(lang, "pin_saved"), check=True)


@bp.get("/tip/check")
def check_form() -> tuple[str, int]:
    return _page("tip/check.html", values={}, errors={}, switch=True)


@bp.post("/tip/check")
def check() -> tuple[str, int]:
    """Open a tip with its number and PIN: its status, the messages to the tipster, a reply form."""
    lang = _lang()
    # Full-width digits (a CJK keyboard) are the same number; spaces and dashes are grouping.
    tip = re.sub(r"[\s-]", "", unicodedata.normalize("NFKC", request.form.get("tip", "")))
    secret = passphrase.normalize(request.form.get("secret", ""))
    draft = request.form.get("draft", "")[: forms.MAX_REPLY_CHARS]
    errors: dict[str, str] = {}
    if not _TIP.match(tip):
        errors["tip"] = text(lang, "error_tip_format")
    if not secret:
        errors["secret"] = text(lang, "error_secret_empty")
    if errors:
        return _page("tip/check.html", 400, values={"tip": tip, "draft": draft}, errors=errors)
    # A PIN is required on the web: a report without one is opened only by phone.
    found = access.check(db.session, tip, secret, channel=Channel.WEB.value)
    if found is None or not found.messages:
        db.session.commit()  # the refusal's event, audit entry and any lock
        refused = {"form": text(lang, "check_refused")}
        return _page("tip/check.html", 400, values={"tip": tip, "draft": draft}, errors=refused)
    report = db.session.get(Report, found.report_id)
    assert report is not None
    shown, _fresh = intake.opened(db.session, report)
    new_ids = {m.id for m in shown if m.read_at is None}
    db.session.commit()
    return _conversation(report, lang, new_ids=new_ids, reply=forms.Checked(values={"body": draft}))


def _conversation(
    report: Report, lang: str, *, new_ids: set[int], reply: forms.Checked, sent: bool = False, status: int = 200
) -> tuple[str, int]:
    closed = report.status == ReportStatus.CLOSED
    return _page(
        "tip/conversation.html",
        status,
        lang=lang,
        status_sentence=text(lang, "status_closed" if closed else "status_open"),
        shown=messages.to_tipster(db.session, report.id),
        new_ids=new_ids,
        token=tokens.issue(tokens.REPLY, report.tip_number),
        reply=reply,
        sent=sent,
        limits=runtime.get().settings.web,
        max_reply=forms.MAX_REPLY_CHARS,
        files_id=FILES_ID,
    )


@bp.post("/tip/check/reply")
def reply() -> tuple[str, int]:
    """The tipster adds information (text and files) to the tip they opened."""
    lang = _lang()
    # Control characters are dropped here, not after the checks: "\x00" alone is an empty reply.
    body = messages.clean(request.form.get("body", "").replace("\r\n", "\n")).strip()
    tip = tokens.redeem(tokens.REPLY, request.form.get("token", ""))
    report = intake.find(db.session, tip) if tip else None
    locked = report is not None and report.followup_locked_until is not None and report.followup_locked_until > utcnow()
    if report is None or locked or report.pin_hash is None:
        values = {"tip": "", "draft": body[: forms.MAX_REPLY_CHARS]}
        return _page("tip/check.html", 400, values=values, errors={"form": text(lang, "error_expired")})
    checked = forms.Checked(values={"body": body})
    if len(body) > forms.MAX_REPLY_CHARS:
        checked.errors["reply-body"] = text(lang, "error_too_long", max=forms.MAX_REPLY_CHARS)
    forms.read_files(request.files.getlist(forms.FILES_FIELD), runtime.get().settings.web, lang, checked, FILES_ID)
    if not checked.errors and not body and not checked.files:
        checked.errors["reply-body"] = text(lang, "error_reply_empty")
    if checked.errors:
        return _conversation(report, lang, new_ids=set(), reply=checked, status=400)
    message_id = intake.add_reply(db.session, services_of().store, report, body, lang, checked.files)
    db.session.commit()
    FINALIZE.enqueue(FINALIZE.id(report.id, f"reply{message_id}"), report.id)
    return _conversation(report, lang, new_ids=set(), reply=forms.Checked(), sent=True)


def _error(title: str, message: str, status: int) -> tuple[str, int]:
    db.session.rollback()
    return _page("tip/message.html", status, title=title, message=message)


@bp.errorhandler(413)
def too_large(_exc: HTTPException) -> tuple[str, int]:
    lang = _lang()
    web = runtime.get().settings.web
    total = web.max_files * web.max_file_mb + 1
    return _error(text(lang, "too_large_title"), text(lang, "too_large", mb=total, file_mb=web.max_file_mb), 413)


@bp.errorhandler(429)
def too_many(_exc: HTTPException) -> tuple[str, int]:
    lang = _lang()
    return _error(text(lang, "limited_title"), text(lang, "limited"), 429)


@bp.errorhandler(404)
def not_found(_exc: HTTPException) -> tuple[str, int]:
    lang = _lang()
    return _error(text(lang, "not_found_title"), text(lang, "not_found"), 404)


@bp.errorhandler(CSRFError)
def form_expired(_exc: CSRFError) -> tuple[str, int]:
    """The CSRF token ran out while the tipster was writing: show their answers again, not a dead end."""
    return _answers_again("error_expired_form", 400)


@bp.errorhandler(SQLAlchemyError)
def not_saved(_exc: SQLAlchemyError) -> tuple[str, int]:
    """The database failed (down, locked): nothing was kept, so say so and give the answers back."""
    log.exception("a web tip page could not reach the database")
    try:
        db.session.rollback()
    except Exception:  # noqa: BLE001 - the database may be the thing that failed
        log.warning("rollback failed after a database error on a tip page")
    return _answers_again("error_not_saved", 503)


def _answers_again(key: str, status: int) -> tuple[str, int]:
    """The page the tipster sent, again, with what they wrote and the sentence `key` on top."""
    lang = _lang()
    endpoint = request.endpoint or ""
    line = runtime.get().lines.by_id(str((request.view_args or {}).get("hotline_id", "")))
    if endpoint == "tip.submit" and line is not None and line.config.web_tips:
        lang = _line_language(line)
        questions = questions_of(line.flow, lang)
        checked, _answers = forms.read_answers(questions, request.form, lang)
        checked.errors["form"] = text(lang, key)
        checked.files_sent = bool([f for f in request.files.getlist(forms.FILES_FIELD) if f.filename])
        return _form_page(line, lang, questions, checked, status)
    tip = tokens.redeem(tokens.SET_PIN, request.form.get("token", "")) if endpoint == "tip.set_pin" else None
    if tip is not None:
        # The page that shows the tip number: the tipster may not have written it down yet.
        phrase = request.form.get("passphrase") or None
        errors = {"pin": text(lang, key)}
        return _filed_page(
            tip_number=tip or _decoy_number(), token_tip=tip, lang=lang, errors=errors, phrase=phrase, status=status
        )
    values = {"tip": "", "draft": request.form.get("body", "")[: forms.MAX_REPLY_CHARS]}
    return _page("tip/check.html", status, values=values, errors={"form": text(lang, key)})
