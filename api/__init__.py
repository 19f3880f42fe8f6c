"""HTTP API for Gaia campaign sessions: FastAPI app, routes and request/response schemas."""
