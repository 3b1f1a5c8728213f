"""`rag mcp` (MCP over stdio) and `rag serve` (MCP over HTTP plus a JSON API)."""

from __future__ import annotations

import contextlib
from typing import Annotated

import typer

from ragcli.cli.app import app, handles_errors
from ragcli.cli.options import TARGET, Flags, JsonOpt, uses
from ragcli.errors import RagError

HostOpt = Annotated[
    str,
    typer.Option("--host", help="Address to bind; not loopback needs $RAG_SERVE_TOKEN."),
]
PortOpt = Annotated[
    int | None,
    typer.Option(
        "--port", "-p", help="Port to listen on (default 8181); with --stop, which server."
    ),
]
DEFAULT_PORT = 8181
DaemonOpt = Annotated[
    bool, typer.Option("--daemon", "-d", help="Run in the background (pid file, log file).")
]
StopOpt = Annotated[bool, typer.Option("--stop", help="Stop the background server of this index.")]
ReplicasOpt = Annotated[
    int | None,
    typer.Option("--replicas", help="Requests served at once (default: 2, or 1 on one core)."),
]
WatchOpt = Annotated[
    bool,
    typer.Option(
        "--watch", help="Re-ingest the index's folders as files change (one ingest at a time)."
    ),
]
MISSING_MCP = "the MCP server needs the mcp package: pip install 'mcp>=2.3'"


def _require_mcp() -> None:
    try:
        import mcp  # noqa: F401
    except ImportError:
        raise RagError(MISSING_MCP) from None


@app.command("mcp")
@handles_errors
@uses(TARGET)
def mcp_command(watch: WatchOpt = False, *, target: Flags) -> None:
    """MCP over stdio: what Claude Code and Claude Desktop launch (README)."""
    _require_mcp()
    from ragcli.serve.run import serve_mcp_stdio

    target.open_index()  # a missing index is an error now, not inside the protocol
    serve_mcp_stdio(lambda: target.open_index(), replicas=1, watch=watch)


@app.command()
@handles_errors
@uses(TARGET)
def watch(json_out: JsonOpt = False, *, target: Flags) -> None:
    """Keep the index in step with its folders: re-ingest changed files as they are saved
    (Ctrl-C stops). One line per ingest; --json prints each ingest report."""
    from ragcli.cli import render
    from ragcli.ingest.watch import Watcher

    idx = target.open_index()
    if not idx.exists():
        raise RagError(f"{idx.location}: no index here yet (run `rag ingest PATH` first)")

    def ingested(report) -> None:
        if json_out:
            render.print_json(report.to_dict())
            return
        counts = ", ".join(
            f"{len(getattr(report, name))} {name}"
            for name in ("added", "updated", "removed")
            if getattr(report, name)
        )
        line = f"generation {report.generation}: {counts} ({report.seconds:.2f} s)"
        _say(render, False, {}, line)

    def failed(message: str) -> None:
        _say(render, False, {}, message)

    def ready() -> None:
        roots = ", ".join(str(root) for root in watcher.roots)
        _say(render, False, {}, f"watching {roots} for {idx.location}; Ctrl-C stops")

    watcher = Watcher(idx, on_ingest=ingested, on_error=failed, on_ready=ready)
    with contextlib.suppress(KeyboardInterrupt):
        watcher.run()
    _say(render, False, {}, "stopped watching")


@app.command()
@handles_errors
@uses(TARGET)
def serve(
    host: HostOpt = "127.0.0.1",
    port: PortOpt = None,
    daemon: DaemonOpt = False,
    stop: StopOpt = False,
    replicas: ReplicasOpt = None,
    watch: WatchOpt = False,
    json_out: JsonOpt = False,
    *,
    target: Flags,
) -> None:
    """MCP over Streamable HTTP at /mcp plus a JSON API (/search, /get, /status, /health)."""
    from ragcli.cli import render

    location = target.open_index().location
    if stop:
        from ragcli.serve.run import stop_server

        record = stop_server(location, port)  # port None: the index's only server
        _say(
            render,
            json_out,
            {"stopped": record["pid"], "url": record["url"]},
            f"stopped the server at {record['url']} (pid {record['pid']})",
        )
        return
    _require_mcp()
    from ragcli.serve import run

    port = DEFAULT_PORT if port is None else port
    if daemon:
        argv = _forwarded(host, port, replicas, target) + (["--watch"] if watch else [])
        record = run.start_daemon(argv, location, port)
        _say(
            render,
            json_out,
            record,
            f"serving {location} at {record['url']} (MCP {record['mcp']}, pid "
            f"{record['pid']}, log {record['log']})",
        )
        return

    def ready(record) -> None:
        _say(
            render,
            json_out,
            record,
            f"serving {location} at {record['url']} (MCP {record['mcp']}); Ctrl-C stops",
        )

    run.serve_http(lambda: target.open_index(), host, port, replicas, on_ready=ready, watch=watch)


def _forwarded(host: str, port: int, replicas: int | None, target: Flags) -> list[str]:
    argv = ["--host", host, "--port", str(port)]
    if replicas is not None:
        argv += ["--replicas", str(replicas)]
    for option in ("index", "name", "store"):
        if target.get(option):
            argv += [f"--{option}", str(target[option])]
    return argv


def _say(render, json_out: bool, record: dict, text: str) -> None:
    import sys

    if json_out:
        render.print_json(record)
    else:
        sys.stderr.write(f"rag: {text}\n")
        sys.stderr.flush()
