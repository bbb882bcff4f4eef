"""One module per wire format, each mapping its payloads into canonical events."""
