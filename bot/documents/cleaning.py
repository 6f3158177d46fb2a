"""Turn a collected document (web page text, HTML fragments) into clean reading text.

Everything here is a generic pattern, not a fix for one file: another inquiry's documents go
through the same rules. The cleaned text is what the bot quotes and what citations point into,
so anything that is not the document's own words (comment widgets, newsletter prompts, photo
credits, footnote markers) is removed here, once, at load time.
"""

from __future__ import annotations

import html
import logging
import re

logger = logging.getLogger(__name__)

# HTML ----------------------------------------------------------------------------------------

_HTML_DROP_BLOCKS = re.compile(
    r"<(script|style|noscript|template)\b[^>]*>.*?</\1\s*>", re.IGNORECASE | re.DOTALL
)
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
# Block-level tags end a line, so paragraphs marked up in HTML keep their breaks.
_HTML_BREAK = re.compile(
    r"<(?:br|/p|/div|/li|/h[1-6]|/tr|/blockquote|/section|/article)\b[^>]*>", re.IGNORECASE
)
_HTML_PARAGRAPH_START = re.compile(r"<p\b[^>]*>", re.IGNORECASE)
_HTML_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9:-]*(?:\s[^<>]*)?/?>")

# Site furniture --------------------------------------------------------------------------------

# A leading "date 2023-03-21" stamp some scrapers put before the text.
_LEADING_DATE = re.compile(r"\A\s*date:?\s+\d{4}-\d{2}-\d{2}\b[ \t]*", re.IGNORECASE)

# WordPress-style shortcodes: "[mc4wp_form id=""]", "[caption align=x]", "[/caption]", "[gallery]".
# Editorial brackets such as "[Constable]" or "[sic]" inside a sentence are left alone: a
# shortcode is lower case and either carries attributes, has a machine-like name, or closes one.
_SHORTCODE = re.compile(
    r"\[/?[a-z][a-z0-9_-]*"
    r"(?:(?:\s+[a-z0-9_-]+\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s\]]+))+\s*/?"
    r"|(?<=[_0-9])\s*/?)\]"
    r"|\[/[a-z][a-z0-9_-]*\]"
)
_SHORTCODE_LINE = re.compile(r"\[/?[a-z][a-z0-9_-]*\]")

# Whole lines that are page furniture, matched against the entire stripped line. One
# alternation, so each line is tested once.
_FURNITURE_PATTERNS = (
    r"(?i:\d+\s+\d+\s+votes?)",
    r"(?i:article rating)",
    r"(?i:subscribe)",
    r"(?i:notify of)",
    r"(?i:\d+\s+comments?)",
    r"(?i:inline feedbacks?)",
    r"(?i:view all comments)",
    r"(?i:would love your thoughts,?\s+please comment\.?x?)",
    r"(?i:discover more from\b.*)",
    r"(?i:subscribe now to keep reading\b.*)",
    r"(?i:continue reading\W*)",
    r"(?i:(?:also read|read also|read more)\s*[-–—:|].*)",
    r"(?i:share this(?: article| story| page)?:?)",
    r"(?i:like this:?)",
    r"(?i:loading\.*)",
    r"(?i:(?:read|download|view)(?: the)?(?: full)? (?:report|document|pdf)\b.{0,40})",
    r"(?i:.{0,60}\(pdf\))",
    r"(?i:want a quick and expert briefing\b.*)",
    r"(?i:.*\b(?:listen to our|subscribe to our|sign up (?:to|for) our|follow us on)\b.*)",
    r"(?i:(?:photo|picture|image|photograph)s?(?: credits?)?:\s.{0,80})",
    # A caption ending in a credit: "... Barking Credit: Met Police". The credit must be a
    # short run of capitalised words, so "Universal Credit: the impact" is not taken for one.
    r".*\bCredits?:\s*(?:[A-Z][\w'’&.-]*\s?){1,5}",
    # bare page numbers and counters, lone symbols or letters ("0", "x", "×", "()")
    r"\d+",
    r"[^\w\s]*[^\W\d_]?[^\w\s]*",
)
_FURNITURE = re.compile("|".join(_FURNITURE_PATTERNS))
_MAX_FURNITURE_CHARS = 300  # furniture is short; long lines are the document's own text

# Footnote markers --------------------------------------------------------------------------------
# Every run of one to three digits is checked against what is glued before it:
#   `told me:”8 Reverend`    after a closing quote
#   `purpose.12 The`         after a word's full stop or colon, before a new sentence
#   `cases,4 and`            after a word's comma or semicolon
#   `reactive10 capabilities` after a word in lower case. Codes such as "MO19" have capitals
#                            inside and file names such as "page2.html" go on after the dot:
#                            both are kept, as are numbers standing alone ("25 detectives").

_DIGITS = re.compile(r"\d+")
_CLOSING_QUOTES = '”"’'
_WORD_END = re.compile(r"(?:^|[^\w’'])[A-Za-z][a-z]{2,}$")
_AFTER_STOP = re.compile(r"[ \t]+[A-Z“\"‘(]|[ \t]*(?:\n|$)")
_AFTER_WORD = re.compile(r"[\s,;:)]|\.(?:\s|$)|$")

# Line structure --------------------------------------------------------------------------------

_TERMINAL = re.compile(r"[.!?:;…][\"”’')\]]*$")
_LIST_MARKER = re.compile(r"^(?:[ivxlcdm]+|[a-z])[.)]\s")
# Runs of spaces and any other horizontal white space; a lone plain space is left as it is.
_SPACES = re.compile(
    r"[\t\f\v\u00a0\u2000-\u200a\u202f\u205f\u3000][ \t\f\v\u00a0\u2000-\u200a\u202f\u205f\u3000]*"
    r"| [ \t\f\v\u00a0\u2000-\u200a\u202f\u205f\u3000]+"
)
_INVISIBLE = re.compile(r"[\u200b\u200c\u200d\u2060\ufeff\u00ad]")
_SLUG = re.compile(r"[a-z][a-z -]*")
_BODY_LINE_WORDS = 20
_HEADER_LINES = 10


def clean_text(raw: str) -> str:
    """Return the document's own words: no markup, no site furniture, paragraphs kept.

    Paragraphs stay separated by one blank line and single line breaks are kept, except that a
    line broken mid-sentence (no terminal punctuation, next line starting in lower case) is
    joined back to its sentence.
    """
    text = raw.replace("\r\n", "\n").replace("\r", "\n")
    text = _strip_html(text)
    text = _INVISIBLE.sub("", text)
    text = _LEADING_DATE.sub("", text)
    lines = [line.strip() for line in _SPACES.sub(" ", text).split("\n")]
    lines = [_remove_shortcodes(line) for line in lines]
    lines = ["" if _is_furniture(line) else line for line in lines]
    lines = _drop_header_repeats(lines)
    lines = _join_broken_lines(lines)
    return _strip_footnote_markers(_collapse_blank_lines(lines))


def _strip_html(text: str) -> str:
    if "<" not in text and "&" not in text:
        return text
    text = _HTML_DROP_BLOCKS.sub("", text)
    text = _HTML_COMMENT.sub("", text)
    text = _HTML_PARAGRAPH_START.sub("\n\n", text)
    text = _HTML_BREAK.sub("\n", text)
    text = _HTML_TAG.sub("", text)
    # Entities are decoded last, so an escaped "&lt;b&gt;" stays visible text.
    return html.unescape(text)


def _remove_shortcodes(line: str) -> str:
    if "[" not in line:
        return line
    if _SHORTCODE_LINE.fullmatch(line):
        return ""
    return _SPACES.sub(" ", _SHORTCODE.sub("", line)).strip()


def _is_furniture(line: str) -> bool:
    if not line or len(line) > _MAX_FURNITURE_CHARS:
        return False
    return _FURNITURE.fullmatch(line) is not None


def _drop_header_repeats(lines: list[str]) -> list[str]:
    """Drop repeated headlines and lower-case tag slugs above the body ("casey report").

    Web pages often print the headline twice and a category slug between; only the top of
    the page (before the first long line) is touched.
    """
    seen: set[str] = set()
    kept: list[str] = []
    checked = 0
    in_header = True
    for line in lines:
        if in_header and line:
            checked += 1
            if checked > _HEADER_LINES or len(line.split()) >= _BODY_LINE_WORDS:
                in_header = False
            else:
                key = line.casefold()
                if key in seen or (_SLUG.fullmatch(line) and len(line.split()) <= 4):
                    logger.debug("dropping header repeat %r", line)
                    continue
                seen.add(key)
        kept.append(line)
    return kept


def _strip_footnote_markers(text: str) -> str:
    kept: list[str] = []
    last = 0
    for match in _DIGITS.finditer(text):
        if match.end() - match.start() <= 3 and _is_footnote_marker(
            text, match.start(), match.end()
        ):
            kept.append(text[last : match.start()])
            last = match.end()
    kept.append(text[last:])
    return "".join(kept)


def _is_footnote_marker(text: str, start: int, end: int) -> bool:
    if start < 2:
        return False
    glued, before = text[start - 1], text[start - 2]
    if glued in _CLOSING_QUOTES:
        return not before.isspace() and (end == len(text) or text[end].isspace())
    if glued in ".:,;":
        if not (before.islower() or before in ")" + _CLOSING_QUOTES):
            return False
        if glued in ",;":
            return end < len(text) and text[end].isspace()
        return bool(_AFTER_STOP.match(text, end))
    if glued.islower():
        return bool(_WORD_END.search(text, max(0, start - 40), start)) and bool(
            _AFTER_WORD.match(text, end)
        )
    return False


def _join_broken_lines(lines: list[str]) -> list[str]:
    joined: list[str] = []
    for line in lines:
        if joined and _continues(joined[-1], line):
            joined[-1] = f"{joined[-1]} {line}"
        else:
            joined.append(line)
    return joined


def _continues(previous: str, line: str) -> bool:
    """True when `line` carries on the sentence `previous` broke off mid-way."""
    if not previous or not line or not line[0].islower():
        return False
    if _TERMINAL.search(previous) or _LIST_MARKER.match(line):
        return False
    return True


def _collapse_blank_lines(lines: list[str]) -> str:
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    while out and not out[-1]:
        out.pop()
    return "\n".join(out)
