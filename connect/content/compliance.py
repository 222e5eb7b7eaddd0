"""The compliance check: prohibited categories and keywords, in every supported language, run over
content pieces and products. Pure functions over text; the services decide what a finding does.

The list lives in `prohibited.toml` beside this module (or in the TOML/JSON file named by the
COMPLIANCE_RULES_PATH setting); its header explains the matching rules. It is validated when
loaded (a typo in a language code or a key fails loudly, never silently checks less) and re-read
when the file changes.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import tomllib
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import current_app, has_app_context

LANGUAGES = ("en", "es", "fr", "pl", "ru", "pt")
DEFAULT_RULES_PATH = Path(__file__).with_name("prohibited.toml")
_RULE_ID = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_RULE_KEYS = {"id", "label", "categories", "keywords", "allow"}

# Characters folded to a plain equivalent after accents are dropped (they have no decomposition).
_FOLD = str.maketrans({"ł": "l", "đ": "d", "ø": "o", "ħ": "h", "\u2019": "'", "\u02bc": "'"})

# What a keyword letter may be written as to dodge a filter: Cyrillic and Latin look-alikes of each
# other (escaped here, so the source itself shows no look-alikes), and digits and symbols for
# letters. Applied to keywords, never to allow-phrases.
_TWINS = {
    "a": "\u0430", "e": "\u0435", "o": "\u043e", "p": "\u0440", "c": "\u0441",
    "x": "\u0445", "y": "\u0443", "k": "\u043a", "m": "\u043c", "t": "\u0442",
    "b": "\u0432", "h": "\u043d", "i": "\u0456",
}  # fmt: skip
_SYMBOLS = {"a": "4@", "e": "3", "i": "1!|", "l": "1|", "o": "0", "s": "5$", "t": "7"}


def _lookalikes() -> dict[str, str]:
    table: dict[str, str] = {}
    for latin, cyrillic in _TWINS.items():
        table[latin] = table.get(latin, latin) + cyrillic
        table[cyrillic] = table.get(cyrillic, cyrillic) + latin
    for latin, symbols in _SYMBOLS.items():
        table[latin] = table.get(latin, latin) + symbols
        if latin in _TWINS:
            table[_TWINS[latin]] += symbols
    return table


_LOOKALIKES = _lookalikes()
_SEPARATOR = r"[\s\-]*"  # "knock off", "knock-off" and "knockoff" are one keyword


class ComplianceConfigError(RuntimeError):
    """The rules file is missing or malformed: nothing may be checked against half a list."""


def fold(text: str) -> str:
    """Text as the matcher sees it: NFKC, casefolded, accents dropped, a few letters folded."""
    text = unicodedata.normalize("NFKC", text).casefold()
    stripped = "".join(
        ch for ch in unicodedata.normalize("NFD", text) if not unicodedata.combining(ch)
    )
    return unicodedata.normalize("NFC", stripped).translate(_FOLD)


def _phrase_pattern(phrase: str, *, lookalikes: bool) -> str:
    stem = phrase.endswith("*")
    words = [w for w in re.split(r"[\s\-]+", fold(phrase.rstrip("*"))) if w]
    if not words:
        raise ValueError("empty phrase")

    def char(c: str) -> str:
        alts = _LOOKALIKES.get(c) if lookalikes else None
        return "[" + re.escape(alts) + "]" if alts else re.escape(c)

    body = _SEPARATOR.join("".join(char(c) for c in word) for word in words)
    tail = r"\w*" if stem else ""
    return rf"(?<!\w){body}{tail}(?!\w)"


def _alternation(phrases: list[str], *, lookalikes: bool) -> re.Pattern[str]:
    # One named group per phrase: `match.lastgroup` says which phrase was found.
    return re.compile(
        "|".join(
            f"(?P<k{i}>{_phrase_pattern(p, lookalikes=lookalikes)})" for i, p in enumerate(phrases)
        )
    )


@dataclass(frozen=True, order=True)
class Match:
    """One finding: which rule, in which language's list, through which keyword, in which field."""

    rule: str
    language: str  # one of LANGUAGES, or "any" for a prohibited product category
    keyword: str
    field: str
    label: str = ""

    def as_dict(self) -> dict[str, str]:
        return {
            "rule": self.rule,
            "language": self.language,
            "keyword": self.keyword,
            "field": self.field,
        }


@dataclass(frozen=True)
class Rule:
    id: str
    label: str
    #: (language, phrases, compiled alternation) per language, plus ("any", categories, ...).
    keywords: tuple[tuple[str, tuple[str, ...], re.Pattern[str]], ...]
    categories: tuple[tuple[str, tuple[str, ...], re.Pattern[str]], ...]
    allow: re.Pattern[str] | None

    def find(self, field: str, folded: str) -> list[Match]:
        allowed = [m.span() for m in self.allow.finditer(folded)] if self.allow else []
        found = []
        lists = self.keywords + (self.categories if field == "category" else ())
        for language, phrases, pattern in lists:
            for m in pattern.finditer(folded):
                start, end = m.span()
                if any(a <= start and end <= b for a, b in allowed):
                    continue
                keyword = phrases[int(m.lastgroup[1:])]  # type: ignore[index]
                found.append(Match(self.id, language, keyword, field, self.label))
        return found


@dataclass(frozen=True)
class RuleSet:
    path: str
    rules: tuple[Rule, ...]
    #: Every keyword and category of every rule in one pattern: most text matches nothing, and
    #: one scan tells so (the per-rule, per-language scans run only on a hit).
    prefilter: re.Pattern[str]

    def check(self, fields: Mapping[str, str | None]) -> list[Match]:
        """Every finding in `fields` ({"title": ..., "body": ...}), deduplicated, sorted."""
        found: set[Match] = set()
        for field, value in fields.items():
            if not value:
                continue
            folded = fold(value)
            if not self.prefilter.search(folded):
                continue
            for rule in self.rules:
                found.update(rule.find(field, folded))
        return sorted(found)


# --- loading ---------------------------------------------------------------------------------


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ComplianceConfigError(f"{where} must be a list of non-empty strings")
    return tuple(v.strip() for v in value)


def _by_language(value: Any, where: str, *, complete: bool) -> dict[str, tuple[str, ...]]:
    if not isinstance(value, dict):
        raise ComplianceConfigError(f"{where} must be a table of languages")
    unknown = sorted(set(value) - set(LANGUAGES))
    if unknown:
        raise ComplianceConfigError(
            f"{where}: unknown language {unknown[0]!r} (use {', '.join(LANGUAGES)})"
        )
    missing = [lang for lang in LANGUAGES if lang not in value]
    if complete and missing:
        raise ComplianceConfigError(f"{where}: no keywords for {', '.join(missing)}")
    return {lang: _strings(value[lang], f"{where}.{lang}") for lang in LANGUAGES if lang in value}


def parse_rules(data: Mapping[str, Any], path: str = "<rules>") -> RuleSet:
    """Validate and compile a rules document (the TOML/JSON file, parsed)."""
    raw_rules = data.get("rules")
    if not isinstance(raw_rules, list) or not raw_rules:
        raise ComplianceConfigError(f"{path}: needs at least one [[rules]] entry")
    rules, seen, everything = [], set(), []
    for n, raw in enumerate(raw_rules):
        where = f"{path}: rules[{n}]"
        if not isinstance(raw, dict):
            raise ComplianceConfigError(f"{where} must be a table")
        extra = sorted(set(raw) - _RULE_KEYS)
        if extra:
            raise ComplianceConfigError(f"{where}: unknown key {extra[0]!r}")
        rule_id = raw.get("id")
        if not isinstance(rule_id, str) or not _RULE_ID.match(rule_id) or rule_id in seen:
            raise ComplianceConfigError(f"{where}: id must be a new snake_case name")
        seen.add(rule_id)
        where = f"{path}: rule {rule_id!r}"
        label = raw.get("label", rule_id)
        if not isinstance(label, str):
            raise ComplianceConfigError(f"{where}: label must be a string")
        keywords = _by_language(raw.get("keywords"), f"{where} keywords", complete=True)
        allow = _by_language(raw.get("allow", {}), f"{where} allow", complete=False)
        categories = _strings(raw.get("categories", []), f"{where} categories")
        try:
            compiled = tuple(
                (lang, words, _alternation(list(words), lookalikes=True))
                for lang, words in keywords.items()
            )
            cats = (
                (("any", categories, _alternation(list(categories), lookalikes=False)),)
                if categories
                else ()
            )
            allow_all = [p for phrases in allow.values() for p in phrases]
            allow_re = _alternation(allow_all, lookalikes=False) if allow_all else None
        except (ValueError, re.error) as exc:
            raise ComplianceConfigError(f"{where}: bad phrase: {exc}") from exc
        rules.append(Rule(rule_id, label, compiled, cats, allow_re))
        everything += [_phrase_pattern(w, lookalikes=True) for _, ws, _ in compiled for w in ws]
        everything += [_phrase_pattern(c, lookalikes=False) for c in categories]
    return RuleSet(path, tuple(rules), re.compile("|".join(everything)))


def load_rules(path: str | Path) -> RuleSet:
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ComplianceConfigError(f"cannot read the compliance rules {path}: {exc}") from exc
    try:
        data = json.loads(raw) if path.suffix == ".json" else tomllib.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ComplianceConfigError(f"{path}: not valid {path.suffix[1:].upper()}: {exc}") from exc
    return parse_rules(data, str(path))


_cache: dict[str, tuple[int, RuleSet]] = {}
_cache_lock = threading.Lock()


def rules_path() -> Path:
    configured = current_app.config.get("COMPLIANCE_RULES_PATH") if has_app_context() else None
    return Path(configured) if configured else DEFAULT_RULES_PATH


def active_rules() -> RuleSet:
    """The configured rule set, compiled once per version of the file."""
    path = rules_path()
    try:
        version = path.stat().st_mtime_ns
    except OSError as exc:
        raise ComplianceConfigError(f"cannot read the compliance rules {path}: {exc}") from exc
    key = str(path)
    with _cache_lock:
        hit = _cache.get(key)
        if hit and hit[0] == version:
            return hit[1]
    ruleset = load_rules(path)
    with _cache_lock:
        _cache[key] = (version, ruleset)
    return ruleset


# --- what the services check -----------------------------------------------------------------


def check_text(fields: Mapping[str, str | None], ruleset: RuleSet | None = None) -> list[Match]:
    return (ruleset or active_rules()).check(fields)


def check_content(content: Any, ruleset: RuleSet | None = None) -> list[Match]:
    """Findings in a content piece's own words (its title and text)."""
    return check_text({"title": content.title, "body": content.body}, ruleset)


def check_product(product: Any, ruleset: RuleSet | None = None) -> list[Match]:
    """Findings in a product's title and category."""
    return check_text({"title": product.title, "category": product.category}, ruleset)


def fingerprint(matches: Iterable[Match]) -> str:
    """The same findings (wherever in the text) give the same fingerprint."""
    keys = sorted({(m.rule, m.language, m.keyword) for m in matches})
    return hashlib.sha256(json.dumps(keys, ensure_ascii=False).encode()).hexdigest()


def summary(matches: Iterable[Match], limit: int = 500) -> str:
    """One clause per rule ("counterfeit — es: réplica; ru: подделк*"), cut to `limit`."""
    per_rule: dict[str, dict[str, list[str]]] = {}
    for m in sorted(matches):
        words = per_rule.setdefault(m.rule, {}).setdefault(m.language, [])
        label = f"{m.keyword} ({m.field})" if m.field not in ("title", "body") else m.keyword
        if label not in words:
            words.append(label)
    text = "; ".join(
        f"{rule} — " + ", ".join(f"{lang}: {' / '.join(words)}" for lang, words in langs.items())
        for rule, langs in per_rule.items()
    )
    return text if len(text) <= limit else text[: limit - 1] + "…"
