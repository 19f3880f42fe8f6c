"""Group ``narration``: what narrating each turn costs the turn path, measured as ``http_turns``
measures it, at 50 concurrent sessions on PostgreSQL and on SQLite.

Three servers, loaded alternately: the service as it runs (each accepted turn is narrated by the
instant demo narrator and the narration stored, as in ``http_turns``), the same service with
narration off (``BENCH_SERVER_NARRATION=off``: turns are accepted and left waiting), and the
bare FastAPI app doing one insert per turn. Two comparisons: the service beside itself without
narration (the narration's share of the server's work), and the service without narration
beside the bare app (the request path alone against the ``http_turns`` baseline).
"""

from __future__ import annotations

from typing import Final

from bench.core import Context, Row
from bench.http_turns import (
    BASELINE,
    UNREACHED_QUOTAS,
    Comparison,
    Spec,
    compare_on_both_stores,
)
from bench.servers import ENV_NARRATION

GROUP: Final = "narration"
CONCURRENCY: Final = (50,)
QUIET: Final = "narration off"
NARRATING: Final = Comparison(
    group=GROUP,
    ours="gaia",
    base=QUIET,
    baseline="same service, narration off",
    measure="HTTP turn POST, narration on",
)
REQUEST_PATH: Final = Comparison(
    group=GROUP,
    ours=QUIET,
    base="baseline",
    baseline=BASELINE,
    measure="HTTP turn POST, narration off",
)


def run(ctx: Context) -> list[Row]:
    return compare_on_both_stores(
        ctx,
        group=GROUP,
        specs=[
            Spec("gaia", "gaia"),
            Spec(QUIET, "gaia", env=UNREACHED_QUOTAS | {ENV_NARRATION: "off"}),
            Spec("baseline", "baseline"),
        ],
        concurrency=CONCURRENCY,
        comparisons=[NARRATING, REQUEST_PATH],
    )
