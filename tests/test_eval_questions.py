"""Reader questions against the real corpus: the answer must be in one of the first three hits.

Two sets: the shared development questions (``/work/shared/eval``, copied nowhere: read
in place when present) and our own, written from the documents to cover what readers
ask: long chatty questions, one-word queries, typos, numbers and names. A question is
answered when one of its expected phrases appears (case-insensitively, white space
and typographic quotes folded) in the full text of one of the first three passages.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bot.search import SearchIndex
from bot.services import Services

EVAL_DIRS = (Path(__file__).resolve().parents[2] / "shared" / "eval", Path("/work/shared/eval"))
DEV_DIR = next((d for d in EVAL_DIRS if d.is_dir()), EVAL_DIRS[-1])
DEV_QUESTIONS = DEV_DIR / "dev-questions.jsonl"
DEV_PARAPHRASES = DEV_DIR / "dev-paraphrase.jsonl"
DEV_UNANSWERABLE = DEV_DIR / "dev-unanswerable.jsonl"
TOP = 3

# (question, phrases any of which answers it)
OWN_QUESTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "I would like to know what the review says should happen to the Parliamentary and "
        "Diplomatic Protection command",
        ("disbanding PaDP",),
    ),
    (
        "Is it true that there is a problem with how the police keep rape evidence in freezers?",
        ("rape kits",),
    ),
    ("Who is the home secretary and what did she say about the Met?", ("Suella Braverman",)),
    ("homophbia among LGBTQ+ staff", ("one in five", "30% of LGBTQ+")),
    ("stop and serch", ("stop and search",)),
    ("recomendations for the firearms units", ("firearms",)),
    ("Soteria", ("Soteria",)),
    ("what did the report say about vetting?", ("vetting",)),
    ("What did the review find about misconduct?", ("misconduct",)),
    ("what does the report say about stop and search", ("stop and search",)),
    ("What did Casey say about homophobia?", ("homophobia",)),
    (
        "Can you tell me what the report actually said about how the Met handles vetting "
        "of new officers?",
        (
            "vetting processes are not vigilant",
            "Recruitment and vetting systems are poor",
            "Vetting standards should be changed",
            "initial recruitment and vetting",
        ),
    ),
    ("veting", ("vetting",)),
    ("misogny in the Met", ("misogyny",)),
    ("How many police stations were closed?", ("126 police stations",)),
    ("What percentage of Met officers are white?", ("82% White",)),
    ("How much smaller is the Met's budget after austerity?", ("18% smaller",)),
    ("When will the Met reach gender balance?", ("2053",)),
    ("Who is Jayne Butler?", ("chief executive of Rape Crisis",)),
    ("What did Sir Mark Rowley say about the word institutional?", ("not use the term",)),
    (
        "What happened to Sarah Everard?",
        ("abducted, raped and murdered", "kidnapped the 33-year-old"),
    ),
    ("How many chances did the Met miss to stop the serial rapist?", ("nine opportunities",)),
    ("What should change about stop and search?", ("charter with Londoners", "fundamental reset")),
    ("Should PaDP be disbanded?", ("disbanding PaDP",)),
    ("How many recommendations did the review make?", ("16 recommendations",)),
    ("How long is the report?", ("363-page", "more than 300 pages")),
    ("What did the Prime Minister say?", ("Rishi Sunak",)),
    ("what did the home secretary say", ("Suella Braverman",)),
    ("What did Labour say about the report?", ("Keir Starmer",)),
    ("What do the families of Stephen Port's victims want?", ("public inquiry",)),
    ("What proportion of staff and officers experienced bullying?", ("22% of staff",)),
    ("disability discrimination claims", ("most frequent claim type",)),
    ("Are Black officers more likely to face misconduct proceedings?", ("81% more likely",)),
    ("What happened to the borough police commands?", ("32 borough-based",)),
    (
        "What is wrong with neighbourhood policing in London?",
        ("no longer has a functioning neighbourhood policing service",),
    ),
    ("What did the 2016 HMIC report say about child protection?", ("most severely critical",)),
    ("domestic abuse caseloads", ("unmanageable caseloads",)),
    ("How has domestic abuse changed over ten years?", ("doubled over ten years",)),
    ("When should the reforms be independently reviewed?", ("after two years",)),
    ("Who would chair the new Policing Board for London?", ("chaired by the Mayor of London",)),
    ("What did Sir Robert Mark say in 1972?", ("blindness, arrogance and prejudice",)),
    ("Who was PC Keith Palmer?", ("killed in 2017",)),
    ("What did the Reverend Mina Smallman tell Casey?", ("tenacity",)),
    (
        "Is policing by consent broken?",
        ("consent is broken", "Policing by consent in London is broken"),
    ),
    (
        "How does the Met treat people who speak up?",
        ("Speaking up is not welcome", "speak up in the Met learn the hard way"),
    ),
    ("What is initiative-itis?", ("short term projects",)),
    ("fast track forensics", ("fast-track forensic services",)),
    ("How many LGBTQ+ employees said they had been bullied?", ("30% of LGBTQ+",)),
    ("How big is the Met's budget?", ("£4 billion",)),
    (
        "What are the four tests for institutional racism?",
        ("Clearly not everyone in the Met is racist",),
    ),
    ("detection rate for rape", ("legal in London",)),
    ("Commisioner Rowly apology", ("apologised", "apology")),
    ("What did the End Violence Against Women Coalition say?", ("Andrea Simon",)),
    ("Sapphire", ("Sapphire specialist command",)),
    ("What is adultification?", ("adultification",)),
    ("pension forfeiture", ("pension forfeiture rules",)),
    ("What did Casey say about resources in the firearms command?", ("resources are aplenty",)),
    ("Is the Met institutionally racist?", ("institutionally racist", "institutional racism")),
    (
        "How many officers were in the Met's misconduct system compared to white counterparts",
        ("81% more likely",),
    ),
    ("What is the problem with the Met's management?", ("inadequate management",)),
    ("Londoners put last", ("put last",)),
)

# Readers' own words: the question avoids the distinctive words of the passage answering it.
OWN_PARAPHRASES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("how many cop shops got shut", ("126 police stations",)),
    ("are gay officers picked on at work", ("one in five lesbian, gay",)),
    ("should armed officers be checked again", ("thoroughly re-vetted",)),
    ("do people still have faith in the police", ("below 50%", "lost faith")),
    ("does the job draw in people who want to hurt others", ("predators and bullies",)),
    ("what did casey say about the bosses not listening to outsiders", ("hubris",)),
    ("should the force say sorry to londoners", ("apologise for past failings",)),
    ("is domestic violence getting worse", ("doubled over ten years",)),
    ("are complaints about colleagues taken seriously", ("not believed or supported",)),
    ("does the met know how many staff it will need", ("no workforce plan",)),
    ("kids and rape cases handled by inexperienced staff?", ("overworked, inexperienced",)),
    ("who checks on the met from city hall", ("MOPAC",)),
    ("the gun cops get whatever kit they ask for", ("any toy that they want",)),
    ("could the force be split up", ("broken up",)),
    ("what did the PM say on telly", ("hugely damaged",)),
    (
        "is it up to us to protect ourselves from the police",
        ("keep ourselves safe from the police",),
    ),
    ("did the commissioner accept there is bigotry in the force", ("would not use it",)),
    ("how do frontline officers feel", ("demoralised",)),
    ("do black londoners get treated worse by the police", ("over-policed",)),
    (
        "what should happen to the training centre for armed officers",
        ("Specialist Training Centre",),
    ),
    ("do black people in london still trust the cops", ("generational mistrust",)),
    ("tougher background checks for the armed squads?", ("higher vetting and behaviour",)),
    ("should outsiders check on progress in a couple of years", ("independent progress",)),
    ("is the met a bit cagey with the public", ("greater candour",)),
    ("could the met have nabbed those two killers earlier", ("so much earlier",)),
    ("does the force need a complete rethink", ("complete overhaul",)),
    ("has the met lost touch with neighbourhoods", ("weaker connections",)),
    ("are black londoners more likely to get tasered", ("batoned and Tasered",)),
    ("is bullying rife in the force", ("widespread bullying",)),
    ("response cops are swamped with calls", ("ever increasing demands",)),
)

# Questions the documents cannot answer: none of their names or topics occurs in seeds/.
OWN_UNANSWERABLE: tuple[str, ...] = (
    "What did Sadiq Khan say about the review?",
    "Has Priti Patel commented on the findings?",
    "What happened at the Notting Hill Carnival policing operation?",
    "Does the report mention Cressida Dick's resignation?",
    "What did the Independent Office for Police Conduct say about Chris Kaba?",
    "how did the met handle the 2011 riots",
    "Is facial recognition technology used by the Met?",
    "What does the review say about the Hillsborough disaster?",
    "Did the Met investigate the Grenfell Tower fire properly?",
    "What did Boris Johnson say about the Met?",
    "what about the Daniel Morgan murder",
    "How many drones does the Met operate?",
    "Does the Met use kettling at protests?",
    "How much overtime do Met officers claim each year?",
    "Should every officer wear a body camera?",
    "what is the met doing about knife crime",
    "Is the Met's helicopter unit being cut?",
    "Are police horses still used for crowd control?",
    "How are football matches policed in London?",
    "Has online fraud reporting improved?",
    "Did phone hacking by journalists involve Met officers?",
    "How many speeding tickets does the Met issue?",
    "does the met pay informants for tips",
)

_QUOTES = str.maketrans({"“": '"', "”": '"', "„": '"', "‘": "'", "’": "'"})


def fold(text: str) -> str:
    return re.sub(r"\s+", " ", text.translate(_QUOTES)).strip().lower()


@pytest.fixture
def index(services: Services) -> SearchIndex:
    return services.index  # the bot's own: BM25 and the semantic model, fused


def misses(index: SearchIndex, questions: list[tuple[str, tuple[str, ...]]]) -> list[str]:
    """Each unanswered question with what came back instead, for the failure message."""
    missed: list[str] = []
    for question, expected in questions:
        hits = index.search(question).hits[:TOP]
        texts = [fold(hit.passage.text) for hit in hits]
        if not any(fold(phrase) in text for phrase in expected for text in texts):
            got = " | ".join(hit.passage.text[:70] for hit in hits) or "(no hits)"
            missed.append(f"{question!r} expected {expected[0]!r}; got: {got}")
    return missed


def test_dev_questions(index: SearchIndex) -> None:
    if not DEV_QUESTIONS.exists():
        pytest.skip(f"{DEV_QUESTIONS} is not on this machine")
    rows = [json.loads(line) for line in DEV_QUESTIONS.read_text().splitlines() if line.strip()]
    questions = [(row["question"], (row["expect"],)) for row in rows]
    missed = misses(index, questions)
    assert len(questions) - len(missed) >= len(questions) - 1, "\n".join(missed)


def test_own_reader_questions(index: SearchIndex) -> None:
    questions = list(OWN_QUESTIONS)
    missed = misses(index, questions)
    answered = len(questions) - len(missed)
    assert answered >= 0.9 * len(questions), (
        f"{answered}/{len(questions)} answered; missed:\n" + "\n".join(missed)
    )


def test_own_questions_cover_the_awkward_kinds() -> None:
    questions = [q for q, _ in OWN_QUESTIONS]
    assert len(questions) >= 30
    assert sum(len(q.split()) == 1 for q in questions) >= 3
    assert sum(len(q.split()) >= 12 for q in questions) >= 2


def _dev(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        pytest.skip(f"{path} is not on this machine")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_everyday_wording_finds_answers(index: SearchIndex) -> None:
    questions = list(OWN_PARAPHRASES)
    missed = misses(index, questions)
    assert len(questions) - len(missed) >= 13, "\n".join(missed)


def test_dev_paraphrases(index: SearchIndex) -> None:
    questions = [(row["question"], (row["expect"],)) for row in _dev(DEV_PARAPHRASES)]
    missed = misses(index, questions)
    assert len(questions) - len(missed) >= 9, "\n".join(missed)


def test_questions_outside_the_documents_are_declined(index: SearchIndex) -> None:
    answered = [q for q in OWN_UNANSWERABLE if index.search(q).answered]
    assert len(answered) <= 8, answered  # of 23: topics with no name are the hard part
    dev = [row["question"] for row in _dev(DEV_UNANSWERABLE)]
    assert sum(index.search(q).answered for q in dev) <= 0


def test_answerable_questions_are_not_declined(index: SearchIndex) -> None:
    questions = [q for q, _ in OWN_QUESTIONS + OWN_PARAPHRASES]
    declined = [q for q in questions if not index.search(q).answered]
    assert len(declined) <= 1, declined
