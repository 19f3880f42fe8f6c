"""Infrastructure behind the domain's ports: event-store recorders, pools, locks and media stores."""
