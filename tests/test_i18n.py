"""Translations: complete catalogues, sound plural forms and placeholders, pages really rendered in
each language, and the language chosen from the user, the `lang` cookie or the browser.

The catalogues are checked against the strings extracted from the code and templates right now
(same babel.cfg and keywords as scripts/i18n.sh), not against messages.pot: a string added
without a translation fails here. Fix with `scripts/i18n.sh all`, translate, compile again.
"""

from __future__ import annotations

import html
import re
from decimal import Decimal
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header

from connect import SUPPORTED_LOCALES
from connect.accounts.language import LANG_COOKIE, browser_locale
from connect.accounts.models import User
from connect.core.money import Money
from connect.extensions import db
from connect.ledger.models import AccountKind
from connect.ledger.services import Leg, post
from connect.tracking.services import create_link
from tests import factories
from tests.conftest import csrf_token, login

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "connect" / "translations"
LOCALES = [code for code in SUPPORTED_LOCALES if code != "en"]  # English is the source
# Keep in sync with KEYWORDS in scripts/i18n.sh (gettext, ngettext, _ ... are Babel's defaults).
KEYWORDS = {
    **DEFAULT_KEYWORDS,
    "_l": None,
    "lazy_gettext": None,
    "lazy_ngettext": (1, 2),
    "lazy_pgettext": ((1, "c"), 2),
}
NPLURALS = {"es": 2, "fr": 2, "pl": 3, "ru": 3, "pt_BR": 2}

# A translation may equal its English source only where the language writes it the same way.
# Names and codes, identical everywhere:
SAME_EVERYWHERE = {
    "Connect",  # the product's name, like "AliExpress Connect"
    "Stripe Connect",  # a Stripe product
    "PayPal",
    "API",
    "IBAN",
    "BIC",
    "SKU",  # the retail code, used as is in es/pl/pt e-commerce (fr says "Référence (SKU)")
    "%(seconds)s s",  # the SI symbol for seconds
}
# Words the language borrowed unchanged (checked by a native reader, not a shortcut):
SAME_IN = {
    "es": {"no"},  # the answer "no" in the CSV column table is Spanish too
    "pl": {"Link", "%(num)s link"},  # "link" is Polish (plural linki, linków)
    "pt_BR": {"Link", "%(num)s link"},  # Brazilian Portuguese says "link" / "links"
}

PLACEHOLDER_RE = re.compile(r"%(?:\((\w+)\))?[-#0 +]*\d*(?:\.\d+)?([diouxXeEfFgGcrsa%])")


# -- the catalogues --------------------------------------------------------------------------------


def extracted_messages() -> dict[tuple[str, str | None], dict]:
    """Every translatable string in the code and the templates now: (msgid, context) -> info."""
    with (ROOT / "babel.cfg").open() as f:
        method_map, options_map = parse_mapping_cfg(f)
    found: dict[tuple[str, str | None], dict] = {}
    for filename, lineno, message, _comments, context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=KEYWORDS
    ):
        plural = isinstance(message, (list, tuple))
        msgid = message[0] if plural else message
        if not msgid:
            continue
        entry = found.setdefault(
            (msgid, context),
            {"plural": message[1] if plural else None, "where": [], "template": False},
        )
        entry["where"].append(f"{filename}:{lineno}")
        entry["template"] |= filename.startswith("templates")
    return found


@pytest.fixture(scope="module")
def extracted() -> dict[tuple[str, str | None], dict]:
    messages = extracted_messages()
    assert len(messages) > 300, "extraction found almost nothing: is babel.cfg right?"
    return messages


def load_po(locale: str) -> Catalog:
    with (TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po").open("rb") as f:
        return read_po(f, locale=locale)


@pytest.fixture(scope="module")
def catalogues() -> dict[str, Catalog]:
    return {locale: load_po(locale) for locale in LOCALES}


def forms(message) -> list[str]:
    strings = message.string
    return list(strings) if isinstance(strings, (list, tuple)) else [strings]


def test_every_string_in_the_code_is_translated_in_every_catalogue(extracted, catalogues) -> None:
    problems = []
    for locale, catalog in catalogues.items():
        for (msgid, context), info in sorted(extracted.items(), key=lambda kv: kv[0][0]):
            message = catalog.get(msgid, context)
            where = info["where"][0]
            if message is None:
                problems.append(f"{locale}: missing {msgid!r} ({where})")
            elif message.fuzzy:
                problems.append(f"{locale}: fuzzy {msgid!r} ({where})")
            elif not all(s.strip() for s in forms(message)):
                problems.append(f"{locale}: untranslated {msgid!r} ({where})")
            elif bool(info["plural"]) != message.pluralizable:
                problems.append(f"{locale}: {msgid!r} is plural in one place only ({where})")
    assert not problems, (
        f"{len(problems)} catalogue problems; run scripts/i18n.sh all and translate:\n"
        + "\n".join(problems[:60])
    )


def test_no_english_left_in_the_catalogues(catalogues) -> None:
    problems = []
    for locale, catalog in catalogues.items():
        allowed = SAME_EVERYWHERE | SAME_IN.get(locale, set())
        for message in catalog:
            if not message.id:
                continue
            ids = list(message.id) if message.pluralizable else [message.id]
            english = {i.strip() for i in ids}
            if ids[0] not in allowed and any(t.strip() in english for t in forms(message)):
                problems.append(f"{locale}: {ids[0]!r} is left in English")
    assert not problems, "\n".join(problems)


def test_plural_forms_are_declared_and_complete(catalogues) -> None:
    for locale, catalog in catalogues.items():
        assert catalog.num_plurals == NPLURALS[locale], f"{locale}: {catalog.plural_forms}"
        assert f"nplurals={NPLURALS[locale]};" in catalog.plural_forms
        for message in catalog:
            if message.id and message.pluralizable:
                assert len(forms(message)) == NPLURALS[locale], (locale, message.id)
        # Babel's own checks: the number of plural forms and python-format placeholders.
        errors = [(m.id, [str(e) for e in errs]) for m, errs in catalog.check()]
        assert errors == [], f"{locale}: {errors}"


def placeholders(text: str) -> list[str]:
    return sorted(
        f"%({name})" if name else ("%%" if kind == "%" else f"%{kind}")
        for name, kind in PLACEHOLDER_RE.findall(text)
    )


def test_placeholders_match_between_source_and_translation(catalogues) -> None:
    problems = []
    for locale, catalog in catalogues.items():
        for message in catalog:
            if not message.id:
                continue
            ids = list(message.id) if message.pluralizable else [message.id]
            # Every plural form must carry the plural source's placeholders (%(num)s included:
            # the Polish and Russian "few"/"many" forms are still numbers).
            expected = placeholders(ids[-1])
            for text in forms(message):
                if placeholders(text) != expected:
                    problems.append(f"{locale}: {ids[0]!r} -> {text!r}")
    assert not problems, "\n".join(problems)


def test_template_strings_survive_jinja_formatting(extracted, catalogues) -> None:
    """Flask-Babel's Jinja gettext always applies `%`, even with no variables: a lone "%" in a
    template string (or its translation) is a 500 in every language. Write "%%" instead."""
    problems = []
    for (msgid, context), info in extracted.items():
        if not info["template"]:
            continue
        names = {name for name, _kind in PLACEHOLDER_RE.findall(msgid) if name} | {"num"}
        values = dict.fromkeys(names, 1)
        texts = [("en", msgid)] + [
            (locale, text)
            for locale, catalog in catalogues.items()
            if (message := catalog.get(msgid, context)) is not None
            for text in forms(message)
        ]
        for locale, text in texts:
            try:
                text % values
            except (ValueError, TypeError, KeyError) as exc:
                problems.append(f"{locale}: {text!r} ({info['where'][0]}): {exc}")
    assert not problems, "\n".join(problems)


def key(message) -> tuple:
    ids, context = message.id, message.context
    if isinstance(context, bytes):  # read_mo leaves contexts undecoded
        context = context.decode()
    return (tuple(ids) if isinstance(ids, (list, tuple)) else ids), context


def test_compiled_catalogues_match_the_po_files(catalogues) -> None:
    """The app loads the .mo files: they must be compiled from the current .po files."""
    for locale, catalog in catalogues.items():
        mo_path = TRANSLATIONS / locale / "LC_MESSAGES" / "messages.mo"
        assert mo_path.exists(), f"{mo_path} is missing: run scripts/i18n.sh compile"
        with mo_path.open("rb") as f:
            compiled = read_mo(f)
        po = {key(m): tuple(forms(m)) for m in catalog if m.id and not m.fuzzy and all(forms(m))}
        mo = {key(m): tuple(forms(m)) for m in compiled if m.id}
        assert po == mo, f"{mo_path} is stale: run scripts/i18n.sh compile"


# -- pages rendered in each language ---------------------------------------------------------------

ENGLISH_NAV = ["Home", "Links", "Commissions", "Payouts", "Statements", "Profile", "Log out"]
NAV = {
    "ru": ["Главная", "Ссылки", "Комиссии", "Выплаты", "Выписки", "Профиль", "Выйти"],
    "es": ["Inicio", "Enlaces", "Comisiones", "Pagos", "Extractos", "Perfil", "Cerrar sesión"],
    "fr": ["Accueil", "Liens", "Mes commissions", "Versements", "Relevés", "Se déconnecter"],
    "pl": ["Pulpit", "Linki", "Prowizje", "Wypłaty", "Zestawienia", "Wyloguj się"],
    "pt_BR": ["Início", "Meus links", "Comissões", "Pagamentos", "Extratos", "Sair"],
}
PAGE_TITLE = {"ru": "Мои ссылки", "es": "Mis enlaces", "fr": "Mes liens", "pl": "Moje linki"}
PAGE_TITLE["pt_BR"] = "Meus links"


def visible_text(page: str) -> str:
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


def creator_with_earnings(app: Flask, locale: str) -> str:
    """A creator whose user reads `locale`, with a tracked link and 1234.56 EUR pending."""
    with app.app_context():
        creator = factories.creator(handle=f"reader{locale.lower().replace('_', '')}")
        creator.user.locale = locale
        shop = factories.brand(f"shop{locale.lower().replace('_', '')}")
        create_link(db.session, creator, product_id=factories.product(shop, "SKU-1").id)
        post(
            db.session,
            key=f"i18n:{locale}",
            kind="accrual",
            legs=[
                Leg(AccountKind.BRAND_RECEIVABLE, 1, Money(123456, "EUR")),
                Leg(AccountKind.CREATOR_PENDING, creator.id, Money(-123456, "EUR")),
            ],
        )
        db.session.commit()
        email = creator.user.email
        db.session.remove()
    return email


@pytest.mark.parametrize("locale", LOCALES)
def test_creator_portal_renders_in_the_users_language(app: Flask, locale: str) -> None:
    # Requests run outside any app context: a shared one would share `g`, the user and the locale.
    email = creator_with_earnings(app, locale)
    client = app.test_client()
    assert login(client, email, factories.PASSWORD).status_code == 302
    for path in ("/creator/", "/creator/links"):
        page = client.get(path).get_data(as_text=True)
        text = visible_text(page)
        assert f'<html lang="{locale.replace("_", "-")}">' in page
        for label in NAV[locale]:
            assert label in text, f"{locale} {path}: no {label!r}"
        for english in ENGLISH_NAV:
            assert not re.search(rf"\b{re.escape(english)}\b", text), f"{locale} {path}: {english}"
    assert PAGE_TITLE[locale] in visible_text(client.get("/creator/links").get_data(as_text=True))

    # Money in the reader's format, by Babel: separators, decimal mark and symbol placement.
    home = client.get("/creator/").get_data(as_text=True)
    assert format_currency(Decimal("1234.56"), "EUR", locale=locale) in html.unescape(home)
    assert "1,234.56" not in home and "€1,234.56" not in home


def test_money_is_formatted_for_the_locale(app: Flask) -> None:
    """The exact text the portal shows for 1234.56 EUR (CLDR data shipped with Babel)."""
    expected = {
        "fr": "1\u202f234,56\xa0€",  # narrow no-break space groups thousands, comma decimal
        "ru": "1\xa0234,56\xa0€",  # no-break space groups thousands, comma decimal
    }
    for locale, text in expected.items():
        email = creator_with_earnings(app, locale)
        client = app.test_client()
        login(client, email, factories.PASSWORD)
        home = html.unescape(client.get("/creator/").get_data(as_text=True))
        assert text in home, locale


@pytest.mark.parametrize("locale", LOCALES)
def test_creator_pages_show_no_untranslated_strings(app: Flask, catalogues, locale: str) -> None:
    """No text on the creator's pages is an English source string: a template that prints a raw
    value ("approved", "active") instead of its translated label fails here."""
    allowed = SAME_EVERYWHERE | SAME_IN.get(locale, set())
    english = {
        m.id.strip().lower()
        for m in catalogues[locale]
        if m.id and not m.pluralizable and m.id not in allowed
    }
    email = creator_with_earnings(app, locale)
    client = app.test_client()
    login(client, email, factories.PASSWORD)
    problems = []
    for path in ("/creator/", "/creator/links", "/creator/profile", "/creator/commissions"):
        text = visible_text(client.get(path).get_data(as_text=True))
        chunks = {c.strip().lower() for c in re.split(r"\s*[\n·:|]\s*", text) if c.strip()}
        problems += [f"{path}: {chunk!r}" for chunk in sorted(chunks & english)]
    assert not problems, f"{locale}: " + ", ".join(problems)


# -- choosing the language -------------------------------------------------------------------------


def page_locale(page: str) -> str:
    match = re.search(r'<html lang="([^"]+)"', page)
    assert match
    return match.group(1).replace("-", "_")


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("pt-BR,pt;q=0.9", "pt_BR"),
        ("pt-PT", "pt_BR"),
        ("fr-CA,en;q=0.9", "fr"),
        ("es-MX,en;q=0.5", "es"),
        ("de,pl;q=0.8,en;q=0.5", "pl"),
        ("en;q=0.4,ru", "ru"),
        ("de", None),
        ("", None),
    ],
)
def test_browser_locale_prefers_the_readers_first_language(header: str, expected: str) -> None:
    assert browser_locale(parse_accept_header(header, LanguageAccept)) == expected


def test_anonymous_reader_gets_the_browsers_language(client: FlaskClient) -> None:
    page = client.get("/login", headers={"Accept-Language": "pt-BR,pt;q=0.9"})
    body = page.get_data(as_text=True)
    assert page_locale(body) == "pt_BR"
    assert "Entrar" in body and "Esqueceu sua senha?" in body
    assert "Forgot your password?" not in body
    assert page_locale(client.get("/login").get_data(as_text=True)) == "en"
    ru = client.get("/login", headers={"Accept-Language": "de-DE,ru;q=0.7"})
    assert page_locale(ru.get_data(as_text=True)) == "ru"


def test_lang_cookie_overrides_the_browser(app: Flask) -> None:
    client = app.test_client()
    client.set_cookie(LANG_COOKIE, "es", domain=app.config["SERVER_NAME"])
    body = client.get("/login", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert page_locale(body) == "es"
    assert "¿Has olvidado tu contraseña?" in body
    client.set_cookie(LANG_COOKIE, "xx", domain=app.config["SERVER_NAME"])  # unknown: ignored
    body = client.get("/login", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert page_locale(body) == "fr"


def test_users_setting_overrides_cookie_and_browser(app: Flask) -> None:
    email = creator_with_earnings(app, "ru")
    client = app.test_client()
    login(client, email, factories.PASSWORD)
    client.set_cookie(LANG_COOKIE, "es", domain=app.config["SERVER_NAME"])
    page = client.get("/creator/", headers={"Accept-Language": "pl"}).get_data(as_text=True)
    assert page_locale(page) == "ru"


def test_switching_language_when_anonymous_sets_the_cookie(client: FlaskClient) -> None:
    token = csrf_token(client)
    resp = client.post(
        "/language", data={"locale": "pl", "next": "/login?x=1", "csrf_token": token}
    )
    assert resp.status_code == 302
    assert resp.headers["Location"] == "/login?x=1"
    cookie = resp.headers["Set-Cookie"]
    assert cookie.startswith(f"{LANG_COOKIE}=pl;")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Max-Age=" in cookie
    body = client.get("/login", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert page_locale(body) == "pl"
    assert "Zaloguj się" in body


def test_switching_language_when_signed_in_sets_the_users_locale(app: Flask) -> None:
    email = creator_with_earnings(app, "ru")
    client = app.test_client()
    login(client, email, factories.PASSWORD)
    token = csrf_token(client)
    resp = client.post(
        "/language", data={"locale": "pt_BR", "next": "/creator/", "csrf_token": token}
    )
    assert resp.status_code == 302
    assert resp.headers["Location"] == "/creator/"
    with app.app_context():
        assert db.session.scalar(db.select(User.locale).where(User.email == email)) == "pt_BR"
        db.session.remove()
    page = client.get("/creator/").get_data(as_text=True)
    assert page_locale(page) == "pt_BR"
    assert "Meus links" in page


@pytest.mark.parametrize(
    "data",
    [
        {"locale": "de"},  # not a supported locale
        {"locale": "en_XX"},
        {"locale": ""},
        {},
    ],
)
def test_switching_to_an_unknown_language_is_refused(client: FlaskClient, data: dict) -> None:
    token = csrf_token(client)
    resp = client.post("/language", data={**data, "csrf_token": token})
    assert resp.status_code == 400
    assert LANG_COOKIE not in resp.headers.get("Set-Cookie", "")


def test_switching_language_needs_the_csrf_token(client: FlaskClient) -> None:
    resp = client.post("/language", data={"locale": "fr", "next": "/"})
    assert resp.status_code == 400
    assert "Set-Cookie" not in resp.headers or LANG_COOKIE not in resp.headers["Set-Cookie"]
    resp = client.post("/language", data={"locale": "fr", "csrf_token": "forged"})
    assert resp.status_code == 400


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/path",
        "/\\evil.example",
        "javascript:alert(1)",
        "http:/evil.example",
        " /creator/",
        None,
    ],
)
def test_switching_language_never_redirects_off_site(client: FlaskClient, target) -> None:
    token = csrf_token(client)
    data = {"locale": "fr", "csrf_token": token}
    if target is not None:
        data["next"] = target
    resp = client.post("/language", data=data)
    assert resp.status_code == 302
    assert resp.headers["Location"] == "/"
