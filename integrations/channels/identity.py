"""Conversation ids that reveal nobody, and the website's signed conversation tokens.

- A phone number is never a conversation id: the id is a keyed hash
  (HMAC-SHA256 with ``CHANNEL_ID_KEY``) of the channel family and the number
  in international form, so the same resident keeps one conversation per
  family ("sms", "wa") and the tracker, logs and reports never hold the
  number. Only the channel store keeps it, for replies.
- The website's conversation id is random and issued by the server inside a
  signed token (a JWT, HS256, with an expiry); the widget cannot choose one,
  so nobody can read or join another resident's conversation.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time

import jwt

#: Prefixes of the ids our channels issue; the REST channel refuses them as senders.
ISSUED_PREFIXES = ("sms-", "wa-", "web-")
_TOKEN_AUDIENCE = "council-assistant-webchat"


def international_number(raw: str) -> str:
    """Digits of a phone number in international form: ``whatsapp:+44 7700 900123`` -> ``447700900123``.

    A UK national number (``07700 900123``) gets the 44 country code.
    """
    digits = re.sub(r"\D", "", raw.removeprefix("whatsapp:"))
    if digits.startswith("00"):
        digits = digits[2:]
    elif digits.startswith("0"):
        digits = "44" + digits[1:]
    return digits


def conversation_id(key: str, family: str, address: str) -> str:
    """The pseudonymous conversation id for ``address`` (a phone number) on a channel ``family``."""
    message = f"{family}:{international_number(address)}".encode()
    digest = hmac.new(key.encode(), message, hashlib.sha256).digest()
    return f"{family}-" + base64.b32encode(digest[:20]).decode().lower()


def is_issued_id(sender_id: str) -> bool:
    return sender_id.startswith(ISSUED_PREFIXES)


def new_webchat_token(secret: str, lifetime_seconds: float, now: float | None = None) -> tuple[str, str]:
    """``(conversation id, signed token)`` for a new website conversation."""
    issued = int(time.time() if now is None else now)
    conversation = "web-" + secrets.token_urlsafe(18)
    claims = {
        "sub": conversation,
        "aud": _TOKEN_AUDIENCE,
        "iat": issued,
        "exp": issued + int(lifetime_seconds),
    }
    return conversation, jwt.encode(claims, secret, algorithm="HS256")


def webchat_conversation(token: str, secret: str) -> str | None:
    """The conversation a token was issued for, or None if it is forged, altered or expired."""
    try:
        claims = jwt.decode(token, secret, algorithms=["HS256"], audience=_TOKEN_AUDIENCE)
    except jwt.InvalidTokenError:
        return None
    subject = claims.get("sub")
    return subject if isinstance(subject, str) and subject.startswith("web-") else None
