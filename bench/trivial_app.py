"""The trivial ASGI 3 app both servers run in bench/ingress.py: 200 "Hello, world!" to every
HTTP request, and the lifespan protocol answered so hypercorn starts cleanly.

    python bench/trivial_app.py --port 8080                          # the built-in server
    cd bench && hypercorn -k trio -b 127.0.0.1:8080 trivial_app:app  # hypercorn's trio worker

The app imports nothing from the engine, so hypercorn measures only itself.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

BODY = b"Hello, world!"
_START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", b"text/plain"), (b"content-length", b"%d" % len(BODY))],
}
_BODY = {"type": "http.response.body", "body": BODY}


async def app(
    scope: MutableMapping[str, Any],
    receive: Callable[[], Awaitable[Any]],
    send: Callable[[Any], Awaitable[None]],
) -> None:
    if scope["type"] == "lifespan":
        for _ in range(2):  # startup, then shutdown
            message = await receive()
            await send({"type": message["type"] + ".complete"})
        return
    await receive()
    await send(_START)
    await send(_BODY)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from functools import partial

    import trio

    from engine.http1.server import serve

    trio.run(partial(serve, app, host=args.host, port=args.port))


if __name__ == "__main__":
    main()
