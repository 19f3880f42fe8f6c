"""Group ``guards``: what the request guards cost on the turn path, measured as ``http_turns``
measures it, with the guards on (ours) beside the same service with them off (baseline).

On: the quotas (``GAIA_QUOTAS_ENABLED=true``, with limits this load never reaches, so every
turn pays for the checks and none is refused) and the 1 MiB JSON body cap
(``GAIA_MAX_BODY_BYTES``). Off: ``GAIA_QUOTAS_ENABLED=false`` and a body cap no request comes
near. Both are the real service (``create_app`` with the instant demo narrator) in a uvicorn
subprocess of its own, on PostgreSQL and on SQLite, loaded alternately in the same run.
"""

from __future__ import annotations

from typing import Final

from bench.core import Context, Row
from bench.http_turns import UNREACHED_QUOTAS, Comparison, Spec, compare_on_both_stores

GROUP: Final = "guards"
CONCURRENCY: Final = (1, 10)  # one client shows the latency added, ten the throughput
GUARDS_ON: Final = UNREACHED_QUOTAS | {"GAIA_MAX_BODY_BYTES": str(1024 * 1024)}
GUARDS_OFF: Final = {"GAIA_QUOTAS_ENABLED": "false", "GAIA_MAX_BODY_BYTES": str(1024**3)}
COMPARED: Final = Comparison(
    group=GROUP,
    ours="guards on",
    base="guards off",
    baseline="same, guards off",
    measure="HTTP turn POST, guards on",
)


def run(ctx: Context) -> list[Row]:
    return compare_on_both_stores(
        ctx,
        group=GROUP,
        specs=[
            Spec(COMPARED.ours, "gaia", env=GUARDS_ON),
            Spec(COMPARED.base, "gaia", env=GUARDS_OFF),
        ],
        concurrency=CONCURRENCY,
        comparisons=[COMPARED],
    )
