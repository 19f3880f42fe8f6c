"""The pure model of Gaia's campaign sessions: the CampaignSession aggregate, its events and
errors, and the Sessions application holding the use cases. No web framework, no settings."""
