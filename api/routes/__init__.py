"""HTTP routes, one module per area; handlers parse, authorize, call one use case, shape the answer."""
