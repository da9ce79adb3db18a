"""Word lists and word-class look-ups shared by the grammar rules (closed classes written out, open
classes from ``lemminflect``'s English dictionary)."""

from __future__ import annotations

from functools import lru_cache

SUBJECT_PRONOUNS = {"i", "you", "he", "she", "it", "we", "they"}
OBJECT_FORM = {"i": "me", "he": "him", "she": "her", "we": "us", "they": "them"}
POSSESSIVE_FORM = {
    "i": "my",
    "you": "your",
    "he": "his",
    "she": "her",
    "it": "its",
    "we": "our",
    "they": "their",
}
PLURAL_SUBJECTS = {"we", "you", "they"}
REFLEXIVES = {"myself", "yourself", "himself", "herself", "itself", "ourselves", "yourselves", "themselves"}

# Sign-language pronoun glosses (index signs, first/second/third person) → English subject pronoun.
PRONOUN_GLOSSES = {
    "ME": "i",
    "I": "i",
    "IX-1": "i",
    "IX1": "i",
    "IX-ME": "i",
    "MYSELF": "myself",
    "YOU": "you",
    "IX-2": "you",
    "IX2": "you",
    "IX-YOU": "you",
    "HE": "he",
    "SHE": "she",
    "IT": "it",
    "IX-3": "it",
    "IX3": "it",
    "IX": "it",
    "IX-HE": "he",
    "IX-SHE": "she",
    "WE": "we",
    "US": "we",
    "IX-1P": "we",
    "IX-1-PL": "we",
    "THEY": "they",
    "IX-3P": "they",
    "IX-3-PL": "they",
    "IX-THEY": "they",
}
POSSESSIVE_GLOSSES = {
    "MY": "my",
    "MINE": "my",
    "POSS-1": "my",
    "POSS1": "my",
    "YOUR": "your",
    "POSS-2": "your",
    "POSS2": "your",
    "HIS": "his",
    "HER": "her",
    "POSS-3": "his",
    "POSS3": "his",
    "OUR": "our",
    "POSS-1P": "our",
    "THEIR": "their",
    "POSS-3P": "their",
    "ITS": "its",
}

# Whole glosses that stand for several English words or need a fixed spelling.
PHRASES = {
    "THANKYOU": "thank you",
    "THANK-YOU": "thank you",
    "THANKS": "thanks",
    "GOOD-MORNING": "good morning",
    "GOOD-NIGHT": "good night",
    "GOOD-AFTERNOON": "good afternoon",
    "NICE-MEET-YOU": "nice to meet you",
    "HOW-ARE-YOU": "how are you",
    "SEE-YOU-LATER": "see you later",
    "EXCUSE-ME": "excuse me",
    "DONT-KNOW": "do not know",
    "DON'T-KNOW": "do not know",
    "CANT": "cannot",
    "CAN'T": "cannot",
    "WONT": "will not",
    "DONT": "do not",
    "DON'T": "do not",
    "NOT-YET": "not yet",
    "LAST-WEEK": "last week",
    "NEXT-WEEK": "next week",
    "LAST-YEAR": "last year",
    "NEXT-YEAR": "next year",
    "RIGHT-NOW": "right now",
}
INTERJECTIONS = {
    "hello",
    "hi",
    "hey",
    "bye",
    "goodbye",
    "thank you",
    "thanks",
    "please",
    "sorry",
    "yes",
    "no",
    "good morning",
    "good night",
    "good afternoon",
    "nice to meet you",
    "welcome",
    "excuse me",
    "wow",
    "ok",
    "okay",
}
EXCLAIMING = {"thank you", "thanks", "hello", "hi", "goodbye", "bye", "welcome", "wow", "nice to meet you"}

PAST_TIME = {
    "yesterday",
    "past",
    "before",
    "ago",
    "last week",
    "last year",
    "last night",
    "earlier",
    "recently",
    "formerly",
}
FUTURE_TIME = {"tomorrow", "future", "later", "soon", "next week", "next year", "will"}
PRESENT_TIME = {"now", "today", "right now", "tonight", "currently"}
TIME_SIGNS = PAST_TIME | FUTURE_TIME | PRESENT_TIME | {"morning", "afternoon", "evening", "night"}
COMPLETIVE = {"FINISH", "FINISHED", "DONE"}

WH_WORDS = {"what", "where", "who", "why", "how", "when", "which", "whom", "whose"}
NEGATORS = {"not", "no", "never", "none", "neg", "nothing"}

MODALS = {"will", "would", "can", "could", "shall", "should", "may", "might", "must", "cannot"}
AUXILIARIES = MODALS | {"do", "does", "did", "have", "has", "had"}
BE_FORMS = {"be", "am", "is", "are", "was", "were", "been", "being"}
DETERMINERS = {
    "the",
    "a",
    "an",
    "this",
    "that",
    "these",
    "those",
    "my",
    "your",
    "his",
    "her",
    "its",
    "our",
    "their",
    "some",
    "any",
    "no",
    "every",
    "each",
    "all",
    "both",
    "many",
    "much",
    "more",
    "most",
    "several",
    "few",
    "other",
    "another",
    "such",
    "what",
    "which",
    "whose",
    "either",
    "neither",
    "one",
    "less",
    "own",
    "same",
    "enough",
    "various",
    "certain",
    "further",
}
NUMBER_WORDS = {
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "hundred",
    "thousand",
    "million",
    "billion",
    "twenty",
    "thirty",
    "fifty",
}
PLURAL_DETERMINERS = {
    "these",
    "those",
    "many",
    "several",
    "few",
    "various",
    "both",
    "numerous",
    "dozens",
} | (NUMBER_WORDS - {"one"})
PREPOSITIONS = {
    "of",
    "in",
    "on",
    "at",
    "for",
    "with",
    "by",
    "from",
    "about",
    "into",
    "through",
    "during",
    "without",
    "against",
    "between",
    "among",
    "under",
    "over",
    "after",
    "before",
    "within",
    "towards",
    "toward",
    "across",
    "beyond",
    "upon",
    "concerning",
    "regarding",
    "despite",
    "including",
    "than",
    "via",
    "throughout",
    "behind",
    "outside",
    "inside",
    "around",
}
CONJUNCTIONS = {
    "and",
    "or",
    "but",
    "nor",
    "so",
    "yet",
    "because",
    "although",
    "though",
    "while",
    "if",
    "whether",
    "that",
    "unless",
    "since",
    "as",
    "when",
    "where",
    "which",
    "who",
    "then",
}
ADVERBS = {
    "not",
    "also",
    "very",
    "only",
    "already",
    "still",
    "just",
    "even",
    "now",
    "here",
    "there",
    "really",
    "again",
    "always",
    "never",
    "often",
    "too",
    "however",
    "therefore",
    "so",
    "particularly",
    "especially",
    "once",
    "soon",
    "today",
    "yesterday",
    "tomorrow",
    "ever",
    "indeed",
    "well",
    "perhaps",
    "certainly",
    "clearly",
    "finally",
    "first",
    "simply",
    "rather",
    "quite",
    "thus",
    "hence",
    "moreover",
    "furthermore",
    "nevertheless",
    "currently",
    "then",
}
# Adjectives that make a noun phrase definite ("the first", "the same"): after "be" they keep "the".
DEFINITE_ADJECTIVES = {
    "first",
    "second",
    "third",
    "last",
    "next",
    "same",
    "only",
    "main",
    "whole",
    "best",
    "most",
    "worst",
    "latest",
    "largest",
    "biggest",
    "greatest",
    "highest",
    "lowest",
    "right",
    "wrong",
    "final",
    "primary",
    "former",
    "latter",
    "following",
    "present",
    "current",
}
# Nouns that read as names of unique things and take no article by themselves.
NO_ARTICLE_NOUNS = {
    "europe",
    "parliament",
    "mr",
    "mrs",
    "madam",
    "people",
    "today",
    "tomorrow",
    "yesterday",
    "time",
    "everyone",
    "everybody",
    "everything",
    "something",
    "nothing",
    "anything",
    "someone",
    "anyone",
    "nobody",
    "minute",
    "applause",
    "order",
    "course",
    "place",
    "part",
    "account",
    "fact",
    "addition",
    "particular",
    "conclusion",
    "view",
    "favour",
    "behalf",
    "terms",
    "respect",
    "principle",
    "practice",
    "turn",
    "legislation",
    "information",
    "progress",
    "support",
    "action",
    "research",
    "democracy",
    "agriculture",
    "health",
    "education",
    "energy",
    "security",
    "freedom",
    "justice",
    "growth",
    "employment",
    "protection",
    "cooperation",
    "development",
    "europol",
    "eu",
    "us",
    "china",
    "russia",
    "africa",
    "turkey",
    "iran",
    "ireland",
    "greece",
    "france",
    "germany",
    "italy",
    "spain",
    "poland",
    "home",
    "school",
    "work",
    "money",
    "water",
    "food",
}


@lru_cache(maxsize=65536)
def classes(word: str) -> frozenset[str]:
    """The universal POS classes ``lemminflect`` knows for ``word`` (lower case), e.g. ``{"NOUN", "VERB"}``.

    >>> sorted(classes("vote"))
    ['NOUN', 'VERB']
    """
    import lemminflect

    return frozenset(lemminflect.getAllLemmas(word).keys())


@lru_cache(maxsize=65536)
def inflect(lemma: str, tag: str) -> str:
    """``lemma`` in Penn tag ``tag`` (``VBZ``, ``VBD``, ``VBN``, ``VBG``, ``NNS``), or ``lemma`` if unknown.

    >>> inflect("say", "VBN")
    'said'
    """
    import lemminflect

    forms = lemminflect.getInflection(lemma, tag)
    if forms:
        return str(forms[0])
    upos = "NOUN" if tag.startswith("NN") else "VERB"
    forms = lemminflect.getInflection(lemma, tag, inflect_oov=True) if upos else ()
    return str(forms[0]) if forms else lemma


def is_verb(word: str) -> bool:
    """Whether ``word`` can be a main verb (and is not a closed-class word)."""
    return word not in _CLOSED and "VERB" in classes(word)


def is_noun(word: str) -> bool:
    """Whether ``word`` can be a noun (and is not a closed-class word)."""
    return (
        word not in _CLOSED and word not in ADVERBS and ("NOUN" in classes(word) or "PROPN" in classes(word))
    )


def is_adjective(word: str) -> bool:
    """Whether ``word`` can be an adjective."""
    return "ADJ" in classes(word)


_CLOSED = (
    SUBJECT_PRONOUNS
    | set(OBJECT_FORM.values())
    | set(POSSESSIVE_FORM.values())
    | DETERMINERS
    | PREPOSITIONS
    | CONJUNCTIONS
    | MODALS
    | AUXILIARIES
    | BE_FORMS
    | WH_WORDS
    | {"to", "not"}
)
