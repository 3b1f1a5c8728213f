"""Resident serving: one process keeps an index and its models loaded for many clients.

* ``resident`` (``Resident``): a small pool of ``Index`` replicas, each used by one request
  at a time, reopened when another process publishes a new generation;
* ``tools`` (``Tools``): the operations with their JSON-schema'd parameters (search, get,
  multi_get, status and, when a language model is configured, ask), shared by MCP and
  the JSON API, so both validate and answer alike;
* ``mcp_server``: the MCP server (official ``mcp`` SDK) over stdio or Streamable HTTP;
* ``http``: the HTTP app (``/mcp`` plus ``POST /search``, ``GET /get``, ``GET /health``,
  ``GET /status``) behind Host/Origin screening and the bearer token;
* ``daemon``: pid files, background start, ``--stop``, the rotating log.

The ``mcp`` SDK, starlette and uvicorn are imported only here, never by `rag search`.
"""
