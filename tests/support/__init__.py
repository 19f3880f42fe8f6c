"""Helpers shared by the tests: store configurations and a throwaway PostgreSQL cluster."""
