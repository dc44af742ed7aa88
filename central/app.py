"""The central service's HTTP API (FastAPI): the sync endpoints and the platform's admin API.

``create_app(db_url)`` builds it; ``fycli serve`` runs it under uvicorn. Routes are thin: they
authenticate, validate (pydantic, strict: unknown fields are refused) and call
:class:`central.service.Service`. Every error is an ``ErrorBody``; a 4xx changes nothing.
"""

import datetime as dt
from typing import Annotated, Any

import orjson
import sqlalchemy as sa
from fastapi import Body, Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.gzip import GZipMiddleware

from central.bodies import MAX_COMPRESSED, MAX_DECOMPRESSED, BodyLimitMiddleware
from central.docs import add_offline_docs
from central.logsafe import SafeErrorMiddleware
from central.service import DEFAULT_PULL_LIMIT, UNIT_KINDS, Liaison, Service, ServiceError
from central.storage.engine import Database, open_database
from schemas.actions import CentralActionT, Register
from schemas.calendar import HolidayTable
from schemas.ticket import CleanShortText, CleanTitle, UnitId
from schemas.wire import (
    MAX_PULL_LIMIT,
    PROTOCOL_VERSION,
    ErrorBody,
    Me,
    PullResponse,
    PushRequest,
    PushResponse,
    UnitMetrics,
)

JSON = "application/json"
_ERRORS = {401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
           409: "conflict", 413: "too_large", 415: "unsupported_encoding", 422: "invalid_request",
           429: "rate_limited"}  # fmt: skip
_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (401, 403, 404, 409, 413, 415, 422, 429)
}


class UnitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: UnitId
    name: CleanTitle  # names reach every liaison's terminal: no control characters
    kind: str = Field("township", pattern="^(" + "|".join(UNIT_KINDS) + ")$")
    parent_id: UnitId | None = None
    county: CleanShortText | None = None
    township: CleanShortText | None = None


class LiaisonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: UnitId | None = None
    name: CleanTitle
    unit_id: UnitId


class LiaisonCreated(BaseModel):
    liaison_id: str
    token: str = Field(description="Shown once; only its hash is stored.")


class SeedIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tickets: int = Field(1000, ge=0, le=1_000_000)
    seed: int = 1
    county: str | None = None
    township: str | None = None


class PruneIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    older_than_days: float = Field(ge=0, le=36_500, description="Scope exits written longer ago are deleted.")


def _json(body: bytes, status: int = 200) -> Response:
    return Response(content=body, media_type=JSON, status_code=status)


def _error(status: int, error: str, message: str, detail: list | None = None) -> JSONResponse:
    content: dict[str, Any] = {"error": error, "message": message}
    if detail is not None:
        content["detail"] = detail
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(content, status_code=status, headers=headers)


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ServiceError(401, "unauthorized", "send Authorization: Bearer <token> (see `fycli init`)")
    return token.strip()


def budget_for(path: str) -> str | None:
    """The rate budget a liaison's request to ``path`` spends ("push", "pull"), or None.

    Pushes have their own budget, so a liaison held back from pulling can still send its
    work; a ticket read costs what a pull does. Taken at the door (``BodyLimitMiddleware``)
    before the body is read; the routes take nothing.
    """
    if path == "/v1/sync/push":
        return "push"
    if path == "/v1/sync/pull" or path.startswith("/v1/tickets/"):
        return "pull"
    return None


def create_app(
    db_url: str | None = None,
    *,
    db: Database | None = None,
    max_compressed: int = MAX_COMPRESSED,
    max_decompressed: int = MAX_DECOMPRESSED,
    service: Service | None = None,
) -> FastAPI:
    """The ASGI app over the database at ``db_url`` (migrated on open)."""
    if service is None:
        service = Service(db or open_database(db_url or ""))
    app = FastAPI(
        title="fycli central service",
        version=str(PROTOCOL_VERSION),
        description="The central platform's sync service and admin API. See docs/protocol.md.",
        docs_url=None,  # served from the package below: no CDN on an offline intranet
        redoc_url=None,
    )
    app.state.service = service
    add_offline_docs(app)
    # Level 3: a 5,000-ticket page compresses ~6x faster than at 9, for ~20% more bytes.
    app.add_middleware(GZipMiddleware, minimum_size=512, compresslevel=3)

    def at_the_door(token: str | None, path: str) -> Liaison | str:
        """Who sends a request, from its headers, before any body is read (runs in a worker
        thread); a liaison's request to a charged path takes its rate token here, the only place."""
        if token is None:
            raise ServiceError(401, "unauthorized", "send Authorization: Bearer <token> (see `fycli init`)")
        found = admin_of(token) if path.startswith("/v1/admin/") else anyone_of(token)
        budget = budget_for(path)
        if budget is not None and isinstance(found, Liaison):
            service.check_rate(found, budget)
        return found

    app.add_middleware(BodyLimitMiddleware, max_compressed=max_compressed, max_decompressed=max_decompressed,
                       authenticate=at_the_door, guarded=lambda path: budget_for(path) is not None)  # fmt: skip
    app.add_middleware(SafeErrorMiddleware)  # outermost of ours: a failure is logged without data

    @app.exception_handler(ServiceError)
    async def _service_error(_request: Request, exc: ServiceError) -> JSONResponse:
        response = _error(exc.status, exc.error, exc.message)
        if exc.retry_after is not None:
            response.headers["Retry-After"] = str(exc.retry_after)
        return response

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        detail = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        return _error(422, "invalid_request", "the request does not match the schema; see detail", detail)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:  # a body that is not JSON in UTF-8: as any other invalid body
            return _error(422, "invalid_request", "the body is not JSON in UTF-8: fix it and send again")
        return _error(exc.status_code, _ERRORS.get(exc.status_code, "internal"), str(exc.detail))

    @app.exception_handler(sa.exc.DataError)
    async def _data_error(_request: Request, _exc: sa.exc.DataError) -> JSONResponse:
        # A value the database cannot hold (a NUL character, a number out of range): the
        # request's fault, not the server's. Writes say so themselves (Service.write).
        return _error(422, "invalid_request", "a value of the request is out of range or has a NUL character")

    @app.exception_handler(Exception)
    async def _internal(_request: Request, exc: Exception) -> JSONResponse:
        return _error(500, "internal", f"the server failed ({type(exc).__name__}); try again later")

    def _unknown_token(token: str) -> ServiceError:
        """The 401 for a token that opens nothing; says "token revoked" for a retired one."""
        why = service.token_retired(token)
        if why == "revoked":
            return ServiceError(401, "unauthorized", "token revoked: the platform stopped this liaison's "
                                "access; ask it for a new token (`fycli central rotate-token`)")  # fmt: skip
        if why == "rotated":
            return ServiceError(401, "unauthorized", "token revoked: the platform issued a new token for "
                                "this liaison; use the new one (`fycli init --token …`)")  # fmt: skip
        return ServiceError(401, "unauthorized", "the token is wrong; ask the platform for a new one")

    def admin_of(token: str) -> str:
        if service.is_admin(token):
            return "admin"
        if service.liaison_for(token) is not None:
            raise ServiceError(403, "forbidden", "this endpoint needs the admin token")
        raise ServiceError(401, "unauthorized", "the admin token is wrong (see the admin-token file)")

    def anyone_of(token: str) -> Liaison | str:
        """The liaison the token belongs to, or "admin"; else the 401."""
        if service.is_admin(token):
            return "admin"
        found = service.liaison_for(token)
        if found is None:
            raise _unknown_token(token)
        return found

    def _who(request: Request, token: str, look_up) -> Liaison | str:
        """Who the door found for this token (requests with a body), else ``look_up(token)``."""
        door = request.scope.get("state", {}).get("fycli_principal")
        if door is not None and door[0] == token:
            return door[1]
        return look_up(token)

    def liaison(request: Request) -> Liaison:
        found = _who(request, _bearer(request), anyone_of)
        if found == "admin":
            raise ServiceError(403, "forbidden", "this endpoint is for a liaison's token, not the admin's")
        return found

    def admin(request: Request) -> str:
        token = _bearer(request)
        found = _who(request, token, admin_of)
        if found != "admin":  # a liaison whose body came to a non-admin path cannot be here
            raise ServiceError(403, "forbidden", "this endpoint needs the admin token")
        return found

    def anyone(request: Request) -> Liaison | None:
        found = _who(request, _bearer(request), anyone_of)
        return None if found == "admin" else found

    LiaisonDep = Annotated[Liaison, Depends(liaison)]
    AdminDep = Annotated[str, Depends(admin)]

    def remote(request: Request) -> str | None:
        return request.client.host if request.client else None

    # --- public and liaison ------------------------------------------------------------------

    @app.get("/v1/health")
    def health() -> dict:
        return {"status": "ok", "server_id": service.server_id(), "protocol": PROTOCOL_VERSION}

    @app.get("/v1/me", response_model=Me, responses=_ERROR_RESPONSES)
    def me(who: LiaisonDep) -> Me:
        return Me(
            liaison_id=who.id, name=who.name, unit_id=who.unit_id, unit_name=who.unit_name,
            server_id=service.server_id(),
        )  # fmt: skip

    @app.post("/v1/sync/push", response_model=PushResponse, responses=_ERROR_RESPONSES)
    def push(body: PushRequest, who: LiaisonDep, request: Request) -> Response:

        return _json(orjson.dumps(service.push(who, body.client_id, list(body.actions), remote(request))))

    @app.get("/v1/sync/pull", response_model=PullResponse, responses=_ERROR_RESPONSES)
    def pull(
        who: LiaisonDep,
        cursor: Annotated[str | None, Query(max_length=512)] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PULL_LIMIT)] = DEFAULT_PULL_LIMIT,
        calendar_version: Annotated[int | None, Query(ge=0)] = None,
        metrics_etag: Annotated[str | None, Query(max_length=64)] = None,
    ) -> Response:
        return _json(service.pull(who, cursor or None, limit, calendar_version, metrics_etag))

    @app.get("/v1/tickets/{ticket_id}", responses=_ERROR_RESPONSES)
    def ticket(ticket_id: str, who: Annotated[Liaison | None, Depends(anyone)]) -> Response:
        body = service.ticket_json(ticket_id, who)
        if body is None:
            raise ServiceError(404, "not_found", f"no ticket {ticket_id}")
        return _json(body)

    # --- admin -------------------------------------------------------------------------------

    @app.post("/v1/admin/units", status_code=201, responses=_ERROR_RESPONSES)
    def add_unit(body: UnitIn, _who: AdminDep, request: Request) -> dict:
        return service.add_unit(body.model_dump(), remote_addr=remote(request))

    @app.get("/v1/admin/units", responses=_ERROR_RESPONSES)
    def list_units(_who: AdminDep) -> list[dict]:
        return service.list_units()

    @app.post(
        "/v1/admin/liaisons", status_code=201, response_model=LiaisonCreated, responses=_ERROR_RESPONSES
    )
    def add_liaison(body: LiaisonIn, _who: AdminDep, request: Request) -> LiaisonCreated:
        liaison_id, token = service.add_liaison(body.name, body.unit_id, body.id, remote_addr=remote(request))
        return LiaisonCreated(liaison_id=liaison_id, token=token)

    @app.get("/v1/admin/liaisons", responses=_ERROR_RESPONSES)
    def list_liaisons(_who: AdminDep, unit_id: str | None = None) -> list[dict]:
        return service.list_liaisons(unit_id)

    @app.post("/v1/admin/liaisons/{liaison_id}/revoke", responses=_ERROR_RESPONSES)
    def revoke_liaison(liaison_id: str, _who: AdminDep, request: Request) -> dict:
        """Stop the liaison's token at once: every later request with it is a 401 "token revoked"."""
        return service.revoke_liaison(liaison_id, remote_addr=remote(request))

    @app.post(
        "/v1/admin/liaisons/{liaison_id}/token", response_model=LiaisonCreated, responses=_ERROR_RESPONSES
    )
    def rotate_token(liaison_id: str, _who: AdminDep, request: Request) -> LiaisonCreated:
        """A new token for the liaison (shown once); the old one is refused from now on."""
        return LiaisonCreated(
            liaison_id=liaison_id, token=service.rotate_token(liaison_id, remote_addr=remote(request))
        )

    def _outcome(outcome) -> Response:

        body = {
            "outcome": outcome.outcome,
            "original_outcome": outcome.original_outcome,
            "reason": outcome.reason.value if outcome.reason else None,
            "message": outcome.message,
            "ticket": orjson.Fragment(outcome.ticket.model_dump_json()) if outcome.ticket else None,
        }
        return _json(orjson.dumps(body))

    AtQuery = Annotated[
        dt.datetime | None,
        Query(description="When it happened (timezone-aware), to back-fill history; default: now."),
    ]

    def _check_at(at: dt.datetime | None) -> dt.datetime | None:
        if at is not None and at.tzinfo is None:
            raise ServiceError(
                422, "invalid_request", "`at` needs a timezone, e.g. 2025-03-01T09:00:00+08:00"
            )
        return at

    @app.post("/v1/admin/tickets", responses=_ERROR_RESPONSES)
    def register(body: Register, _who: AdminDep, request: Request, at: AtQuery = None) -> Response:
        return _outcome(service.admin_action(body, at=_check_at(at), remote_addr=remote(request)))

    @app.post("/v1/admin/tickets/{ticket_id}/actions", responses=_ERROR_RESPONSES)
    def central_action(
        ticket_id: str,
        body: Annotated[CentralActionT, Body()],
        _who: AdminDep,
        request: Request,
        at: AtQuery = None,
    ) -> Response:
        if body.ticket_id != ticket_id:
            raise ServiceError(422, "invalid_request", f"the body's ticket_id is not {ticket_id}")
        return _outcome(service.admin_action(body, at=_check_at(at), remote_addr=remote(request)))

    @app.get("/v1/admin/tickets", responses=_ERROR_RESPONSES)
    def list_tickets(
        _who: AdminDep,
        unit_id: str | None = None,
        status: str | None = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PULL_LIMIT)] = 100,
        after: str | None = None,
    ) -> Response:
        return _json(service.list_tickets(unit_id, status, limit, after))

    @app.put("/v1/admin/calendar/{year}", responses=_ERROR_RESPONSES)
    def put_calendar(year: int, body: HolidayTable, _who: AdminDep, request: Request) -> dict:
        if body.year != year:
            raise ServiceError(422, "invalid_request", f"the table is for {body.year}, not {year}")
        return {"calendar_version": service.put_calendar(body, remote(request))}

    @app.get("/v1/admin/calendar", responses=_ERROR_RESPONSES)
    def get_calendar(_who: AdminDep) -> dict:
        version, tables = service.calendar()
        return {"calendar_version": version, "tables": [t.model_dump(mode="json") for t in tables]}

    @app.get("/v1/admin/metrics", response_model=list[UnitMetrics], responses=_ERROR_RESPONSES)
    def get_metrics(
        _who: AdminDep,
        month: Annotated[
            str, Query(pattern=r"^(19|2\d)\d\d-(0[1-9]|1[0-2])$", description="YYYY-MM, 1900-2999")
        ],
        unit_id: str | None = None,
    ) -> list[UnitMetrics]:
        return service.metrics(month, unit_id)

    @app.get("/v1/admin/audit", responses=_ERROR_RESPONSES)
    def get_audit(
        _who: AdminDep, limit: Annotated[int, Query(ge=1, le=10_000)] = 100, target: str | None = None
    ) -> list[dict]:
        return service.audit_rows(limit, target)

    @app.post("/v1/admin/prune", responses=_ERROR_RESPONSES)
    def prune(body: PruneIn, _who: AdminDep, request: Request) -> dict:
        return service.prune(dt.timedelta(days=body.older_than_days), remote(request))

    @app.post("/v1/admin/seed", responses=_ERROR_RESPONSES)
    def seed(body: SeedIn, _who: AdminDep) -> dict:
        from central.seed import seed_service

        return seed_service(service, body.tickets, seed=body.seed, county=body.county, township=body.township)

    return app
