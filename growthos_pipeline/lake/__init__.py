"""The lake: Delta tables under the data folder (or an object-store URI)."""
