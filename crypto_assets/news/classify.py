"""Event classification of headlines: hack, delisting, listing, unlock, fork, regulatory,
partnership or other, by ordered rules.

Why rules: the labelled set is small (a few hundred headlines labelled by hand), the classes are
defined by a handful of verbs ("exploited", "delists", "unlocks", "hard fork"), and a rule that
fired can be shown next to the event. Measured on hand-labelled real CryptoPanic headlines
(``data/event_labels.csv``; figures in ``benchmarks/README.md``).

Rules are tried in this order; the first that matches wins (a "hack" headline that also says
"SEC" is a hack):
1. hack: hacked, exploit(ed), drained, stolen, breach, compromised, heist, rug pull, attacker(s)
   (not "sandwich attacks": MEV is trading, not a breach).
2. delisting: delist(s/ing), suspends/halts/ends trading, removes ... pairs.
3. listing: lists / to list / will list / listing on / adds ... trading / futures launch.
4. unlock: unlock(s) of tokens (not "unlocking potential"), vesting, escrow release.
5. fork: hard fork, fork, network/mainnet/protocol upgrade, named upgrades (Pectra, Chang,
   Plomin, Dencun), testnet trials of an upgrade.
6. regulatory: regulators and courts (SEC, CFTC, DOJ, court, lawsuit, judge, settlement),
   law-making (law, bill, senate, congress, lawmakers, policy, executive order, ban, tax),
   licences and approvals, ETF filings/approvals, government reserves, central banks' rules.
7. partnership: partner(s/ship), teams up, collaborat(e/ion), integrat(e/ion), joins forces.
8. other.
"""

from __future__ import annotations

import re

import pandas as pd

EVENT_CLASSES = (
    "hack",
    "delisting",
    "listing",
    "unlock",
    "fork",
    "regulatory",
    "partnership",
    "other",
)

_RULES: list[tuple[str, str]] = [
    (
        "hack",
        r"\bhack(?:s|ed|er|ers|ing)?\b|\bexploit(?:s|ed|er)?\b|\bdrain(?:s|ed)?\b|\bstolen\b|"
        r"\bbreach(?:ed)?\b|\bcompromised\b|\bheist\b|\brug[- ]?pull|\battacker|"
        r"(?<!sandwich )\battack(?:ed)?\b(?! on)",
    ),
    (
        "delisting",
        r"\bdelist(?:s|ed|ing)?\b|\b(?:suspend|halt|end)s? trading\b|"
        r"\bremov(?:e|es|ing) .{0,30}pairs?\b",
    ),
    (
        "listing",
        r"\b(?:lists|listed on|to list|will list|listing on|new listing)\b|"
        r"\badds? .{0,40}\bfor trading\b|\bfutures (?:launch|listing)\b|"
        r"\blaunch(?:es)? .{0,20}futures\b",
    ),
    (
        "unlock",
        r"\bunlock(?:s|ed)? (?:\d|of|millions|billions|\$)|\bto unlock\b(?! new| the)|"
        r"\btoken unlocks?\b|\bvesting\b|\bescrow\b",
    ),
    (
        "fork",
        r"\bhard ?fork\b|\bfork\b|\b(?:network|mainnet|protocol|governance|major) upgrade\b|"
        r"\bupgrades?\b.{0,30}\b(?:network|chain|mainnet|testnet)\b|"
        r"\b(?:pectra|chang|plomin|dencun|leios|beam chain)\b|\btestnet\b|\bpost-upgrade\b",
    ),
    (
        "regulatory",
        r"\bsec\b|\bcftc\b|\bdoj\b|\bcourt\b|\blawsuits?\b|\bjudge\b|\bsettlement\b|\blaw\b|"
        r"\blawmakers?\b|\bbill\b|\bsenate\b|\bcongress\b|\bpolicy\b|\bexecutive order\b|"
        r"\border\b|\bbans?\b|\btax(?:es)?\b|\blicen[cs]e\b|\bapprov(?:e|es|ed|al|ing)\b|"
        r"\bregulat\w*|\bcompliance\b|\bsanctions?\b|\bmica\b|\bcharges?\b|\bappeal\b|"
        r"\bcrack(?:s)? down\b|\bfil(?:es|ing|ed)\b|\breserve\b|\blegal tender\b|"
        r"\bcrypto czar\b|\bgovernment\b|\bpresident\b.{0,40}\bcrypto\b|\bcampaign\b|"
        r"\bstaking\b.{0,30}\betfs?\b|\betfs?\b.{0,40}\b(?:launch|coming|approval|timeline)\b",
    ),
    (
        "partnership",
        r"\bpartner(?:s|ed|ship|ships)?\b|\bteams? up\b|\bcollaborat\w*|\bintegrat\w*|"
        r"\bjoins forces\b|\bwelcomes\b|\bsupport for crypto payments\b",
    ),
]
_COMPILED = [(label, re.compile(pattern, re.IGNORECASE)) for label, pattern in _RULES]


def classify_headline(title: str) -> str:
    """The event class of one headline (``other`` when no rule fires)."""
    text = " ".join(str(title or "").split())
    for label, pattern in _COMPILED:
        if pattern.search(text):
            return label
    return "other"


def classify_headlines(titles: pd.Series) -> pd.Series:
    """Vectorised over a Series of headlines (same index, string dtype)."""
    return pd.Series([classify_headline(t) for t in titles], index=titles.index, dtype="string")
