"""One-off job that imports legacy Gaia campaign files into the event store."""
