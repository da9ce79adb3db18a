"""Grammar rules, one by one, and whole sentences for ASL and ISL."""

from __future__ import annotations

import pytest

from cslr.language import grammar as g
from cslr.language.grammar import ASL_RULES, ISL_RULES, glosses_to_english


def words(s: g.Sentence) -> str:
    return " ".join(s.texts())


def sent(text: str) -> g.Sentence:
    return g.Sentence(tuple(g.Word(w) for w in text.split()))


@pytest.mark.parametrize("glosses", [["HELLO", "THANKYOU"], ["hello", "thankyou"], ["Hello", "ThankYou"]])
def test_default_model_vocabulary(glosses: list[str]) -> None:
    assert glosses_to_english(glosses) == "Hello, thank you!"


def test_single_greetings() -> None:
    assert glosses_to_english(["hello"]) == "Hello!"
    assert glosses_to_english(["thankyou"], "isl") == "Thank you!"


def test_empty() -> None:
    assert glosses_to_english([]) == ""


def test_unknown_language() -> None:
    with pytest.raises(ValueError):
        glosses_to_english(["HELLO"], "bsl")  # type: ignore[arg-type]


def test_at_least_fifteen_named_documented_rules_per_language() -> None:
    for rules in (ASL_RULES, ISL_RULES):
        assert len(rules) >= 15
        assert all(r.__doc__ and ">>>" in r.__doc__ for r in rules)


@pytest.mark.parametrize(
    ("rule", "before", "after"),
    [
        (g.restore_clipped_words, "RE BE SE", "there BE these"),
        (g.map_pronouns, "IX-1 LIKE POSS-2 BOOK", "i LIKE your BOOK"),
        (g.map_pronouns, "ME GO", "i GO"),
        (g.expand_phrases, "THANKYOU", "thank you"),
        (g.topic_comment, "book , i read", "i read book"),
        (g.wh_question, "you live where", "where do you live"),
        (g.negation, "i not like coffee", "i do not like coffee"),
        (g.negation, "we can not allow", "we cannot allow"),
        (g.insert_copula, "i happy", "i be happy"),
        (g.object_pronouns, "you help i", "you help me"),
        (g.choose_a_an, "a apple and a house", "an apple and a house"),
        (g.sov_to_svo, "i school go", "i go school"),
        (g.final_negation, "i go not", "i not go"),
        (g.postpositions, "i live house in", "i live in house"),
        (g.motion_to, "i go school", "i go to school"),
        (g.insert_articles, "i see dog in park", "i see the dog in the park"),
    ],
)
def test_rule(rule: g.Rule, before: str, after: str) -> None:
    assert words(rule(sent(before))) == after


def test_markers_are_read() -> None:
    s = g.read_markers(sent("X-WE DESC-GOOD HOUSE++ CL:3-CAR"))
    assert [(w.text, w.tag, w.plural) for w in s.words] == [
        ("we", "PRON", False),
        ("good", "DESC", False),
        ("house", "", True),
        ("car", "CL", False),
    ]


def test_time_first() -> None:
    assert words(g.time_first(g.tense_from_time_signs(sent("i go store tomorrow")))) == "tomorrow i go store"


def test_fingerspelling_is_joined() -> None:
    assert words(g.join_fingerspelling(g.read_markers(sent("NAME J-O-H-N fs-MARY")))) == "name John Mary"
    assert words(g.join_fingerspelling(g.read_markers(sent("b o b")))) == "Bob"


def test_plurals_from_repetition_and_numbers() -> None:
    assert words(g.plural_nouns(g.mark_plurals(sent("two child")))) == "two children"
    assert words(g.plural_nouns(g.mark_plurals(sent("book book")))) == "books"


def test_possessives() -> None:
    s = g.possessives(g.map_pronouns(g.read_markers(sent("X-WE CITIZEN SEE COUNCIL X-POSS AGENDA"))))
    assert words(s) == "our citizen see council's agenda"


def test_tense_from_time_signs_and_finish() -> None:
    s = g.tense_from_time_signs(sent("yesterday i eat"))
    assert s.tense == g.PAST
    s = g.tense_from_time_signs(sent("i eat finish"))
    assert s.tense == g.PAST and words(s) == "i eat"
    assert g.tense_from_time_signs(sent("tomorrow i eat")).tense == g.FUTURE


def test_verb_inflection_through_lemminflect() -> None:
    past = g.Sentence(sent("she go store").words, tense=g.PAST)
    assert words(g.inflect_verbs(past)) == "she went store"
    assert words(g.inflect_verbs(sent("he like coffee"))) == "he likes coffee"
    assert words(g.inflect_verbs(sent("i have say"))) == "i have said"
    assert words(g.inflect_verbs(sent("we be happy"))) == "we are happy"


@pytest.mark.parametrize(
    ("glosses", "lang", "english"),
    [
        ("ME NAME J-O-H-N", "asl", "My name is John."),
        ("YOU NAME WHAT", "asl", "What is your name?"),
        ("YOU LIVE WHERE", "asl", "Where do you live?"),
        ("YESTERDAY ME GO STORE", "asl", "Yesterday I went to the store."),
        ("ME NOT LIKE COFFEE", "asl", "I do not like the coffee."),
        ("BOOK , ME READ", "asl", "I read the book."),
        ("ME HAPPY", "asl", "I am happy."),
        ("ME EAT FINISH", "asl", "I ate."),
        ("HE HAVE BOOK++", "asl", "He has books."),
        ("ME SCHOOL GO", "isl", "I go to school."),
        ("ME SCHOOL GO NOT", "isl", "I do not go to school."),
        ("YOU NAME WHAT", "isl", "What is your name?"),
        ("ME HOUSE IN LIVE", "isl", "I live in the house."),
    ],
)
def test_sentences(glosses: str, lang: g.Lang, english: str) -> None:
    assert glosses_to_english(glosses.split(), lang) == english


def test_pure() -> None:
    glosses = ["ME", "NAME", "J-O-H-N"]
    assert glosses_to_english(glosses) == glosses_to_english(glosses)
    assert glosses == ["ME", "NAME", "J-O-H-N"]


def test_restore_clipped_markers_puts_the_back() -> None:
    from cslr.language.grammar import _sent, _show, read_markers, restore_clipped_markers

    out = restore_clipped_markers(read_markers(_sent("DESC-RE BE DESC-OR DESC-FURRMORE TOGER HOUSE")))
    assert _show(out) == "there be other furthermore together house"


def test_restore_of_before_demonstrative_and_possessive() -> None:
    from cslr.language.grammar import _sent, _show, map_pronouns, read_markers, restore_of

    assert (
        _show(restore_of(read_markers(_sent("INHABITANT THIS CONTINENT")))) == "inhabitant of this continent"
    )
    assert _show(restore_of(map_pronouns(read_markers(_sent("MEMBER MY FAMILY"))))) == "member of my family"
    assert _show(restore_of(read_markers(_sent("ENERGY PRODUCER")))) == "energy producer"


@pytest.mark.parametrize(
    ("rule", "before", "after"),
    [
        (g.fixed_phrases, "as result crisis , in other word", "as a result of crisis , in other words"),
        (g.fixed_phrases, "unite state and unite nation", "united states and united nations"),
        (g.fixed_phrases, "course , i agree", "of course , i agree"),
        (g.fixed_phrases, "i vote in favor plan", "i vote in favour of plan"),
        (g.fixed_phrases, "i vote in favor of it", "i vote in favor of it"),  # no second "of"
        (g.institutions, "citizen european union", "citizen of the european union"),
        (g.institutions, "european parliament vote", "the european parliament vote"),
        (g.institutions, "this european parliament", "this european parliament"),
    ],
)
def test_idioms_and_institutions(rule: g.Rule, before: str, after: str) -> None:
    assert words(rule(sent(before))) == after


def test_restore_of_before_described_noun_and_partitive() -> None:
    s = g.read_markers(sent("SUBJECT DESC-INTENSE NEGOTIATION"))
    assert words(g.restore_of(s)) == "subject of intense negotiation"
    assert words(g.restore_of(g.read_markers(sent("ONE THESE SUBSTANCE")))) == "one of these substance"
    assert words(g.restore_of(g.read_markers(sent("PROJECT DESC-NOW")))) == "project now"


def test_article_after_be_with_descriptor() -> None:
    s = g.read_markers(sent("THIS BE DESC-IMPORTANT POINT"))
    assert words(g.insert_articles(s)) == "this be a important point"
    s = g.read_markers(sent("THIS BE DESC-MAIN POINT"))
    assert words(g.insert_articles(s)) == "this be the main point"


def test_no_article_after_and() -> None:
    assert (
        words(g.insert_articles(sent("i see council and commission"))) == "i see the council and commission"
    )


def en(glosses: str) -> str:
    return glosses_to_english(glosses.split(" "))


def test_participle_after_be() -> None:
    assert en("X-IT MUST BE TAKE OUT CIRCULATION .") == "It must be taken out circulation."
    assert en("SE GAP MUST BE CLOSE .") == "These gaps must be closed."


def test_pronoun_fixes() -> None:
    assert en("X-I THINK DESC-RE BE NOTHING .") == "I think there is nothing."
    assert en("X-Y TRUST IN X-Y LEADER .").startswith("They trust in their leader")
    assert en("X-IT BE DESC-FAIR TO X-WE .") == "It is fair to us."
    assert en("THAT BE WHAT X-WE WANT .") == "That is what we want."


def test_copula_not_inserted_before_verb_with_object() -> None:
    assert en("COUNTRY NEED DESC-SERIOUS REFORM .") == "The country needs the serious reform."
