"""Talk to the stack as a resident and keep the conversation as a transcript.

``Chat(stack, "renew_garden_waste")`` wraps ``stack.say``; ``chat.note(...)``
records what the resident did outside the chat (the payment page). With
``RECORD_TRANSCRIPTS=1`` in the environment, ``chat.save(title, intro)``
writes ``docs/transcripts/<name>.md``: the transcripts of the journeys come
from real runs through the Rasa server, the action server and the sandbox.
Payment links are secrets: only their start is kept.
"""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path
from typing import Any

from tests.support.processes import ROOT

TRANSCRIPTS = ROOT / "docs" / "transcripts"
PAYMENT_LINK = re.compile(r"(https?://\S+?/pay/)\S+")


def texts(replies: list[dict[str, Any]]) -> str:
    return "\n".join(r.get("text") or "" for r in replies)


class Chat:
    def __init__(self, stack: Any, name: str) -> None:
        self.stack = stack
        self.name = name
        self.sender = f"e2e-{name[:12]}-{uuid.uuid4().hex[:8]}"
        self.lines: list[str] = []
        self.links_cut = False

    def say(self, text: str) -> str:
        """Send a message; the replies' text (buttons are recorded in the transcript)."""
        replies = self.stack.say(self.sender, text)
        self.lines.append(f"**Resident:** {text}")
        for reply in replies:
            text = reply.get("text") or ""
            self.links_cut = self.links_cut or bool(PAYMENT_LINK.search(text))
            shown = PAYMENT_LINK.sub(r"\1…", text).replace("\n", "  \n")
            self.lines.append(f"**Assistant:** {shown}")
            titles = [b["title"] for b in reply.get("buttons") or []]
            if titles:
                self.lines.append("*Buttons:* " + " · ".join(f"[{t}]" for t in titles))
        return texts(replies)

    def note(self, text: str) -> None:
        self.lines.append(f"*{text}*")

    def save(self, title: str, intro: str) -> Path | None:
        if not os.environ.get("RECORD_TRANSCRIPTS"):
            return None
        TRANSCRIPTS.mkdir(parents=True, exist_ok=True)
        path = TRANSCRIPTS / f"{self.name}.md"
        body = "\n\n".join(self.lines)
        path.write_text(
            f"# {title}\n\n{intro}\n\nRecorded from a real run through the Rasa server, the action "
            "server and the back-office sandbox (`RECORD_TRANSCRIPTS=1 pytest tests/e2e`). References and "
            "dates come from the sandbox on the day of the run."
            + (" Payment links are cut short: they are secrets." if self.links_cut else "")
            + f"\n\n---\n\n{body}\n"
        )
        return path
