"""Known boilerplate phrases, in English, German, French and Spanish, by rule name.

A phrase rule matches the whole (normalised) line, or the start of a line of <= 15 words, or a
phrase inside a line of <= 25 words: a real paragraph that mentions "privacy policy" in passing
is not a policy link. Add a phrase where it belongs; the rule names are part of the output
(`boilerplate_rule`) and registered in tasks/reasons.py.
"""

from __future__ import annotations

import re

from tasks import reasons

# rule name -> (whole-line phrases, line-start phrases, phrases inside a line of <= 25 words)
PHRASE_RULES: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    reasons.COMMENT_FORM: (
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
    reasons.NEWSLETTER: (
        ("newsletter", "subscribe", "newsletter abonnieren", "s'abonner", "suscríbete"),
        ("sign up for our", "sign up for free", "sign up to our", "subscribe to", "get our newsletter", "join our mailing list",
         "newsletter sign up", "newsletter signup", "melden sie sich", "abonnieren sie",
         "abonnez-vous", "inscrivez-vous", "suscríbete a", "suscribirse"),
        ("our newsletter", "delivered to your inbox", "straight to your inbox",
         "enter your email address", "unseren newsletter", "notre newsletter",
         "nuestro boletín", "nuestra newsletter"),
    ),
    reasons.SHARE_BAR: (
        (),
        ("share this", "share on", "click to share", "follow us on", "folgen sie uns",
         "suivez-nous", "síguenos", "diesen artikel teilen", "artikel teilen",
         "partager cet article", "partager sur", "compartir en", "compartir este"),
        (),
    ),
    reasons.COOKIE_NOTICE: (
        (),
        (),
        ("we use cookies", "uses cookies", "use of cookies", "accept cookies",
         "accept all cookies", "cookie policy", "cookie settings", "wir verwenden cookies",
         "verwendet cookies", "nous utilisons des cookies", "utilise des cookies",
         "utilizamos cookies", "utiliza cookies", "usamos cookies"),
    ),
    reasons.POLICY_LINKS: (
        ("privacy", "privacy policy", "terms of use", "terms of service", "terms and conditions",
         "imprint", "legal notice", "contact us", "about us", "datenschutz",
         "datenschutzerklärung", "impressum", "kontakt", "mentions légales",
         "politique de confidentialité", "aviso legal", "política de privacidad"),
        ("copyright", "©", "all rights reserved", "alle rechte vorbehalten",
         "tous droits réservés", "todos los derechos reservados"),
        ("all rights reserved", "alle rechte vorbehalten", "tous droits réservés",
         "todos los derechos reservados"),
    ),
    reasons.RELATED_LINKS: (
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
    reasons.PARTNER_PROMO: (
        ("advertisement", "advertising", "sponsored", "sponsored content", "promoted stories",
         "paid content", "partner content", "anzeige", "werbung", "publicité", "publicidad"),
        ("white papers from our partners", "sponsored by", "presented by", "in partnership with",
         "paid post"),
        (),
    ),
    reasons.ARCHIVE_NOTE: (
        (),
        ("this article is more than", "this article was originally published",
         "this article first appeared", "this article is from the archive", "from the archive",
         "archived from the original", "dieser artikel erschien zuerst",
         "cet article a été publié initialement"),
        (),
    ),
    reasons.AUTHOR_BIO: (
        ("about the author", "about the authors", "über den autor", "über die autorin",
         "à propos de l'auteur", "sobre el autor", "sobre la autora"),
        (),
        (),
    ),
    reasons.JAVASCRIPT: (
        (),
        (),
        ("javascript",),
    ),
    reasons.NAVIGATION: (
        ("home", "back to top", "top", "to top", "skip navigation", "skip to content",
         "skip to main content", "main menu", "menu", "search", "advanced search", "sitemap",
         "site map", "text size", "font size", "print this article", "print this page",
         "email this article", "e-mail this article", "print story", "email story",
         "next page", "previous page", "more", "more...", "startseite", "nach oben", "suche",
         "zur startseite", "accueil", "rechercher", "haut de page", "retour en haut", "inicio",
         "buscar", "volver arriba", "ir arriba"),
        ("skip to ", "back to top", "zurück zur", "retour à l'accueil", "volver a "),
        (),
    ),
    reasons.LOGIN_PROMPT: (
        ("log in", "login", "sign in", "register", "sign up", "my account", "anmelden",
         "registrieren", "se connecter", "s'inscrire", "iniciar sesión", "registrarse"),
        (),
        (),
    ),
}

# Words a share bar is made of: a line of nothing else is a share bar.
SHARE_WORDS = frozenset([
    "share", "shares", "tweet", "pin", "email", "e-mail", "mail", "print", "facebook", "twitter",
    "x", "linkedin", "pinterest", "whatsapp", "telegram", "reddit", "messenger", "flipboard",
    "tumblr", "xing", "vk", "copy", "link", "google+", "teilen", "drucken", "partager", "imprimer",
    "compartir", "imprimir",
])
MEDIA_CREDIT_PREFIX = re.compile(
    r"^(photo|photos|image|images|picture|credit|photo credit|foto|fotos|bild|bildquelle|"
    r"crédit photo|crédits photo|créditos)\s*[:©]"
)
MEDIA_CREDIT_SUFFIX = re.compile(r"\b(logo|photo|image|screenshot|illustration)$")

# Words of a date or time line (`date_alone`), in the same four languages, lower case. Names
# of months and days, abbreviated ones also with a full stop; the words around a number that
# make it a time; the labels and little words a dateline is built of ("Updated on", "am",
# "le", "de"). A line is a date when it is made of these and numbers only and names a date:
# see tasks/shard/boilerplate/__init__.py.
DATE_NAMES = (
    # en
    "january", "february", "march", "april", "may", "june", "july", "august", "september",
    "october", "november", "december", "monday", "tuesday", "wednesday", "thursday", "friday",
    "saturday", "sunday",
    # de
    "januar", "jänner", "februar", "märz", "mai", "juni", "juli", "oktober", "dezember",
    "montag", "dienstag", "mittwoch", "donnerstag", "freitag", "samstag", "sonnabend", "sonntag",
    # fr
    "janvier", "février", "mars", "avril", "juin", "juillet", "août", "septembre", "octobre",
    "novembre", "décembre", "lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi",
    "dimanche",
    # es
    "enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre",
    "setiembre", "octubre", "noviembre", "diciembre", "lunes", "martes", "miércoles",
    "miercoles", "jueves", "viernes", "sábado", "sabado", "domingo",
)
DATE_ABBREVIATIONS = (
    # en
    "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "mon",
    "tue", "tues", "wed", "thu", "thur", "thurs", "fri", "sat", "sun",
    # de
    "mär", "mrz", "okt", "dez", "mo", "di", "mi", "do", "fr", "sa", "so",
    # fr
    "janv", "févr", "fév", "avr", "juil", "déc", "lun", "mer", "jeu", "ven", "sam", "dim",
    # es
    "ene", "abr", "ago", "dic", "mié", "jue", "vie", "sáb", "dom",
)
CLOCK_WORDS = ("am", "pm", "a.m.", "p.m.", "uhr", "gmt", "utc", "bst", "est", "edt", "cst",
               "cdt", "pst", "pdt", "cet", "cest", "mez", "mesz")
DATE_LABELS = (
    # en
    "updated", "published", "posted", "last", "modified", "on", "at", "of", "the", "today",
    "yesterday",
    # de
    "aktualisiert", "veröffentlicht", "zuletzt", "geändert", "stand", "am", "um", "vom", "den",
    "heute", "gestern",
    # fr
    "publié", "publiée", "mis", "jour", "modifié", "le", "à", "du", "h", "aujourd'hui", "aujourd’hui",
    "hier",
    # es
    "publicado", "actualizado", "modificado", "el", "de", "del", "a", "las", "la", "hoy", "ayer",
)
