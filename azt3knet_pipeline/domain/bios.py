# ruff: noqa: RUF001, E501  (Japanese punctuation is wanted here; the language tables read best one entry a line)
"""Generator v2 bios: short seeded offline bios in the agent's language, still marked synthetic.

Languages with templates: `BIO_LANGUAGES`. Any other locale gets English (`bio_language` says which was used,
so the report and asset metadata can say so). Template choices are digits of a per-row seed, as in v1.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# language -> (openers with {name} {age} {city}, pair lines with {a} {b}, single lines with {a}, tone closers
# keyed like generation.TONES, synthetic mark)
_T = dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...], dict[str, tuple[str, ...]], str]]
TEMPLATES: _T = {
    "en": (
        ("{name}, {age}, lives in {city}.", "{name} is {age} and calls {city} home.", "From {city}: {name}, {age}."),
        ("Into {a} and {b}.", "Spends weekends on {a}, weeknights on {b}.", "Talks about {a} more than {b}."),
        ("Mostly into {a}.", "Can talk about {a} for hours."),
        {
            "casual": ("Keeps it light.", "Here for the good threads."),
            "enthusiastic": ("Always excited to share!", "Loves a good recommendation!"),
            "formal": ("Prefers well-sourced discussion.", "Values clear arguments."),
            "sarcastic": ("Opinions are, regrettably, my own.", "Professional overthinker."),
            "thoughtful": ("Asks more than answers.", "Thinks before posting."),
            "witty": ("Puns are a lifestyle.", "Here for the jokes."),
        },
        "(synthetic persona)",
    ),
    "es": (
        (
            "{name}, {age} años, vive en {city}.",
            "{name} tiene {age} años y es de {city}.",
            "Desde {city}: {name}, {age}.",
        ),
        ("Temas favoritos: {a} y {b}.", "Fines de semana: {a}; entre semana: {b}.", "Le interesan {a} y {b}."),
        ("Pasión principal: {a}.", "Sobre todo, {a}."),
        {
            "casual": ("Sin complicaciones.", "Aquí por las buenas conversaciones."),
            "enthusiastic": ("¡Siempre con ganas de compartir!", "¡Le encantan las recomendaciones!"),
            "formal": ("Prefiere debates bien documentados.", "Valora los argumentos claros."),
            "sarcastic": ("Las opiniones, por desgracia, son mías.", "Experto en darle vueltas a todo."),
            "thoughtful": ("Pregunta más de lo que responde.", "Piensa antes de publicar."),
            "witty": ("Los juegos de palabras son un estilo de vida.", "Aquí por los chistes."),
        },
        "(persona sintética)",
    ),
    "fr": (
        (
            "{name}, {age} ans, vit à {city}.",
            "{name} a {age} ans et habite à {city}.",
            "De {city} : {name}, {age} ans.",
        ),
        ("Aime {a} et {b}.", "Le week-end, {a} ; en semaine, {b}.", "Sujets favoris : {a} et {b}."),
        ("Surtout {a}.", "Intarissable sur {a}."),
        {
            "casual": ("Sans prise de tête.", "Là pour les bonnes discussions."),
            "enthusiastic": ("Toujours partant·e pour partager !", "Adore les bonnes recommandations !"),
            "formal": ("Préfère les échanges sourcés.", "Apprécie les arguments clairs."),
            "sarcastic": ("Mes opinions n'engagent, hélas, que moi.", "Cogite professionnellement."),
            "thoughtful": ("Pose plus de questions qu'il n'en répond.", "Réfléchit avant de publier."),
            "witty": ("Les jeux de mots, un mode de vie.", "Là pour les blagues."),
        },
        "(persona synthétique)",
    ),
    "de": (
        ("{name}, {age}, lebt in {city}.", "{name} ist {age} und wohnt in {city}.", "Aus {city}: {name}, {age}."),
        ("Mag {a} und {b}.", "Am Wochenende {a}, unter der Woche {b}.", "Redet über {a} mehr als über {b}."),
        ("Vor allem {a}.", "Kann stundenlang über {a} reden."),
        {
            "casual": ("Ganz entspannt.", "Hier für gute Gespräche."),
            "enthusiastic": ("Teilt immer gern!", "Liebt gute Empfehlungen!"),
            "formal": ("Schätzt belegte Diskussionen.", "Mag klare Argumente."),
            "sarcastic": ("Meinungen leider meine eigenen.", "Berufsmäßiger Grübler."),
            "thoughtful": ("Fragt mehr, als antwortet.", "Denkt vor dem Posten nach."),
            "witty": ("Wortspiele sind Lebensart.", "Hier für die Witze."),
        },
        "(synthetische Persona)",
    ),
    "it": (
        (
            "{name}, {age} anni, vive a {city}.",
            "{name} ha {age} anni e abita a {city}.",
            "Da {city}: {name}, {age} anni.",
        ),
        ("Ama {a} e {b}.", "Nel weekend {a}, in settimana {b}.", "Temi preferiti: {a} e {b}."),
        ("Soprattutto {a}.", "Passione principale: {a}."),
        {
            "casual": ("Senza pretese.", "Qui per le belle conversazioni."),
            "enthusiastic": ("Sempre felice di condividere!", "Adora i buoni consigli!"),
            "formal": ("Preferisce discussioni documentate.", "Apprezza gli argomenti chiari."),
            "sarcastic": ("Le opinioni, purtroppo, sono mie.", "Pensatore di professione."),
            "thoughtful": ("Chiede più di quanto risponda.", "Riflette prima di pubblicare."),
            "witty": ("I giochi di parole sono uno stile di vita.", "Qui per le battute."),
        },
        "(persona sintetica)",
    ),
    "pt": (
        ("{name}, {age} anos, mora em {city}.", "{name} tem {age} anos e vive em {city}.", "De {city}: {name}, {age}."),
        ("Gosta de {a} e de {b}.", "Fins de semana: {a}; dias úteis: {b}.", "Temas favoritos: {a} e {b}."),
        ("Sobretudo {a}.", "Paixão principal: {a}."),
        {
            "casual": ("Na boa.", "Aqui pelas boas conversas."),
            "enthusiastic": ("Sempre com vontade de partilhar!", "Adora boas recomendações!"),
            "formal": ("Prefere debates bem fundamentados.", "Valoriza argumentos claros."),
            "sarcastic": ("As opiniões, infelizmente, são minhas.", "Pensador profissional."),
            "thoughtful": ("Pergunta mais do que responde.", "Pensa antes de publicar."),
            "witty": ("Trocadilhos são um estilo de vida.", "Aqui pelas piadas."),
        },
        "(persona sintética)",
    ),
    "nl": (
        ("{name}, {age}, woont in {city}.", "{name} is {age} en komt uit {city}.", "Uit {city}: {name}, {age}."),
        ("Houdt van {a} en {b}.", "In het weekend {a}, doordeweeks {b}.", "Praat meer over {a} dan over {b}."),
        ("Vooral {a}.", "Kan uren over {a} praten."),
        {
            "casual": ("Gewoon relaxed.", "Hier voor de goede gesprekken."),
            "enthusiastic": ("Deelt altijd graag!", "Dol op goede tips!"),
            "formal": ("Houdt van onderbouwde discussies.", "Waardeert heldere argumenten."),
            "sarcastic": ("Meningen helaas de mijne.", "Professionele piekeraar."),
            "thoughtful": ("Vraagt meer dan antwoordt.", "Denkt na voordat er iets gepost wordt."),
            "witty": ("Woordgrappen zijn een levensstijl.", "Hier voor de grappen."),
        },
        "(synthetische persona)",
    ),
    "pl": (
        ("{name}, lat {age}, {city}.", "{name} ({age}) — {city}.", "Z miejscowości {city}: {name}, {age}."),
        ("Zainteresowania: {a} i {b}.", "W weekendy: {a}, w tygodniu: {b}.", "Ulubione tematy: {a} i {b}."),
        ("Pasja: {a}.", "Przede wszystkim: {a}."),
        {
            "casual": ("Na luzie.", "Tu dla dobrych rozmów."),
            "enthusiastic": ("Zawsze chętnie się dzieli!", "Uwielbia dobre polecenia!"),
            "formal": ("Woli rzeczowe dyskusje.", "Ceni jasne argumenty."),
            "sarcastic": ("Opinie, niestety, moje własne.", "Zawodowo wszystko rozmyśla."),
            "thoughtful": ("Częściej pyta, niż odpowiada.", "Myśli, zanim napisze."),
            "witty": ("Gry słów to styl życia.", "Tu dla żartów."),
        },
        "(syntetyczna persona)",
    ),
    "ja": (
        ("{name}（{age}歳）、{city}在住。", "{city}に住む{name}、{age}歳。", "{city}から：{name}（{age}）。"),
        ("{a}と{b}が好き。", "週末は{a}、平日は{b}。", "{b}より{a}の話が多め。"),
        ("とにかく{a}。", "{a}の話なら何時間でも。"),
        {
            "casual": ("ゆるく参加中。", "いい話題を探しています。"),
            "enthusiastic": ("シェアするのが大好き！", "おすすめ大歓迎！"),
            "formal": ("根拠のある議論を好みます。", "明快な主張を大切にしています。"),
            "sarcastic": ("意見は残念ながら個人のものです。", "考えすぎのプロ。"),
            "thoughtful": ("答えるより問いかける派。", "投稿前によく考えます。"),
            "witty": ("ダジャレは生き方。", "笑いを求めて。"),
        },
        "（合成ペルソナ）",
    ),
}
BIO_LANGUAGES: tuple[str, ...] = tuple(sorted(TEMPLATES))

# Interest slugs in each bio language (order: es fr de it pt nl pl ja); a slug without an entry is written as
# its English words.
_INTEREST_WORDS_RAW = """
astronomy|la astronomía|l'astronomie|Astronomie|l'astronomia|astronomia|sterrenkunde|astronomia|天文学
baking|la repostería|la pâtisserie|Backen|la pasticceria|pastelaria|bakken|pieczenie|お菓子作り
board-games|los juegos de mesa|les jeux de société|Brettspiele|i giochi da tavolo|jogos de tabuleiro|bordspellen|gry planszowe|ボードゲーム
climbing|la escalada|l'escalade|Klettern|l'arrampicata|escalada|klimmen|wspinaczka|クライミング
coffee|el café|le café|Kaffee|il caffè|café|koffie|kawa|コーヒー
comics|los cómics|la BD|Comics|i fumetti|banda desenhada|strips|komiksy|漫画
cooking|la cocina|la cuisine|Kochen|la cucina|culinária|koken|gotowanie|料理
cycling|el ciclismo|le vélo|Radfahren|il ciclismo|ciclismo|fietsen|kolarstwo|サイクリング
design|el diseño|le design|Design|il design|design|design|design|デザイン
diy|el bricolaje|le bricolage|Heimwerken|il fai da te|bricolage|klussen|majsterkowanie|DIY
economics|la economía|l'économie|Wirtschaft|l'economia|economia|economie|ekonomia|経済
fashion|la moda|la mode|Mode|la moda|moda|mode|moda|ファッション
film|el cine|le cinéma|Kino|il cinema|cinema|film|kino|映画
fitness|el fitness|le fitness|Fitness|il fitness|fitness|fitness|fitness|フィットネス
football|el fútbol|le foot|Fußball|il calcio|futebol|voetbal|piłka nożna|サッカー
gaming|los videojuegos|les jeux vidéo|Gaming|i videogiochi|videojogos|gamen|gry wideo|ゲーム
gardening|la jardinería|le jardinage|Gärtnern|il giardinaggio|jardinagem|tuinieren|ogrodnictwo|ガーデニング
hiking|el senderismo|la randonnée|Wandern|l'escursionismo|caminhadas|wandelen|wędrówki|ハイキング
history|la historia|l'histoire|Geschichte|la storia|história|geschiedenis|historia|歴史
jazz|el jazz|le jazz|Jazz|il jazz|jazz|jazz|jazz|ジャズ
languages|los idiomas|les langues|Sprachen|le lingue|línguas|talen|języki|語学
music|la música|la musique|Musik|la musica|música|muziek|muzyka|音楽
open-source|el software libre|le logiciel libre|Open Source|l'open source|software livre|open source|open source|オープンソース
painting|la pintura|la peinture|Malen|la pittura|pintura|schilderen|malarstwo|絵画
philosophy|la filosofía|la philosophie|Philosophie|la filosofia|filosofia|filosofie|filozofia|哲学
photography|la fotografía|la photo|Fotografie|la fotografia|fotografia|fotografie|fotografia|写真
podcasts|los pódcasts|les podcasts|Podcasts|i podcast|podcasts|podcasts|podcasty|ポッドキャスト
politics|la política|la politique|Politik|la politica|política|politiek|polityka|政治
programming|la programación|la programmation|Programmieren|la programmazione|programação|programmeren|programowanie|プログラミング
reading|la lectura|la lecture|Lesen|la lettura|leitura|lezen|czytanie|読書
running|el running|la course à pied|Laufen|la corsa|corrida|hardlopen|bieganie|ランニング
science|la ciencia|les sciences|Wissenschaft|la scienza|ciência|wetenschap|nauka|科学
skating|el patinaje|le skate|Skaten|lo skate|patinagem|skaten|jazda na rolkach|スケート
tea|el té|le thé|Tee|il tè|chá|thee|herbata|お茶
technology|la tecnología|la technologie|Technik|la tecnologia|tecnologia|technologie|technologia|テクノロジー
theatre|el teatro|le théâtre|Theater|il teatro|teatro|theater|teatr|演劇
travel|los viajes|les voyages|Reisen|i viaggi|viagens|reizen|podróże|旅行
urbanism|el urbanismo|l'urbanisme|Stadtplanung|l'urbanistica|urbanismo|stedenbouw|urbanistyka|都市計画
volunteering|el voluntariado|le bénévolat|Ehrenamt|il volontariato|voluntariado|vrijwilligerswerk|wolontariat|ボランティア
wildlife|la fauna|la faune|Tierwelt|la fauna selvatica|vida selvagem|natuur|przyroda|野生動物
writing|la escritura|l'écriture|Schreiben|la scrittura|escrita|schrijven|pisanie|執筆
yoga|el yoga|le yoga|Yoga|lo yoga|ioga|yoga|joga|ヨガ
"""
_ORDER = ("es", "fr", "de", "it", "pt", "nl", "pl", "ja")
INTEREST_WORDS: dict[str, dict[str, str]] = {
    lang: {parts[0]: parts[1 + i] for parts in (line.split("|") for line in _INTEREST_WORDS_RAW.strip().splitlines())}
    for i, lang in enumerate(_ORDER)
}


def bio_language(locale: str) -> str:
    """The language bios are written in for `locale` (English where there are no templates for it)."""
    language = locale.split("_")[0]
    return language if language in TEMPLATES else "en"


def _word(language: str, slug: str) -> str:
    return INTEREST_WORDS.get(language, {}).get(slug) or slug.replace("_", " ").replace("-", " ")


def bios(
    language: str,
    given_names: Sequence[str],
    ages: Sequence[int],
    cities: Sequence[str],
    interests: Sequence[Sequence[str]],
    tones: Sequence[str],
    seeds: np.ndarray,
) -> list[str]:
    """One bio a row, in `language` (a key of TEMPLATES), every template choice a digit of the row's seed."""
    openers, pairs, singles, closers, _ = TEMPLATES[language]
    rest = np.abs(np.asarray(seeds, dtype=np.int64))
    rest, opener_at = np.divmod(rest, len(openers))
    rest, line_at = np.divmod(rest, len(pairs) * len(singles))
    # Everything after the opener depends only on (interests, line, r mod 6, tone, r // 7 mod 2) — every
    # list of words and tone lines here has 1-3 entries, so r mod 6 and (r // 7) mod 2 fix the choices —
    # and is written once per distinct key.
    if any(len(lines) != 2 for lines in closers.values()) or any(len(c) > 3 for c in interests):
        raise ValueError("bio templates assume 2 tone lines and at most 3 interests")
    tails: dict[tuple[object, ...], str] = {}
    out = []
    append = out.append
    for name, age, city, chosen, tone, o, line, r in zip(
        given_names, ages, cities, interests, tones, opener_at.tolist(), line_at.tolist(), rest.tolist(), strict=True
    ):
        key = (chosen, line, r % 6, tone, (r // 7) % 2)
        tail = tails.get(key)
        if tail is None:
            tail = tails[key] = _tail(language, chosen, line, r, tone)
        append(openers[o].format(name=name, age=age, city=city) + tail)
    return out


def _tail(language: str, chosen: Sequence[str], line: int, r: int, tone: str) -> str:
    """The bio after its opener (interest sentence, tone line, synthetic mark), with its leading separator."""
    _, pairs, singles, closers, mark = TEMPLATES[language]
    sep = "" if language == "ja" else " "
    words = [_word(language, slug) for slug in chosen]
    if len(words) >= 2:
        a, b = words[r % len(words)], words[(r % len(words) + 1) % len(words)]
        middle = pairs[line % len(pairs)].format(a=a, b=b)
    elif words:
        middle = singles[line % len(singles)].format(a=words[0])
    else:
        middle = ""
    tone_lines = closers.get(tone, closers["casual"])
    closer = tone_lines[(r // 7) % len(tone_lines)]
    return "".join(sep + p for p in (middle, closer, mark) if p)
