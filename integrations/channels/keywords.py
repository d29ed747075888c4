"""STOP, START and HELP on SMS and WhatsApp, and the channel's own short notices.

UK practice for text services (the mobile networks' and Twilio's conventions,
the PSA/Ofcom guidance on opt-outs): a message that is just STOP ends all
messages from the service, confirmed once, until the resident sends START;
HELP says who is texting, how to reach a person and how to stop or start
again, and is answered even after STOP.

The keyword must be the whole message ("STOP", "stop.", "Stop!"), so
"stop that" or "stop my garden waste" still reach the assistant. CANCEL,
which some carriers treat as STOP, is left to the assistant: residents use
it to cancel a booking or a task. YES (Twilio's other opt-in word) is left
to the assistant too.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from integrations.channels.settings import ChannelSettings


class Keyword(enum.Enum):
    STOP = "stop"
    START = "start"
    HELP = "help"


_KEYWORDS = {
    **dict.fromkeys(("stop", "stopall", "unsubscribe", "end", "quit"), Keyword.STOP),
    **dict.fromkeys(("start", "unstop"), Keyword.START),
    **dict.fromkeys(("help", "info"), Keyword.HELP),
}


def keyword(text: str) -> Keyword | None:
    """The keyword a whole message is, if it is one."""
    return _KEYWORDS.get(re.sub(r"[\s.!?]+", "", text.lower()))


@dataclass(frozen=True)
class Notices:
    """What a text channel says on its own, without the assistant."""

    stopped: str
    started: str
    help: str
    media_only: str
    empty: str
    failed: str

    @classmethod
    def for_council(cls, settings: ChannelSettings) -> Notices:
        who = f"{settings.council_name}'s digital assistant"
        contact = (
            f"To speak to someone call {settings.council_phone} ({settings.office_hours}) "
            f"or visit {settings.council_website}/contact."
        )
        example = "Please type what you need, for example 'when is my bin day'."
        return cls(
            stopped=f"You've opted out of messages from {who}. You won't get any more. "
            "Reply START to opt back in.",
            started=f"You've opted back in to messages from {who}. What can I help you with? "
            "Reply STOP to opt out.",
            help=(
                f"This is {who}. Text what you need, for example 'when is my bin day'. {contact} "
                "Texts cost your standard network rate. Reply STOP to opt out, START to opt back in."
            ),
            media_only=f"Sorry, I can only read text messages, not pictures, voice notes or files. {example}",
            empty=f"Sorry, your message was empty. {example} Or reply HELP.",
            failed=f"Sorry, something went wrong on our side. Please try again in a few minutes. {contact}",
        )
