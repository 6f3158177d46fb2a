"""Everyday words and slang readers use for what the documents call by other names.

"cops" are "police officers", a "cop shop" a "police station", "sacked" means "dismissed".
A question's words found here also search for the documents' terms (at a lower weight
than the reader's own words). The table is about policing and public inquiries in
general, not about one report: it must serve questions nobody here has seen.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

# reader's word or phrase -> the documents' words for it
EVERYDAY: dict[str, str] = {
    # people
    "cop": "police officer",
    "cops": "police officers",
    "copper": "police officer",
    "coppers": "police officers",
    "bobby": "police officer",
    "bobbies": "police officers",
    "plod": "police",
    "filth": "police",
    "feds": "police",
    "old bill": "police",
    "the met": "Metropolitan Police",
    "scotland yard": "Metropolitan Police",
    "boss": "leader chief head",
    "bosses": "leaders leadership senior managers",
    "top brass": "senior leadership",
    "chief": "Commissioner",
    "head of the met": "Commissioner",
    "top cop": "Commissioner",
    "pm": "Prime Minister",
    "mayor": "Mayor MOPAC",
    "city hall": "Mayor MOPAC",
    "home office": "Home Secretary Government",
    "government": "Government Home Office",
    "victim": "victims survivors",
    "whistleblower": "speak up complaint",
    "whistleblowers": "speak up complaints",
    "rookie": "new recruits probationers",
    "rookies": "new recruits probationers",
    "newbies": "new recruits",
    "staff": "officers employees workforce",
    "workers": "officers staff employees workforce",
    "detective": "detectives investigators",
    "investigators": "detectives",
    "volunteer": "Special Constables",
    "volunteers": "Special Constables",
    "specials": "Special Constables",
    "kids": "children",
    "kid": "child",
    "teens": "children young people",
    "teenagers": "children young people",
    "youngsters": "children young people",
    "women": "women girls female",
    "gay": "LGBTQ+ homophobia",
    "lgbt": "LGBTQ+",
    "black": "Black",
    "minorities": "ethnic minority Black Asian",
    "minority": "ethnic minority",
    # units and places
    "cop shop": "police station",
    "cop shops": "police stations",
    "nick": "police station",
    "station": "police station",
    "armed police": "firearms officers",
    "armed officers": "firearms officers",
    "gun": "firearms",
    "guns": "firearms",
    "armed": "firearms",
    "shooters": "firearms officers",
    "riot squad": "Territorial Support Group",
    "bodyguards": "Parliamentary and Diplomatic Protection",
    "royal protection": "Parliamentary and Diplomatic Protection",
    "beat": "neighbourhood frontline",
    "bobbies on the beat": "neighbourhood policing",
    "local policing": "neighbourhood policing",
    "frontline": "frontline response",
    "squad": "unit command team",
    "squads": "units commands teams",
    "watchdog": "IOPC inspectorate HMICFRS oversight",
    "watchdogs": "IOPC inspectorate HMICFRS oversight",
    "inspectors": "inspectorate HMICFRS",
    # misconduct and discipline
    "bent": "corrupt corruption misconduct",
    "dodgy": "corrupt misconduct",
    "bad apples": "bad apples misconduct",
    "bad officers": "misconduct officers",
    "rotten": "misconduct corrupt",
    "sacked": "dismissed removed",
    "sacking": "dismissal removal",
    "sack": "dismiss remove",
    "fired": "dismissed",
    "kicked out": "dismissed removed",
    "punished": "sanction misconduct",
    "disciplined": "misconduct sanction",
    "background checks": "vetting",
    "security checks": "vetting",
    "checks": "vetting",
    "checked": "vetted vetting",
    "screening": "vetting",
    "cover up": "cover-up",
    "covering up": "cover-up",
    "grassing": "speak up",
    "snitch": "speak up",
    "bullying": "bullied bullying",
    "picked on": "bullied",
    "harassment": "harassment bullying",
    "sexism": "sexism misogyny",
    "sexist": "sexism misogyny",
    "racist": "racist racism",
    "bigotry": "discrimination racism misogyny homophobia",
    "bigots": "discrimination racist",
    "prejudice": "discrimination",
    "homophobic": "homophobia",
    "woman-hating": "misogyny",
    # crime
    "knifed": "stabbed",
    "stabbing": "stabbed knife",
    "killed": "murdered killed",
    "killer": "murderer",
    "rapist": "rapist sexual offender",
    "sex offender": "sexual offender",
    "sex attacker": "sexual offender",
    "abuse": "abuse domestic",
    "domestic violence": "domestic abuse",
    "wife beating": "domestic abuse",
    "date rape": "rape sexual offences",
    "evidence": "evidence forensic",
    "dna": "forensic",
    "rape kit": "rape kits",
    # money and resources
    "money": "budget funding resources",
    "cash": "budget funding",
    "cuts": "austerity budget",
    "funding": "budget funding resources",
    "skint": "austerity budget",
    "kit": "equipment resources",
    "understaffed": "shortage",
    "overstretched": "pressure demand",
    "stretched": "pressure demand",
    "short-staffed": "shortage",
    # the inquiry itself
    "proposals": "recommendations",
    "suggestions": "recommendations",
    "fixes": "recommendations",
    "conclusions": "findings",
    "verdict": "findings conclusion",
    "inquiry": "review",
    "casey": "Casey Baroness",
    "sorry": "apologise apology",
    "apologize": "apologise",
    "trust": "trust confidence",
    "faith": "trust confidence",
    "999": "emergency response",
    "turn up": "response times",
    "telly": "TV BBC",
    "tv": "BBC Radio",
    "radio": "Radio",
    "stop and frisk": "stop and search",
    "tasered": "Taser",
    "tasering": "Taser",
    "cuffed": "handcuffed",
    "break up": "broken up",
    "scrap": "disband",
    "scrapped": "disbanded",
    "shut down": "disband closed",
    "shut": "closed",
    "shut down stations": "closed police stations",
}

_MAX_PHRASE_WORDS = 3
_WORD_RE = re.compile(r"[\w+'’-]+")
_POSSESSIVE_RE = re.compile(r"['’]s?$")  # "City Hall's" is "city hall"


def expansions(text: str, limit: int) -> Iterator[str]:
    """The documents' words for everyday words and phrases in ``text`` (longest first),
    looking at its first ``limit`` words."""
    for phrase in _phrases(text, limit):
        yield EVERYDAY[phrase]


def everyday_words(text: str, limit: int) -> set[str]:
    """The words of ``text`` the table translates (so they are understood, not missing)."""
    return {word for phrase in _phrases(text, limit) for word in phrase.split()}


def _phrases(text: str, limit: int) -> Iterator[str]:
    found = zip(range(limit), _WORD_RE.finditer(text), strict=False)
    words = [_POSSESSIVE_RE.sub("", match.group().lower()) for _, match in found]
    index = 0
    while index < len(words):
        for size in range(min(_MAX_PHRASE_WORDS, len(words) - index), 0, -1):
            phrase = " ".join(words[index : index + size])
            if phrase in EVERYDAY:
                yield phrase
                index += size
                break
        else:
            index += 1
