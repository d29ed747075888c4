"""Custom actions, one module per service: validate, call a client, say what happened."""
