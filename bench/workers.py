"""Group ``workers``: the turn figures with two uvicorn worker processes sharing one port in one
instance, as a 2-vCPU Cloud Run instance runs the service (``--workers 2``), on PostgreSQL.

Three servers, loaded alternately at 1 and 50 sessions: the service in two processes, the
service in one process, and the bare FastAPI app doing one INSERT in two processes. The rows set
the service's two processes beside the bare app's two, and beside its own single process (the
gain from a second vCPU). The machine's two cores are shared with the client and PostgreSQL.
"""

from __future__ import annotations

from typing import Final

from bench.core import Context, Row
from bench.http_turns import BASELINE, Comparison, Spec, compare

GROUP: Final = "workers"
CONCURRENCY: Final = (1, 50)
TWO: Final = "gaia, 2 workers"
ONE: Final = "gaia, 1 worker"
BARE_TWO: Final = "baseline, 2 workers"


def run(ctx: Context) -> list[Row]:
    measure = "HTTP turn POST, 2 workers"
    return compare(
        ctx,
        group=GROUP,
        store="PostgreSQL",
        database_for=ctx.postgres_database,
        specs=[Spec(TWO, "gaia", 2), Spec(ONE, "gaia", 1), Spec(BARE_TWO, "baseline", 2)],
        concurrency=CONCURRENCY,
        comparisons=[
            Comparison(GROUP, TWO, BARE_TWO, f"{BASELINE}, 2 workers", measure),
            Comparison(GROUP, TWO, ONE, "same service, 1 worker", f"{measure} (vs 1)"),
        ],
    )
