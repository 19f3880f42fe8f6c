"""What the API answers: one Pydantic model per JSON body, so that ``/openapi.json`` describes
every answer (request bodies live in ``api/schemas.py``)."""
