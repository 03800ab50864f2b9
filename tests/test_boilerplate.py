import numpy as np
import pyarrow as pa
import pytest

from tasks.boilerplate import find_site_templates, flag_boilerplate, site_of
from tasks.paragraphs import split_text
from tasks.settings import BoilerplateSettings

S = BoilerplateSettings()


def rules_for(lines):
    table = pa.table({"text": lines})
    return flag_boilerplate(table, S)["boilerplate_rule"].to_pylist()


# What the seed articles carry besides the article: exactly these lines.
SEED_BOILERPLATE = {
    "Please enter your comment!": "comment_form",
    "Please enter your name here": "comment_form",
    "Full coverage: Technology": "related_links",
    "IBM logo": "media_credit",
}


def test_seed_articles_boilerplate_flagged_and_article_text_kept(seed_texts):
    flagged = {}
    for text in seed_texts.values():
        lines = [p for _, _, p in split_text(text)]
        for line, rule in zip(lines, rules_for(lines)):
            if rule is not None:
                flagged[line] = rule
    assert flagged == SEED_BOILERPLATE


@pytest.mark.parametrize("line,rule", [
    ("Leave a Reply", "comment_form"),
    ("Your email address will not be published. Required fields are marked *", "comment_form"),
    ("Ihre E-Mail-Adresse wird nicht veröffentlicht.", "comment_form"),
    ("Laisser un commentaire", "comment_form"),
    ("Deja un comentario", "comment_form"),
    ("Sign up for our newsletter to get the best stories delivered to your inbox", "newsletter"),
    ("Newsletter abonnieren", "newsletter"),
    ("Abonnez-vous à notre newsletter", "newsletter"),
    ("Suscríbete a nuestro boletín", "newsletter"),
    ("Facebook Twitter WhatsApp Email", "share_bar"),
    ("Share this article", "share_bar"),
    ("We use cookies to improve your experience on our website.", "cookie_notice"),
    ("Wir verwenden Cookies, um Ihnen das beste Nutzererlebnis zu bieten.", "cookie_notice"),
    ("© 2020 Example Media. All rights reserved.", "policy_links"),
    ("Impressum", "policy_links"),
    ("Related articles", "related_links"),
    ("Lesen Sie auch: Die Wahl in Bayern", "related_links"),
    ("White papers from our partners", "partner_promo"),
    ("Advertisement", "partner_promo"),
    ("This article is more than 2 years old", "archive_note"),
    ("About the author", "author_bio"),
    ("Please enable JavaScript to view the comments.", "javascript"),
    ("12:45 | 3", "no_letters"),
    ("Photo: Reuters/John Smith", "media_credit"),
])
def test_named_rules(line, rule):
    assert rules_for([line]) == [rule]


@pytest.mark.parametrize("line", [
    "IBM drops facial recognition, joins call for police reform",
    "Fear of face recognition software causing privacy and rights violations",
    "“We should discuss whether facial recognition technology should be used by law enforcement officers.”",
    ("The company updated its privacy policy after regulators asked how it uses cookies, and "
     "critics said the change, announced on Monday in a long statement, was far too little and "
     "came too late for millions of users whose data had already been shared."),
    "WASHINGTON (Reuters) -",
    "Carpool.",
    "Comments from the minister surprised many observers.",
])
def test_content_is_not_flagged(line):
    assert rules_for([line]) == [None]


def test_site_templates_need_many_documents_of_one_site():
    # site 0: 10 docs, a menu line in 6 of them; site 1: the same line in 2 of its 10 docs.
    sites, docs, keys = [], [], []
    for d in range(20):
        site = 0 if d < 10 else 1
        for k in (100 + d, 7):  # a unique line, then the shared line
            if k == 7 and ((site == 0 and d >= 6) or (site == 1 and d >= 12)):
                continue
            sites.append(site)
            docs.append(d)
            keys.append(k)
    mask = find_site_templates(np.array(sites), np.array(docs), np.array(keys, dtype=np.uint64), S)
    flagged = {(s, k) for s, k, m in zip(sites, keys, mask) if m}
    assert flagged == {(0, 7)}


def test_site_of():
    assert site_of("crawl.jsonl", "https://www.example.com/a/b") == "example.com"
    assert site_of("crawl.jsonl", None) == "crawl.jsonl"
    assert site_of("news/a.txt", None) == "news"
    assert site_of("a.txt", None) == "."
