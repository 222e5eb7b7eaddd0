#!/usr/bin/env bash
# Translation catalogues (Flask-Babel). Run from anywhere:
#   scripts/i18n.sh extract   code + templates -> connect/translations/messages.pot
#   scripts/i18n.sh update    messages.pot -> every locale's messages.po (creates missing ones);
#                             new strings arrive with an empty msgstr, to be translated
#   scripts/i18n.sh compile   messages.po -> messages.mo (what the app loads)
#   scripts/i18n.sh all       the three, in that order
# tests/test_i18n.py extracts with the same babel.cfg and keywords, and fails on any string
# that a catalogue lacks or leaves untranslated.
set -euo pipefail
cd "$(dirname "$0")/.."

PYBABEL="${PYBABEL:-.venv/bin/pybabel}"
DIR=connect/translations
POT="$DIR/messages.pot"
LOCALES=(es fr pl ru pt_BR)  # English is the source language: it needs no catalogue
# Keep in sync with KEYWORDS in tests/test_i18n.py (gettext, ngettext, _ ... are built in).
KEYWORDS=(-k _l -k lazy_gettext -k lazy_ngettext:1,2 -k lazy_pgettext:1c,2)

extract() {
    # Only babel.cfg's patterns are read (connect/**.py, templates/**.html): .venv, tests and
    # bench hold no user-facing strings. No line numbers, so moving code does not churn the files.
    "$PYBABEL" -q extract -F babel.cfg "${KEYWORDS[@]}" \
        --add-location=file --sort-by-file --width=100 \
        --project="AliExpress Connect" --copyright-holder="AliExpress Connect" \
        --msgid-bugs-address="i18n@connect.invalid" \
        -c "TRANSLATORS:" \
        -o "$POT" .
    echo "$(grep -c '^msgid ' "$POT") entries (including the header) in $POT"
}

update() {
    for locale in "${LOCALES[@]}"; do
        if [[ -f "$DIR/$locale/LC_MESSAGES/messages.po" ]]; then
            # No fuzzy matching: a guessed translation of a changed string is worse than none,
            # and an empty msgstr is what the test reports.
            "$PYBABEL" -q update -i "$POT" -d "$DIR" -l "$locale" \
                --no-fuzzy-matching --ignore-obsolete --width=100
        else
            "$PYBABEL" -q init -i "$POT" -d "$DIR" -l "$locale" --width=100
        fi
    done
}

compile() {
    "$PYBABEL" compile -d "$DIR" --statistics
}

case "${1:-}" in
    extract) extract ;;
    update) update ;;
    compile) compile ;;
    all) extract && update && compile ;;
    *)
        echo "usage: $0 extract|update|compile|all" >&2
        exit 2
        ;;
esac
