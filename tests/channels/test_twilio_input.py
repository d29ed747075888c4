"""Which URL the Twilio connector checks a signature against, behind a proxy or not."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from integrations.channels import runtime
from integrations.channels.runtime import ChannelRuntime
from integrations.channels.settings import ChannelSettings
from integrations.channels.store import ChannelStore
from integrations.channels.twilio import TwilioSmsInput


def connector(tmp_path: Path, **env: str) -> TwilioSmsInput:
    settings = ChannelSettings.from_env(env)
    return TwilioSmsInput(settings, ChannelRuntime(settings, ChannelStore(f"sqlite:///{tmp_path / 'c.db'}")))


def request(query: str = "") -> SimpleNamespace:
    path = "/webhooks/twilio_sms/webhook"
    return SimpleNamespace(
        url=f"http://10.0.0.5:5005{path}" + (f"?{query}" if query else ""), path=path, query_string=query
    )


def test_without_a_public_url_the_url_the_request_arrived_at_is_checked(tmp_path):
    assert connector(tmp_path).public_url(request()) == "http://10.0.0.5:5005/webhooks/twilio_sms/webhook"


def test_behind_a_proxy_the_configured_public_url_is_checked_with_the_path_and_query(tmp_path):
    behind = connector(tmp_path, CHANNELS_PUBLIC_URL="https://chat.council.example/")
    assert behind.public_url(request("a=1")) == "https://chat.council.example/webhooks/twilio_sms/webhook?a=1"


def test_credentials_may_override_the_connectors_own_settings_only(tmp_path, monkeypatch):
    monkeypatch.setenv("CHANNEL_DB_URL", f"sqlite:///{tmp_path / 'shared.db'}")
    monkeypatch.setattr(runtime, "_shared", None)  # a runtime of this test's own
    overridden = TwilioSmsInput.from_credentials({"twilio_auth_token": "from-credentials"})
    assert overridden.settings.twilio_auth_token == "from-credentials"
    try:
        TwilioSmsInput.from_credentials({"webchat_secret": "x"})
    except ValueError as error:
        assert "webchat_secret" in str(error)
    else:
        raise AssertionError("a setting of another channel was accepted")
