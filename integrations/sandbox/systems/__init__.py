"""One module per imitated system; see ``integrations.sandbox`` for the protocol."""
