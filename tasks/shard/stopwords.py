"""Function words left out of the word sets that near-duplicate detection compares.

Two unrelated paragraphs share "the, of, and, to, in, is..." and so look somewhat alike by
word-set Jaccard; without those words they share almost nothing, while a spun or round-trip-translated
copy keeps most of its content words. The lists cover the languages most scraped text is in
(English, German, French, Spanish, Italian, Portuguese, Dutch); words are lower-cased NFKC as the
tokeniser produces them. Changing a list changes every signature: bump NORMALIZER_VERSION in
tasks/shard/normalize.py.
"""

_LISTS = {
    "en": """a about above after again against all also am an and any are aren as at be because been
        before being below between both but by can could couldn did didn do does doesn doing don down
        during each even ever every few for from further get got had hadn has hasn have haven having
        he her here hers herself him himself his how however i if in into is isn it its itself just
        ll me might more most must my myself no nor not now of off on once one only or other our ours
        ourselves out over own per re s said same says shall she should so some such than that the
        their theirs them themselves then there these they this those through to too under until up
        upon us very via was wasn we were weren what when where whether which while who whom whose why
        will with within without won would wouldn yet you your yours yourself yourselves""",
    "de": """aber alle allem allen aller alles als also am an ander andere anderem anderen anderer
        anderes auch auf aus bei beim bin bis bist da dabei damit dann das dass dem den denn der des
        deshalb dessen die dies diese diesem diesen dieser dieses doch dort du durch ein eine einem
        einen einer eines er es etwa euch euer für gegen hat hatte hatten hier hin hinter ich ihm ihn
        ihnen ihr ihre ihrem ihren ihrer ihres im in ins ist ja jede jedem jeden jeder jedes jetzt
        kann kein keine können man mehr mein meine mit muss nach nicht noch nun nur ob oder ohne sehr
        sein seine seinem seinen seiner sich sie sind so soll sollen sondern sowie über um und uns
        unser unter viel vom von vor war waren warum was weil welche welchem welchen welcher wenn wer
        werden wie wieder will wir wird wo wurde wurden zu zum zur zwar zwischen""",
    "fr": """à afin ai aie ainsi alors au aucun aussi autre aux avec avoir c ce ceci cela celle celles
        celui ces cet cette ceux chaque comme d dans de des donc dont du elle elles en encore entre est
        et étaient était été être eu eux il ils j je l la le les leur leurs lui m ma mais me même mes
        moi mon n ne ni nos notre nous on ont ou où par parce pas pendant peu peut plus pour qu quand
        que quel quelle quelles quels qui s sa sans se ses si son sont sous sur t ta te tes toi ton
        tous tout toute toutes très tu un une vos votre vous y""",
    "es": """a al algo algunas algunos ante antes como con contra cual cuando de del desde donde
        durante e el ella ellas ellos en entre era eran es esa esas ese eso esos esta estaba estaban
        estado estar estas este esto estos está están fue fueron ha había habían han hasta hay la las
        le les lo los más me mi mis mucho muy más nada ni no nos nosotros o os otra otras otro otros
        para pero poco por porque que quien quienes qué se sea según ser si sido sin sobre son su sus
        también tanto te tiene tienen todo todos tu tus un una uno unos usted y ya yo""",
    "it": """a ad agli ai al alla alle allo anche che chi ci come con contro cui da dal dalla dalle dei
        del della delle dello di dove e ed era erano essere gli ha hanno il in io la le lei li lo loro
        lui ma mi nei nel nella nelle noi non o per perché più quale quando questa queste questi questo
        se si sia siamo sono su sua sue sui sul sulla suo suoi tra tu un una uno voi è""",
    "pt": """a ao aos as até com como da das de dela dele deles do dos e ela elas ele eles em entre era
        essa esse esta este eu foi foram há isso isto já lhe mais mas me mesmo meu minha muito na nas
        nem no nos nós o os ou para pela pelas pelo pelos por qual quando que quem se sem ser seu sua
        são só também te tem ter um uma você é""",
    "nl": """aan al alle als bij dan dat de der deze die dit door een en er geen had heb hebben heeft
        hem het hier hij hoe hun ik in is je kan maar me meer men met mij mijn na naar niet nog nu of
        om omdat ons ook op over te tegen toch tot u uit van veel voor want was wat we wel werd wie wij
        worden wordt zal ze zelf zich zij zijn zo zonder""",
}

STOPWORDS = frozenset(word for words in _LISTS.values() for word in words.split())
