"""A bare Starlette app that serves and stores files, the media group's HTTP baseline.

``python -m bench.bare_media --port P --dir D``: ``GET /files/{name}`` answers a ``FileResponse``;
``POST /files/{name}`` writes the raw request body to a file, fsyncs it and answers 201. No auth,
no session, no index, no checks: what HTTP itself costs on this machine, beside a file copy.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import uvicorn
from anyio import to_thread
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Route


def bare_app(directory: Path) -> Starlette:
    async def healthz(_request: Request) -> Response:
        return PlainTextResponse("ok")

    async def get_file(request: Request) -> Response:
        return FileResponse(directory / request.path_params["name"])

    async def put_file(request: Request) -> Response:
        target = directory / request.path_params["name"]
        handle = await to_thread.run_sync(target.open, "wb")
        try:
            async for chunk in request.stream():
                await to_thread.run_sync(handle.write, chunk)
            await to_thread.run_sync(os.fsync, handle.fileno())
        finally:
            handle.close()
        return PlainTextResponse("stored", status_code=201)

    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/files/{name}", get_file, methods=["GET"]),
            Route("/files/{name}", put_file, methods=["POST"]),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bare_media")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", type=Path, required=True)
    args = parser.parse_args()
    uvicorn.run(bare_app(args.dir), host="127.0.0.1", port=args.port, access_log=False)


if __name__ == "__main__":
    main()
