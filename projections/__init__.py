"""Read models folded from session events: per-session views held in memory (history, members,
invites, media) and checkpointed cross-session views (my sessions) with a rebuild command."""
