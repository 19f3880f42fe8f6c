"""HTTP routes, one module per area: parse, authorize, call one use case, shape the answer."""
