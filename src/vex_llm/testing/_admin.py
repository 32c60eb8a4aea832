"""The fake server's admin endpoints: faults and the journal over HTTP, under ``/_admin``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ._plan import Faults
from ._rules import Rule


def admin_routes(faults: Faults) -> list[Route]:
    """``/_admin/faults`` (GET list, POST add, DELETE clear), ``/_admin/faults/{id}``
    (DELETE), ``/_admin/journal`` (GET) and ``/_admin/reset`` (POST)."""

    async def rules(request: Request) -> Response:
        if request.method == "GET":
            return JSONResponse([rule.to_dict() for rule in faults.rules()])
        if request.method == "DELETE":
            faults.clear()
            return JSONResponse({"cleared": True})
        try:
            data = await request.json()
            if not isinstance(data, dict):
                msg = "send a JSON object"
                raise ValueError(msg)
            rule = faults.add(Rule.from_dict(data))
        except (ValueError, TypeError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(rule.to_dict(), status_code=201)

    async def one_rule(request: Request) -> Response:
        found = faults.remove(int(request.path_params["rule_id"]))
        return JSONResponse({"removed": found}, status_code=200 if found else 404)

    async def journal(request: Request) -> Response:
        return JSONResponse([entry.to_dict() for entry in faults.journal()])

    async def reset(request: Request) -> Response:
        faults.reset()
        return JSONResponse({"reset": True})

    return [
        Route("/_admin/faults", rules, methods=["GET", "POST", "DELETE"]),
        Route("/_admin/faults/{rule_id:int}", one_rule, methods=["DELETE"]),
        Route("/_admin/journal", journal, methods=["GET"]),
        Route("/_admin/reset", reset, methods=["POST"]),
    ]
