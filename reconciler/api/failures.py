"""Which FAILED jobs are content blocks: read once, where a FAILED answer becomes a value. Pure.

A moderation refusal repeats whatever we do, so it is failed for good (PERMANENT) until the user
asks again with `--retry-failed`; every other failure is the backend's bad luck (TEMPORARY) and the
next apply makes the video again. Guessing "blocked" wrongly costs the user the video silently, so
only whole words and phrases that moderation refusals use count: "an exception was raised",
"constraint violated" or "Content-Length mismatch" must not read as "RAI", "rai" or "content".
"""

from __future__ import annotations

import re

from reconciler.records import FailureReason

# Each pattern is matched as whole words (\b on both ends), ignoring case.
_REFUSALS = (
    r"content[ -]?(?:policy|policies|filter|moderation|safety|violation)",
    r"moderation",
    r"moderated",
    r"nsfw",
    r"(?:inappropriate|unsafe|sensitive|prohibited|explicit|harmful|disallowed|restricted) content",
    r"safety (?:filter|system|checker|policy|policies|guidelines)",
    r"usage (?:policy|policies|guidelines)",
    r"responsible ai",
    r"rai (?:block|blocked|filter|policy|check)",
    r"data ?inspection ?failed",
    r"(?:flagged|rejected|refused|blocked) (?:by|for) (?:the )?(?:moderation|safety|content|our|policy)",
)
_REFUSAL_RE = re.compile(r"\b(?:" + "|".join(_REFUSALS) + r")\b", re.IGNORECASE)


def failure_reason(error: str | None) -> FailureReason:
    """PERMANENT for a moderation refusal (by its words), TEMPORARY for any other failure."""
    if error and _REFUSAL_RE.search(error):
        return FailureReason.PERMANENT
    return FailureReason.TEMPORARY
