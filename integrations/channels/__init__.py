"""How residents reach the assistant: the channel connectors and what they share.

| connector (``bot/credentials.yml`` key, under ``integrations.channels.``) | webhook | replies |
|---|---|---|
| ``webchat.WebchatInput`` | ``/webhooks/webchat/session``, ``/message`` | in the response |
| ``twilio.TwilioSmsInput`` | ``/webhooks/twilio_sms/webhook`` | Twilio Messages API |
| ``twilio.TwilioWhatsAppInput`` | ``/webhooks/twilio_whatsapp/webhook`` | Twilio Messages API |
| ``meta.WhatsAppCloudInput`` | ``/webhooks/whatsapp_cloud/webhook`` | WhatsApp Cloud API |
| ``notify.NotifySmsInput`` | ``/webhooks/notify_sms/webhook`` | GOV.UK Notify |
| ``rest.RestInput`` | ``/webhooks/rest/webhook`` (tools, tests) | in the response |

Modules: ``settings`` (every channel setting, from the environment),
``rendering`` (numbered options, splitting, SMS segments, WhatsApp
interactive messages), ``keywords`` (STOP, START, HELP and the channels' own
notices), ``identity`` (keyed-hash conversation ids, signed website tokens),
``store`` (numbers, offered options, replays, opt-outs, the outbox),
``senders`` and ``delivery`` (the background send queue), ``base`` (the
shared inbound flow; typed ``/`` text is text).
"""
