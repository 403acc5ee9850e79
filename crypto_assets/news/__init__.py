"""News and events: headline parsing and event classification, and structured event records
(hacks, token unlocks, announced pumps). Pure code; sources follow ``social.source``'s contract.

Kept apart from ``social`` because events are dated facts about a coin (a hack, an unlock) with
their own sources and rules, while social text is chatter measured in volume and tone.
"""
