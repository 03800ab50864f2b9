"""Families of lines news sites add around an article, as patterns rather than phrase lists.

A phrase list (phrases.py) names lines one site writes; a family is the shape many sites share:
"This article was originally published on ...", "X is powered by Y", "X is a nonprofit
newsroom covering ...", "Jane Doe is a staff writer for ...", "(AP Photo/Jane Doe)", "Tags:".
Each family has two kinds of pattern, matched on the normalised line (normalize_line: case-folded,
NFKC, edge punctuation trimmed) of at most MAX_WORDS words:

- `opening`: the line starts as only such a line starts. Flagged wherever it stands.
- `inside`: the wording is the family's, but an article could say it too ("a car powered by
  hydrogen"). Flagged outside the article's main run; inside it (or on a page without one) the
  model decides, and the family names the line when it says boilerplate.

Patterns run in RE2 (Arrow's regex kernels): `\\w` and `\\b` are ASCII there, so words with
accents are spelled out and boundaries next to them written as spaces. Languages: English,
German, French, Spanish, as the phrase rules.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tasks import reasons

MAX_WORDS = 60  # a family line is a note, not an article paragraph

_WORD = r"[^ ,;:!?()\"“”/|]+"  # a word; a class of letters (\pL) is many times slower in RE2
_NAME = rf"{_WORD}(?: {_WORD}){{0,5}}"  # a name of 1-6 words
_ARTICLE = (r"(?:article|story|post|piece|report|column|interview|essay|feature|item|page|"
            r"blog post|content|video|episode)")

FAMILIES: dict[str, dict[str, tuple[str, ...]]] = {
    # where the text comes from: archives, syndication, reprints, updates of an old page
    reasons.ARCHIVE_NOTE: {
        "opening": (
            (rf"^(?:this|the following|a version of this|an earlier version of this) {_ARTICLE} "
            r"(?:(?:was|is|has been|had been|first|originally|also|previously) )*"
            r"(?:published|appeared|posted|ran|printed|reprinted|republished|syndicated|"
            r"archived|adapted|excerpted|imported|migrated|produced|from)\b"),
            r"^(?:originally|first) (?:published|appeared|posted)\b",
            r"^(?:reprinted|republished|reproduced|syndicated) (?:with|by|from|courtesy)\b",
            r"^(?:from|in) (?:the|our) archives?\b",
            r"^this is an archived\b",
            (r"^(?:dieser|der) (?:artikel|beitrag|text) (?:erschien|ist|wurde) .{0,60}"
            r"(?:zuerst|ursprünglich|erstmals|erschienen)"),
            r"^(?:zuerst|ursprünglich|erstmals) (?:erschienen|veröffentlicht)",
            r"^(?:cet|l') article (?:a été|est paru|a paru|est initialement|a d'abord)",
            r"^(?:initialement|d'abord) (?:publié|paru)",
            r"^este (?:artículo|texto|reportaje) (?:fue|se) (?:publicado|publicó)",
            r"^publicado originalmente",
        ),
        "inside": (
            (r"\b(?:originally (?:published|appeared|posted|ran)|first (?:published|posted)) "
            r"(?:on|in|at|by)\b"),
            r"\b(?:reprinted|republished) (?:with|by) (?:kind )?permission\b",
            r"\bis republished from\b",
            (r"\b(?:formatting|images|links|photos) (?:may|might|could) (?:be|have been) "
            r"(?:lost|missing|broken|incomplete)"),
            (r"\bmay (?:not )?(?:contain|display|appear with|lack|have lost)\b.{0,40}"
            r"\b(?:formatting|original format)"),
            r"\bfrom (?:the|our) archives?\b",
            r"\barchiv(?:e|ed) (?:from|version)\b",
            r" (?:zuerst|ursprünglich|erstmals) (?:erschienen|veröffentlicht) (?:in|bei|auf)\b",
            r" (?:initialement|d'abord) (?:publié|paru)e? (?:dans|sur|par)\b",
            r" publicado originalmente (?:en|por)\b",
        ),
    },
    # who pays for or powers the page, and disclosures that the newsroom is independent of them
    reasons.SPONSORSHIP: {
        "opening": (
            (r"^(?:sponsored|presented|brought to you|supported|funded|powered|underwritten|"
            r"paid for|made possible) by\b"),
            r"^in (?:partnership|association|collaboration) with\b",
            (rf"^(?:this|the) (?:{_ARTICLE}|series|project|coverage|site|website|newsletter|"
            r"podcast|section) (?:is|was) (?:(?:made|produced|created|written|published) )?"
            r"(?:sponsored|paid for|funded|supported|underwritten|brought to you|presented|"
            r"made possible|powered|in partnership)\b"),
            (r"^(?:advertiser|sponsor|sponsored|partner|paid|branded|promoted) (?:content|post|"
            r"feature|story|article)\b"),
            r"^(?:gesponsert|präsentiert|unterstützt|gefördert) (?:von|durch)\b",
            r"^in (?:zusammenarbeit|kooperation|partnerschaft) mit\b",
            r"^(?:sponsorisé|présenté|soutenu|financé|parrainé)e? par\b",
            r"^en (?:partenariat|collaboration|association) avec\b",
            r"^(?:patrocinado|presentado|financiado|apoyado)a? por\b",
            r"^con el (?:apoyo|patrocinio) de\b",
        ),
        "inside": (
            r"\b(?:is|are|was) (?:proudly )?powered by\b",
            r"\bpowered by\b",
            r"\beditorial(?:ly)? independen",
            r"\baffiliate (?:links?|partnerships?|commissions?|programs?)\b",
            (r"\bmay (?:earn|receive|get) (?:a )?(?:small )?(?:share of sales|commission|"
            r"compensation|affiliate)"),
            r"\b(?:does|do) not influence (?:our|the) (?:editorial|coverage|reporting)\b",
            r"\bindependent of (?:our|its|the) (?:advertisers|sponsors|funders|donors)\b",
            r"\b(?:is|are) (?:a )?(?:sponsor|underwriter)s? of\b",
            r" redaktionell unabhängig",
            r" (?:affiliate|provisions)-?links?\b",
            r" indépendance éditoriale| éditorialement indépendant",
            r" independencia editorial| enlaces de afiliados",
        ),
    },
    # a publisher describing itself where the author box would be: what it covers, who runs it
    reasons.PUBLISHER_INFO: {
        "opening": (
            (r"^(?:about us|about this site|about the site|about the publisher|who we are|"
            r"our mission|über uns|qui sommes-nous|à propos de nous|quiénes somos|sobre nosotros)"
            r"\s*:"),
        ),
        "inside": (
            r"^(?:founded|established|launched|started) in (?:1[89]|20)\d\d, ",
            (rf"^{_NAME} (?:is|are) (?:a|an|the|one of the|your) (?:{_WORD},? ){{0,6}}"
            r"(?:news|media|publishing|publication|website|web site|news site|magazine|newspaper|"
            r"outlet|news organi[sz]ation|news agency|newsroom|blog|news portal|journal|"
            r"nonprofit|non-profit|broadcaster|daily|weekly)s?\b"),
            rf"^{_NAME} (?:is|are) (?:owned|published|operated|run|produced) by\b",
            (rf"^{_NAME} (?:is|are) (?:a )?(?:part|member|division|subsidiary|brand|unit) of "
             rf"(?:the )?(?:{_WORD} ){{0,4}}(?:network|group|family|media|company|publishing|"
             r"newspapers?|magazines?|news)\b"),
            r"\bis a (?:registered )?trademark of\b",
            (r"\b(?:covers|covering|dedicated to|devoted to|specializ(?:es|ing) in) (?:the )?"
            r"(?:latest )?(?:news|coverage|reporting|journalism|stories)\b"),
            r"\bour (?:mission|journalism|newsroom) is\b",
            (r"\b(?:we are|we're) (?:an? )?(?:independent|nonprofit|non-profit|reader-supported|"
            r"reader-funded)\b"),
            (rf" ist (?:ein|eine|das|die|der) (?:{_WORD} ){{0,5}}(?:nachrichten[^ ]*|magazin|zeitung|"
            r"portal|medium|verlag|website|onlineportal|newsportal|plattform)\b"),
            (rf" est (?:un|une|le|la) (?:{_WORD} ){{0,5}}(?:média|journal|magazine|site|quotidien|"
            r"hebdomadaire|portail)"),
            (rf" es (?:un|una|el|la) (?:{_WORD} ){{0,5}}(?:medio|diario|periódico|revista|portal|"
            r"sitio)"),
        ),
    },
    # author boxes: who wrote it, how to reach or follow them
    reasons.AUTHOR_BIO: {
        "opening": (
            (r"^(?:more|all|other|recent|latest) (?:articles|stories|posts|columns) (?:by|from) "
            r"(?:this |the )?(?:author|writer|reporter)\b"),
            r"^view (?:all )?(?:posts|articles|stories) by\b",
            r"^(?:follow|contact|email|e-mail) (?:the )?(?:author|writer|reporter)\b",
        ),
        "inside": (
            r"^(?:by|von|par|por) [^,.;:]{2,40}(?:@|\bemail\b|\be-mail\b|\btwitter\b|\bfollow\b)",
            (rf"^{_NAME} (?:is|was) (?:a|an|the|our) (?:{_WORD} ){{0,4}}(?:writer|reporter|"
            r"correspondent|editor|journalist|contributor|columnist|author|freelancer|producer|"
            r"blogger|analyst|intern|photographer|critic)s?\b"),
            (r"\b(?:follow|find) (?:him|her|them|me|us) on (?:twitter|x|facebook|instagram|"
            r"linkedin|threads|bluesky|mastodon)\b"),
            (r"\b(?:reach|contact|email|e-mail) (?:him|her|them|me|the author|the writer) "
            r"(?:at|via|on|by)\b"),
            r"\bcan be (?:reached|contacted|emailed) (?:at|via|on|by)\b",
            (r" ist (?:redakteur|redakteurin|autor|autorin|korrespondent|korrespondentin|"
            r"journalist|journalistin|reporter|reporterin)\b"),
            (r" est (?:journaliste|rédacteur|rédactrice|correspondant|correspondante|auteur|"
            r"autrice)"),
            r" es (?:periodista|redactor|redactora|corresponsal|autor|autora|columnista)\b",
        ),
    },
    # picture captions that end with, or are, a credit
    reasons.MEDIA_CREDIT: {
        "opening": (
            (r"^(?:photo|photograph|image|picture|video|graphic|illustration|foto|bild|"
            r"grafik)s? (?:credit|courtesy|by|via|source|quelle)\b"),
            r"^(?:credit|courtesy|source|quelle|crédit|crédito|fuente)s?: ",
        ),
        "inside": (
            (r"\((?:[^()]{0,60}[ /](?:ap|afp|reuters|getty images|the canadian press|epa|pa|dpa|"
            r"efe|ansa|bloomberg|xinhua|shutterstock|istock|ap images)|(?:ap |afp |reuters |file )?"
            r"(?:photo|photograph|foto|image|picture|illustration)s?(?: by| courtesy| credit)?"
            r"[:/ ][^()]{0,60})$"),
            (r"\b(?:getty images|shutterstock|istock(?:photo)?|wikimedia commons|creative commons|"
            r"cc by(?:-sa|-nd|-nc)*(?: \d\.\d)?|ap photo|reuters photo)\b"),
            (r"\bin this (?:file )?(?:image|photo|photograph|picture|handout|still) "
            r"(?:released|taken|provided|made available|obtained|dated)\b"),
            r"^pictured(?: above| here| left| right)?(?:: | is | are )",
        ),
    },
    # tag and category lists
    reasons.TAG_LIST: {
        "opening": (
            (r"^(?:tags|tagged|tagged with|filed under|filed in|posted in|categories|category|"
            r"topics|keywords|related topics|schlagwörter|schlagworte|stichwörter|themen|"
            r"mots-clés|mots clés|étiquettes|catégories|thèmes|etiquetas|temas|categorías|"
            r"palabras clave)\s*:"),
        ),
        "inside": (),
    },
    # a paywall or registration wall in front of the rest of the text
    reasons.LOGIN_PROMPT: {
        "opening": (
            (r"^(?:to|in order to) (?:read|view|access|see|continue reading|comment|enjoy)\b.{0,60}"
            r"\b(?:you must|you need|please|you have to|register|subscribe|log in|sign in)\b"),
            r"^(?:already|not) (?:a )?(?:subscriber|registered|member)\b",
            (r"^(?:subscribe|register|sign in|log in|sign up) (?:now )?(?:to|for) (?:read|continue|"
            r"access|unlimited|full|get|view|comment)"),
        ),
        "inside": (
            (r"\b(?:you must|you need to|you have to|please) (?:be )?(?:registered|register|"
            r"log in|logged in|sign in|signed in|subscribe|a subscriber|a member)\b"),
            r"\bpremium (?:content|subscription|subscribers?|members?)\b",
            r"\b(?:subscribers?|members?) only\b|\bfor subscribers\b",
            r" nur für (?:abonnenten|abonnentinnen|registrierte)| bereits abonnent",
            r" réservé aux abonnés| déjà abonné| contenu réservé",
            r" (?:sólo|solo) para suscriptores| ya eres suscriptor",
        ),
    },
    # comment sections: their forms, captchas, policies and feeds
    reasons.COMMENT_FORM: {
        "opening": (
            r"^(?:enter|type) (?:the|these) (?:letters|characters|words|code|numbers|text)\b",
            (r"^(?:post|add|leave|write|submit) (?:a |your |new )?(?:comment|reply|response)"
            r"(?: \S+){0,4}$"),
            (r"^(?:comments?|replies|responses) (?:are|is) (?:closed|moderated|disabled|"
            r"subject)\b"),
            r"^(?:report|flag) (?:this )?(?:comment|post|reply|abuse)$",
        ),
        "inside": (
            r"\b(?:enter|type) the (?:letters|characters|words|code|numbers)\b",
            r"\bcaptcha\b",
            r"\bhaving trouble reading (?:this|the) (?:image|word|code)",
            (r"\b(?:subscribe|subscribing) to (?:the |this )?(?:comment|comments|conversation|"
            r"discussion)\b"),
            r"\bcomment(?:s|ing)? (?:feed|policy|guidelines|rules|section)\b",
            r"\b(?:before|when) (?:posting|commenting|you comment|you post)\b",
            r"\bcomments? (?:are|is|will be|may be) (?:moderated|closed|reviewed|edited|removed)\b",
            r"\b(?:log in|sign in|register) to (?:comment|reply|post)\b",
            r"\bcomments?\b.{0,40}\b(?:reviewed|moderated|approved|checked) before\b",
            # a comment's signature: who posted it and when, below the article
            r"^(?:comment #?\d+ ?[-:] ?)?posted by:? [^.!?]{1,60}\d{1,2}:\d\d",
            (rf"^(?:{_WORD} ){{1,4}}(?:on |• )?(?:\d{{1,2}}\.? )?(?:jan|feb|mar|apr|may|jun|jul|"
             r"aug|sep|oct|nov|dec)[a-z]*\.?,? (?:\d{1,2}(?:st|nd|rd|th)?,? )?\d{4},? "
             r"(?:at |@ |- |/ )?\d{1,2}:\d\d"),
            r"^(?:[^ ]+ ){0,6}(?:says|said|wrote|schreibt|écrit|dice|escribió)$",
            r" kommentar(?:e|funktion)? .{0,30}(?:geschlossen|moderiert|deaktiviert)",
            r" commentaires? (?:sont )?(?:fermés|modérés)",
            r" comentarios? (?:están )?(?:cerrados|moderados)",
        ),
    },
    # rights and reuse notices
    reasons.POLICY_LINKS: {
        "opening": (),
        "inside": (
            (r"\bmay not be (?:published|reproduced|copied|republished|redistributed|broadcast|"
            r"rewritten|reused)"),
            (r"\bwithout (?:the )?(?:(?:prior|express) (?:written )?|written )(?:permission|consent|"
            r"authori[sz]ation)\b"),
            r"\ball rights reserved\b",
            r" darf nicht .{0,40}(?:veröffentlicht|verbreitet|vervielfältigt)",
            r" reproduction (?:strictement )?interdite| prohibida (?:su|la) reproducción",
        ),
    },
    # cookie and consent text
    reasons.COOKIE_NOTICE: {
        "opening": (),
        "inside": (
            r"\b(?:we|this (?:site|website)|our (?:site|website|partners)) (?:use|uses) cookies\b",
            (r"\bby (?:continuing|using|browsing) (?:to (?:use|browse) )?(?:this|our|the) "
            r"(?:site|website)\b"),
            r"\byou (?:agree|consent) to (?:the|our) (?:use of cookies|privacy|terms|cookie)",
            r"\bmanage (?:your )?(?:cookie|privacy|consent) (?:settings|preferences|choices)\b",
            r" durch die (?:weitere )?nutzung (?:der|dieser|unserer) (?:seite|website|webseite)",
            r" en poursuivant (?:votre )?navigation| al continuar (?:navegando|utilizando)",
        ),
    },
}


def _combined(patterns: tuple[str, ...]) -> str | None:
    return "|".join(f"(?:{p})" for p in patterns) if patterns else None


_OPENING = {name: _combined(f["opening"]) for name, f in FAMILIES.items()}
_INSIDE = {name: _combined(f["inside"]) for name, f in FAMILIES.items()}


def line_families(norms: list[str]) -> tuple[list[str | None], np.ndarray]:
    """Per normalised line: the first family whose pattern it matches (None if none), and
    whether that match was an opening one (flagged wherever the line stands)."""
    family: list[str | None] = [None] * len(norms)
    opening = np.zeros(len(norms), dtype=bool)
    rows = np.array([i for i, n in enumerate(norms) if n and n.count(" ") < MAX_WORDS],
                    dtype=np.int64)
    if not len(rows):
        return family, opening
    texts = pa.array([norms[i] for i in rows.tolist()], type=pa.string())
    # One scan per family and kind: one alternation of them all is several times slower in RE2.
    for name in FAMILIES:  # in order: the first family that matches names the line
        for pattern, is_opening in ((_OPENING[name], True), (_INSIDE[name], False)):
            if pattern is None:
                continue
            match = pc.match_substring_regex(texts, pattern).to_numpy(zero_copy_only=False)
            for i in rows[match].tolist():
                if family[i] is None:
                    family[i], opening[i] = name, is_opening
    return family, opening
