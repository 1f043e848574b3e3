"""The form at /tip/<hotline> is generated from the hotline's own flow, in English and Spanish."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from flask import Flask

from hotline.extensions import runtime
from hotline.tipweb.questions import is_followup, page_wording, questions_of
from tests.tipweb.conftest import Tipster


class Fields(HTMLParser):
    """The form's controls: textareas, selects with their options, inputs; and <html lang>."""

    def __init__(self) -> None:
        super().__init__()
        self.textareas: set[str] = set()
        self.selects: dict[str, list[str]] = {}
        self.selected: dict[str, str] = {}
        self.inputs: dict[str, dict[str, str]] = {}
        self.labels: dict[str, str] = {}
        self.lang = ""
        self._select: str | None = None
        self._label: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "html":
            self.lang = a.get("lang", "")
        elif tag == "textarea":
            self.textareas.add(a["name"])
        elif tag == "select":
            self._select = a["name"]
            self.selects[a["name"]] = []
        elif tag == "option" and self._select:
            self.selects[self._select].append(a["value"])
            if "selected" in a:
                self.selected[self._select] = a["value"]
        elif tag == "input":
            self.inputs[a.get("name", "")] = a
        elif tag == "label":
            self._label = a.get("for")
            self.labels[self._label or ""] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        if tag == "label":
            self._label = None

    def handle_data(self, data: str) -> None:
        if self._label is not None:
            self.labels[self._label] += data


def parsed(html: str) -> Fields:
    fields = Fields()
    fields.feed(html)
    return fields


@pytest.mark.parametrize("hotline_id", ["safe_schools", "prea"])
@pytest.mark.parametrize("lang", ["en", "es"])
def test_form_has_a_field_for_every_question_of_the_flow(
    app: Flask, tipster: Tipster, hotline_id: str, lang: str
) -> None:
    response = tipster.get(f"/tip/{hotline_id}?lang={lang}")
    assert response.status_code == 200
    page = parsed(response.get_data(as_text=True))
    assert page.lang == lang
    with app.app_context():
        flow = runtime.get().lines.by_id(hotline_id).flow  # type: ignore[union-attr]
    steps = [s for s in flow.steps.values() if not is_followup(s)]
    records = {s.key for s in steps if s.type == "record"}
    menus = {s.key: s for s in steps if s.type == "menu"}
    digits = {s.key for s in steps if s.type == "digits" and not s.secret}
    assert records and menus
    assert page.textareas == records
    assert set(page.selects) == set(menus)
    for key, step in menus.items():
        assert page.selects[key] == [o.value for o in step.options], key
        default = step.option(step.default or "")
        assert default is not None and page.selected[key] == default.value
    for key in digits:
        assert page.inputs[key]["inputmode"] == "numeric"
    # Never the PIN, the language choice or anything spoken only.
    secret = {s.key for s in flow.steps.values() if s.type == "digits" and s.secret}
    assert not secret & set(page.inputs)
    for label in page.labels.values():
        assert not re.search(r"\b(press|pound|oprima|tecla)\b", label, re.I), label


def test_shipped_flows_as_expected() -> None:
    """The shipped flows' questions, spelled out: what each form asks."""
    from hotline.hotlines import Lines
    from hotline.settings import load_settings
    from tests.conftest import ROOT

    settings = load_settings(
        ROOT / "config.yaml",
        environ={},
        overrides={"secret_key": "x", "master_key": b"k" * 32, "twilio_auth_token": "t", "audit_key": "a" * 40},
    )
    lines = Lines(settings)
    schools = {q.key: q.kind for q in questions_of(lines.by_id("safe_schools").flow, "en")}  # type: ignore[union-attr]
    assert schools == {
        "topic": "choice",
        "problem": "text",
        "where": "text",
        "who": "text",
        "when": "text",
        "vehicle": "text",
        "district": "choice",
    }
    prea = {q.key: q.kind for q in questions_of(lines.by_id("prea").flow, "es")}  # type: ignore[union-attr]
    assert prea == {
        "caller_type": "choice",
        "anonymous": "choice",
        "contact": "text",
        "offender": "text",
        "inmate_number": "digits",
        "facility": "choice",
        "when": "text",
        "summary": "text",
    }


def test_spanish_labels_and_options(tipster: Tipster) -> None:
    html = tipster.get("/tip/safe_schools?lang=es").get_data(as_text=True)
    assert '<html lang="es">' in html
    assert "¿De qué se trata su aviso?" in html
    assert ">Armas o amenazas de violencia<" in html
    assert "Indíquenos cuál es el problema o qué delito está ocurriendo." in html
    assert "El Distrito Escolar Riverbend" in html
    # The language switch links the other language, marked as such.
    assert 'href="/tip/safe_schools?lang=en" lang="en" hreflang="en">English<' in html


def test_prompts_lose_their_keypad_words() -> None:
    spoken = (
        "After the tone, tell us what the problem is or what crime is happening. Press pound when you are "
        "done. To skip a question, press pound before the tone."
    )
    assert page_wording(spoken, "en") == "Tell us what the problem is or what crime is happening."
    assert (
        page_wording("Con el teclado, marque el número de la persona y luego oprima la tecla de número.", "es")
        == "Escriba el número de la persona."
    )


def test_index_lists_hotlines_with_web_tips(tipster: Tipster) -> None:
    html = tipster.get("/tip").get_data(as_text=True)
    assert 'href="/tip/safe_schools?lang=en"' in html and 'href="/tip/prea?lang=en"' in html
    assert "Safe Schools hotline" in html


def test_a_hotline_without_web_tips_has_no_form(tmp_path, database_url, redis_server) -> None:  # type: ignore[no-untyped-def]
    from hotline import create_app
    from tests.conftest import make_settings

    settings = make_settings(tmp_path, database_url, redis_server.url)
    hotlines = [h.model_dump() for h in settings.hotlines]
    hotlines[1]["web_tips"] = False
    app = create_app(make_settings(tmp_path, database_url, redis_server.url, hotlines=hotlines))
    client = app.test_client()
    index = client.get("/tip").get_data(as_text=True)
    assert "/tip/safe_schools" in index and "/tip/prea" not in index
    response = client.get("/tip/prea")
    assert response.status_code == 404
    assert "There is no tip form at this address." in response.get_data(as_text=True)
    from hotline.extensions import db

    db.dispose()


def test_the_call_back_branch_is_left_out() -> None:
    """A flow offering callers "press 9 if you are calling back" gets no field for that branch."""
    from hotline.flows.loader import parse_flow
    from tests.conftest import ROOT

    text = (ROOT / "ivr_flows" / "safe_schools.yaml").read_text(encoding="utf-8")
    text = text.replace(
        "    next: operator\n\n  operator:",
        """    next: returning

  returning:
    type: menu
    key: returning
    prompt: {en: "If you are calling back with a tip number, press 9. Otherwise press 1.", es: "Oprima 9 o 1."}
    options:
      "1": {value: "new", next: operator}
      "9": {value: callback, next: callback_tip}
    default: "1"

  callback_tip:
    type: digits
    key: callback_tip
    min_digits: 8
    max_digits: 8
    prompt: {en: "Enter your tip number.", es: "Marque su número."}
    next: more_information

  more_information:
    type: record
    key: more_information
    prompt: {en: "Add what you know.", es: "Agregue lo que sabe."}
    next: thanks

  operator:""",
        1,
    )
    flow = parse_flow(text, "test")
    keys = {q.key for q in questions_of(flow, "en")}
    assert keys == {"topic", "problem", "where", "who", "when", "vehicle", "district"}
