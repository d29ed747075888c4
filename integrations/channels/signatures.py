"""Checking that a webhook request comes from the provider, in constant time.

- Twilio: ``X-Twilio-Signature`` = base64(HMAC-SHA1(auth token, the URL
  Twilio called + each POST parameter name and value, sorted by name)).
  Twilio may sign the URL with or without its default port, so both are
  tried, as Twilio's own validator does.
- Meta (WhatsApp Cloud API): ``X-Hub-Signature-256`` = ``sha256=`` + hex
  HMAC-SHA256(app secret, the raw request body).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import urlsplit, urlunsplit


def twilio_signature(auth_token: str, url: str, params: dict[str, list[str]]) -> str:
    """Twilio's request signature; a repeated parameter's distinct values sorted, as in Twilio's libraries."""
    data = url + "".join(name + value for name in sorted(params) for value in sorted(set(params[name])))
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def _url_variants(url: str) -> list[str]:
    """The URL without and with its default port."""
    parts = urlsplit(url)
    default = 443 if parts.scheme == "https" else 80
    host = parts.hostname or ""
    without = parts._replace(netloc=host if parts.port in (None, default) else parts.netloc)
    with_port = parts._replace(netloc=f"{host}:{parts.port or default}")
    return [urlunsplit(without), urlunsplit(with_port)]


def twilio_signature_valid(
    auth_token: str, url: str, params: dict[str, list[str]], signature: str | None
) -> bool:
    if not signature or not auth_token:
        return False
    given = signature.encode()
    return any(
        hmac.compare_digest(twilio_signature(auth_token, variant, params).encode(), given)
        for variant in _url_variants(url)
    )


def meta_signature(app_secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def meta_signature_valid(app_secret: str, body: bytes, header: str | None) -> bool:
    if not header or not app_secret:
        return False
    return hmac.compare_digest(meta_signature(app_secret, body).encode(), header.strip().encode())
