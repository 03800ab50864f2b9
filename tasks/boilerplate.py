"""Flag boilerplate paragraphs with the name of the rule that fired (`boilerplate_rule`).

Rules only annotate; publish decides what is dropped. Two kinds:
- per paragraph (`flag_boilerplate`, runs in each shard): known phrases of comment forms,
  newsletter boxes, share bars, cookie and policy lines, related-link headers, partner promos,
  archive notes, author-bio headers, media credits, in English, German, French and Spanish; and
  lines with no letters at all.
- per source (`find_site_templates`, runs once over the whole run): a short line repeated in many
  documents of the same site (URL host, else the input file) is part of that site's template.
A phrase rule matches the whole line, or the start of a line of <= 15 words, or a phrase inside a
line of <= 25 words: a real paragraph that mentions "privacy policy" in passing is not a policy
link.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import urlsplit

import numpy as np
import pyarrow as pa
import xxhash

from tasks.settings import BoilerplateSettings

# rule name -> (whole-line phrases, line-start phrases, phrases inside a line of <= 25 words)
PHRASE_RULES: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "comment_form": (
        ("please enter your comment", "please enter your name here", "leave a reply",
         "leave a comment", "post comment", "post a comment", "submit comment", "add a comment",
         "add comment", "comments", "no comments", "0 comments", "comments are closed",
         "cancel reply", "reply", "kommentar schreiben", "kommentare", "kommentar abschicken",
         "antworten", "laisser un commentaire", "commentaires", "répondre",
         "deja un comentario", "dejar un comentario", "deja tu comentario", "comentarios",
         "responder"),
        ("you have entered an incorrect email address", "you must be logged in to post",
         "log in to leave a comment", "log in to reply", "join the discussion"),
        ("your email address will not be published", "required fields are marked",
         "save my name, email, and website", "notify me of follow-up comments",
         "notify me of new posts", "this site uses akismet",
         "ihre e-mail-adresse wird nicht veröffentlicht", "erforderliche felder sind mit",
         "votre adresse e-mail ne sera pas publiée", "les champs obligatoires sont indiqués",
         "tu dirección de correo electrónico no será publicada",
         "los campos obligatorios están marcados"),
    ),
    "newsletter": (
        ("newsletter", "subscribe", "newsletter abonnieren", "s'abonner", "suscríbete"),
        ("sign up for", "subscribe to", "get our newsletter", "join our mailing list",
         "newsletter sign up", "newsletter signup", "melden sie sich", "abonnieren sie",
         "abonnez-vous", "inscrivez-vous", "suscríbete a", "suscribirse"),
        ("our newsletter", "delivered to your inbox", "straight to your inbox",
         "enter your email address", "unseren newsletter", "notre newsletter",
         "nuestro boletín", "nuestra newsletter"),
    ),
    "share_bar": (
        (),
        ("share this", "share on", "click to share", "follow us on", "folgen sie uns",
         "suivez-nous", "síguenos", "diesen artikel teilen", "artikel teilen",
         "partager cet article", "partager sur", "compartir en", "compartir este"),
        (),
    ),
    "cookie_notice": (
        (),
        (),
        ("we use cookies", "uses cookies", "use of cookies", "accept cookies",
         "accept all cookies", "cookie policy", "cookie settings", "wir verwenden cookies",
         "verwendet cookies", "nous utilisons des cookies", "utilise des cookies",
         "utilizamos cookies", "utiliza cookies", "usamos cookies"),
    ),
    "policy_links": (
        ("privacy", "privacy policy", "terms of use", "terms of service", "terms and conditions",
         "imprint", "legal notice", "contact us", "about us", "datenschutz",
         "datenschutzerklärung", "impressum", "kontakt", "mentions légales",
         "politique de confidentialité", "aviso legal", "política de privacidad"),
        ("copyright", "©", "all rights reserved", "alle rechte vorbehalten",
         "tous droits réservés", "todos los derechos reservados"),
        ("all rights reserved", "alle rechte vorbehalten", "tous droits réservés",
         "todos los derechos reservados"),
    ),
    "related_links": (
        ("related", "related articles", "related stories", "related posts", "related content",
         "read more", "read also", "see also", "more stories", "most read", "most popular",
         "trending now", "recommended", "recommended for you", "you may also like",
         "you might also like", "lesen sie auch", "mehr zum thema", "auch interessant",
         "à lire aussi", "lire aussi", "sur le même sujet", "lea también",
         "te puede interesar", "noticias relacionadas", "artículos relacionados"),
        ("full coverage:", "related:", "read more:", "read also:", "see also:", "more from",
         "more on this story", "lesen sie auch:", "mehr zum thema:", "à lire aussi:",
         "lire aussi:", "lea también:", "te puede interesar:"),
        (),
    ),
    "partner_promo": (
        ("advertisement", "advertising", "sponsored", "sponsored content", "promoted stories",
         "paid content", "partner content", "anzeige", "werbung", "publicité", "publicidad"),
        ("white papers from our partners", "sponsored by", "presented by", "in partnership with",
         "paid post"),
        (),
    ),
    "archive_note": (
        (),
        ("this article is more than", "this article was originally published",
         "this article first appeared", "this article is from the archive", "from the archive",
         "archived from the original", "dieser artikel erschien zuerst",
         "cet article a été publié initialement"),
        (),
    ),
    "author_bio": (
        ("about the author", "about the authors", "über den autor", "über die autorin",
         "à propos de l'auteur", "sobre el autor", "sobre la autora"),
        (),
        (),
    ),
    "javascript": (
        (),
        (),
        ("javascript",),
    ),
    "login_prompt": (
        ("log in", "login", "sign in", "register", "sign up", "my account", "anmelden",
         "registrieren", "se connecter", "s'inscrire", "iniciar sesión", "registrarse"),
        (),
        (),
    ),
}

# Words a share bar is made of: a line of nothing else is a share bar.
_SHARE_WORDS = frozenset(
    ["share", "shares", "tweet", "pin", "email", "e-mail", "mail", "print", "facebook", "twitter", "x", "linkedin", "pinterest", "whatsapp", "telegram", "reddit", "messenger", "flipboard", "tumblr", "xing", "vk", "copy", "link", "google+", "teilen", "drucken", "partager", "imprimer", "compartir", "imprimir"]
)
_MEDIA_CREDIT_PREFIX = re.compile(
    r"^(photo|photos|image|images|picture|credit|photo credit|foto|fotos|bild|bildquelle|"
    r"crédit photo|crédits photo|créditos)\s*[:©]"
)
_MEDIA_CREDIT_SUFFIX = re.compile(r"\b(logo|photo|image|screenshot|illustration)$")
_LETTER = re.compile(r"[^\W\d_]")
_EDGE = " \t•·|*-–—>»«:;,.!?()[]{}\"'“”‘’"
_WORDS_SHORT_LINE = 25  # a phrase inside a longer paragraph is a mention, not boilerplate
_WORDS_STARTS_LINE = 15


def normalize_line(text: str) -> str:
    """Case-folded, NFKC, apostrophes unified, whitespace collapsed, edge punctuation trimmed."""
    text = unicodedata.normalize("NFKC", text).casefold().replace("’", "'")
    return " ".join(text.split()).strip(_EDGE)


def _rule_for(text: str) -> str | None:
    if not _LETTER.search(text):
        return "no_letters"
    norm = normalize_line(text)
    n_words = norm.count(" ") + 1
    for name, (whole, starts, inside) in PHRASE_RULES.items():
        if norm in whole:
            return name
        if starts and n_words <= _WORDS_STARTS_LINE and norm.startswith(starts):
            return name
        if inside and n_words <= _WORDS_SHORT_LINE and any(p in norm for p in inside):
            return name
    if n_words <= 8 and set(norm.replace(",", " ").replace("|", " ").split()) <= _SHARE_WORDS:
        return "share_bar"
    if n_words <= 12 and _MEDIA_CREDIT_PREFIX.match(norm):
        return "media_credit"
    if n_words <= 4 and _MEDIA_CREDIT_SUFFIX.search(norm):
        return "media_credit"
    return None


def template_key(text: str, max_words: int) -> int | None:
    norm = normalize_line(text)
    if not norm or norm.count(" ") + 1 > max_words:
        return None
    return xxhash.xxh3_64_intdigest(norm.encode("utf-8"))


def flag_boilerplate(paragraphs: pa.Table, settings: BoilerplateSettings) -> pa.Table:
    """Add `boilerplate_rule` (null = content) and `template_key` (hash of the normalised line,
    for the run-wide site-template rule; null for lines too long to be a template)."""
    texts = paragraphs["text"].to_pylist()
    rules = [_rule_for(t) for t in texts]
    keys = [template_key(t, settings.template_max_words) for t in texts]
    return (paragraphs.append_column("boilerplate_rule", pa.array(rules, type=pa.string()))
            .append_column("template_key", pa.array(keys, type=pa.uint64())))


def site_of(source: str, url: str | None) -> str:
    """The site a document belongs to for template detection: URL host, else the input file
    (a JSONL or Parquet file usually holds one crawl), or for one-document .txt files their folder."""
    if url:
        host = urlsplit(url).hostname
        if host:
            return host.removeprefix("www.")
    if source.lower().endswith(".txt"):
        return source.rsplit("/", 1)[0] if "/" in source else "."
    return source


def find_site_templates(sites: np.ndarray, doc_index: np.ndarray, keys: np.ndarray,
                        settings: BoilerplateSettings) -> np.ndarray:
    """Which paragraphs are site template lines.

    sites: site code per paragraph (int); doc_index: document number per paragraph (int, unique
    across the run); keys: template_key per paragraph (uint64, 0 = none). A key is a template of
    a site when it occurs in >= template_min_docs documents of the site and in >= template_min_share
    of the site's documents. Returns a boolean mask over the paragraphs.
    """
    n = len(keys)
    mask = np.zeros(n, dtype=bool)
    has_key = keys != 0
    if not has_key.any():
        return mask
    # Distinct (site, key, document) triples, then documents per (site, key).
    triples = np.unique(np.stack([sites[has_key], keys[has_key].view(np.int64),
                                  doc_index[has_key]], axis=1), axis=0)
    pairs, docs_per_pair = np.unique(triples[:, :2], axis=0, return_counts=True)
    site_codes, site_doc_counts = np.unique(
        np.unique(np.stack([sites, doc_index], axis=1), axis=0)[:, 0], return_counts=True)
    docs_in_site = dict(zip(site_codes.tolist(), site_doc_counts.tolist()))
    needed = np.array([max(settings.template_min_docs,
                           settings.template_min_share * docs_in_site[s]) for s in pairs[:, 0]])
    template_pairs = pairs[docs_per_pair >= needed]
    if not len(template_pairs):
        return mask
    wanted = {(int(s), int(k)) for s, k in template_pairs}
    idx = np.flatnonzero(has_key)
    pair_of_row = zip(sites[idx].tolist(), keys[idx].view(np.int64).tolist())
    mask[idx] = [p in wanted for p in pair_of_row]
    return mask
