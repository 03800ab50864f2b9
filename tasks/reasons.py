"""Every reason name textwash writes into its output, defined once.

The names are part of the output contract: `paragraphs.boilerplate_rule`, `paragraphs.mt_signals`
and `documents.mt_signals`, `paragraphs.drop_reason` and `documents.drop_reason`, `rejects.error`.
The code that emits a name imports it from here; tests/test_reasons.py checks that everything the
stages can emit is registered below and that the docs name every registered reason. A name is a
plain string, so a reason in a table is the same value as the constant.
"""

from __future__ import annotations

# --- Boilerplate rules (`boilerplate_rule`): tasks/shard/boilerplate/, docs/stages.md ---------
# Phrase rules (tasks/shard/boilerplate/phrases.py), in the order they are tried.
COMMENT_FORM = "comment_form"
NEWSLETTER = "newsletter"
SHARE_BAR = "share_bar"  # also a line made of share words only
COOKIE_NOTICE = "cookie_notice"
POLICY_LINKS = "policy_links"
RELATED_LINKS = "related_links"
PARTNER_PROMO = "partner_promo"
ARCHIVE_NOTE = "archive_note"
AUTHOR_BIO = "author_bio"
SPONSORSHIP = "sponsorship"
PUBLISHER_INFO = "publisher_info"
TAG_LIST = "tag_list"
JAVASCRIPT = "javascript"
NAVIGATION = "navigation"
LOGIN_PROMPT = "login_prompt"
# The other per-line rules.
MEDIA_CREDIT = "media_credit"
NO_LETTERS = "no_letters"
# Line shape.
MENU_LINE = "menu_line"
COUNTER = "counter"
# Position, relative to the document's main run.
DATE_ALONE = "date_alone"
LEADING_RUN = "leading_run"
TRAILING_RUN = "trailing_run"
# The boilerplate model.
CONTENT_MODEL = "content_model"
# Across the run (tasks/cross_document/, named by publish).
SITE_TEMPLATE = "site_template"

PHRASE_RULES = (COMMENT_FORM, NEWSLETTER, SHARE_BAR, COOKIE_NOTICE, POLICY_LINKS, RELATED_LINKS,
                PARTNER_PROMO, ARCHIVE_NOTE, AUTHOR_BIO, JAVASCRIPT, NAVIGATION, LOGIN_PROMPT)
FAMILY_RULES = (SPONSORSHIP, PUBLISHER_INFO, TAG_LIST)  # new names of the pattern families
BOILERPLATE_RULES = (*PHRASE_RULES, *FAMILY_RULES, MEDIA_CREDIT, NO_LETTERS, MENU_LINE, COUNTER, DATE_ALONE,
                     LEADING_RUN, TRAILING_RUN, CONTENT_MODEL, SITE_TEMPLATE)

# --- Machine-translation signals (`mt_signals`): tasks/shard/translation.py, docs/stages.md ---
CURRENCY_SPACE = "currency_space"
SAID_THAT = "said_that"
QUOTE_GLUED = "quote_glued"
QUOTE_MISMATCH = "quote_mismatch"
SEMICOLON_CAPITAL = "semicolon_capital"
ACRONYM_ANAGRAM = "acronym_anagram"
QUOTE_SPACING = "quote_spacing"
LOWERCASE_SENTENCE_START = "lowercase_sentence_start"
DOUBLED_PUNCT = "doubled_punct"
MERGED_WORDS = "merged_words"
SPACE_BEFORE_PUNCT = "space_before_punct"
WORD_PATTERNS = "word_patterns"  # the word-pattern model alone reaches the flag threshold

MT_RULES = (CURRENCY_SPACE, SAID_THAT, QUOTE_GLUED, QUOTE_MISMATCH, SEMICOLON_CAPITAL,
            ACRONYM_ANAGRAM, QUOTE_SPACING, LOWERCASE_SENTENCE_START, DOUBLED_PUNCT, MERGED_WORDS,
            SPACE_BEFORE_PUNCT)
MT_SIGNALS = (*MT_RULES, WORD_PATTERNS)

# --- Drop reasons (`drop_reason`): tasks/publish/, docs/output.md ------------------------------
BOILERPLATE = "boilerplate"
DUPLICATE = "duplicate"
MACHINE_TRANSLATION = "machine_translation"
LANGUAGE = "language"
NO_CONTENT = "no_content"  # a document without paragraphs

PARAGRAPH_DROP_REASONS = (BOILERPLATE, DUPLICATE, MACHINE_TRANSLATION, LANGUAGE)  # order tried
DOCUMENT_DROP_REASONS = (*PARAGRAPH_DROP_REASONS, NO_CONTENT)

# --- Reject errors (`rejects.error`): tasks/plan/inputs.py, tasks/shard/read.py and decode.py,
# tasks/publish/ (an id an earlier shard of the file used); docs/input.md ---------------------
UNSUPPORTED_FORMAT = "unsupported_format"
UNREADABLE = "unreadable"
NOT_A_FILE = "not_a_file"
NOT_GZIP = "not_gzip"
NAME_CLASH = "name_clash"
EMPTY_FILE = "empty_file"
BINARY = "binary"
UNDECODABLE = "undecodable"
TOO_LARGE = "too_large"
MALFORMED_JSON = "malformed_json"
NOT_AN_OBJECT = "not_an_object"
MISSING_TEXT = "missing_text"
BAD_TEXT_TYPE = "bad_text_type"
EMPTY_TEXT = "empty_text"
DUPLICATE_ID = "duplicate_id"
TRUNCATED = "truncated"
BAD_PARQUET = "bad_parquet"

REJECT_ERRORS = (UNSUPPORTED_FORMAT, UNREADABLE, NOT_A_FILE, NOT_GZIP, NAME_CLASH, EMPTY_FILE,
                 BINARY, UNDECODABLE, TOO_LARGE, MALFORMED_JSON, NOT_AN_OBJECT, MISSING_TEXT,
                 BAD_TEXT_TYPE, EMPTY_TEXT, DUPLICATE_ID, TRUNCATED, BAD_PARQUET)
