"""bench/api.py's load process builds its load from its own arguments: the shared load
generator (bench/loadgen.py) reads attributes the API benchmark must provide too (``--ids``,
added for the fault suite, broke it once: every run failed at warm-up)."""

from __future__ import annotations

from bench.api import ApiKeyLoad, load_args


def test_the_load_process_arguments_build_a_load() -> None:
    argv = "--url http://127.0.0.1:1 --key k --template t --duration 1 --out /dev/null"
    args = load_args(argv.split())
    load = ApiKeyLoad(args)
    assert load.ids is None
    assert args.connections == 64
