"""The signals dashboard: FastAPI serving server-rendered HTML (Jinja2), no JavaScript.

Why FastAPI and plain HTML rather than Streamlit: every page is one GET that returns complete
HTML, so a real browser test reads exactly what a person sees, bad input maps to plain HTTP
status codes, and binding, the token and the cross-site checks are a few lines of middleware
around a server we control (Streamlit re-runs a script over a websocket and owns its server).

Data: ONLY the published read copy (``crypto_assets.storage.open_published``), one connection
per request, closed at its end, so each request sees the newest publication and a pipeline run
never waits for the dashboard or the other way round. Verdicts go to the dashboard's own SQLite
file (``dashboard.verdicts``). Run activity and failed checks come from the Dagster instance,
read-only (``dashboard.instance``).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import duckdb
import pandas as pd
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from crypto_assets import storage
from crypto_assets.dashboard import data, health, plots, security
from crypto_assets.dashboard.verdicts import (
    MAX_NOTE_CHARS,
    PREDICTION_KEY,
    VerdictError,
    VerdictStore,
    make_verdict,
)
from crypto_assets.horizons import HORIZON_NAMES
from crypto_assets.settings import Settings
from crypto_assets.storage.publish import MANIFEST_SCHEMA

HERE = Path(__file__).parent
PART = r"[A-Z0-9][A-Z0-9._-]{0,19}"
COIN_PATH = re.compile(rf"^/coin/{PART}/{PART}$")
FEEDBACK_FIELDS = {"csrf_token", *PREDICTION_KEY, "verdict", "note", "author", "back"}


class HTTPProblem(Exception):
    """A request the dashboard refuses, with its status code and a one-line reason."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


class Catalog:
    """What the definitions say (built once, lazily: it imports the whole pipeline): the
    stored assets in dependency order and every asset check."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._assets: list[str] | None = None
        self._checks: list[Any] | None = None

    def load(self) -> tuple[list[str], list[Any]]:
        if self._assets is None:
            from crypto_assets.definitions import build_definitions
            from crypto_assets.defs.live import LIVE_ASSETS
            from crypto_assets.status import stored_assets

            live = self._settings.profile == "live"  # a demo never streams live candles
            self._assets = [
                a for a in stored_assets(self._settings) if live or a not in LIVE_ASSETS
            ]
            defs = build_definitions(self._settings.model_copy(update={"source": "live"}))
            self._checks = sorted(defs.resolve_asset_graph().asset_check_keys, key=str)
        return self._assets, self._checks or []


def create_app(settings: Settings) -> FastAPI:
    """The dashboard for one profile's published results (``settings`` as data)."""
    token = settings.dashboard_token.get_secret_value() if settings.dashboard_token else None
    security.check_bind(settings.dashboard_host, token)
    app = FastAPI(title="crypto_assets dashboard", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = settings
    app.state.verdicts = VerdictStore(settings.resolved_feedback_path)
    app.state.catalog = Catalog(settings)
    app.state.instance = None
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.filters["pct"] = _pct
    templates.env.filters["prob"] = _prob
    templates.env.filters["usd"] = _usd
    templates.env.filters["when"] = _when
    templates.env.filters["present"] = _present
    app.state.templates = templates
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    _install_guards(app, token)
    _install_routes(app)
    return app


def _install_guards(app: FastAPI, token: str | None) -> None:
    @app.middleware("http")
    async def guard(request: Request, call_next: Callable[[Request], Awaitable[Response]]):
        try:
            if len(request.url.query) > security.MAX_QUERY_CHARS:
                raise HTTPProblem(414, f"query string longer than {security.MAX_QUERY_CHARS}")
            if token and not security.token_ok(request.headers.get("authorization"), token):
                return Response(
                    "a token is required (the one set in CRYPTO_ASSETS_DASHBOARD_TOKEN)\n",
                    status_code=401,
                    headers={
                        "WWW-Authenticate": 'Basic realm="crypto_assets dashboard"',
                        **security.SECURITY_HEADERS,
                    },
                )
            response = await call_next(request)
        except HTTPProblem as problem:
            response = _error_page(request, problem.status, problem.reason)
        for name, value in security.SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    @app.exception_handler(HTTPProblem)
    async def problem(request: Request, exc: HTTPProblem) -> Response:
        return _error_page(request, exc.status, exc.reason)

    @app.exception_handler(404)
    async def not_found(request: Request, exc: Exception) -> Response:
        return _error_page(request, 404, "no such page")

    @app.exception_handler(405)
    async def not_allowed(request: Request, exc: Exception) -> Response:
        return _error_page(request, 405, "method not allowed")


def _error_page(request: Request, status: int, reason: str) -> Response:
    templates: Jinja2Templates = request.app.state.templates
    return templates.TemplateResponse(
        request, "error.html", {"status": status, "reason": reason, **_base(request)}, status
    )


def _only(request: Request, allowed: set[str]) -> dict[str, str]:
    """The query parameters, refusing unknown and repeated ones (400)."""
    params = parse_qs(request.url.query, keep_blank_values=True, max_num_fields=20)
    unknown = sorted(set(params) - allowed)
    if unknown:
        shown = ", ".join(repr(u[:40]) for u in unknown[:3])
        raise HTTPProblem(400, f"unknown query parameter(s) {shown}")
    repeated = sorted(k for k, v in params.items() if len(v) > 1)
    if repeated:
        raise HTTPProblem(400, f"query parameter {repeated[0]!r} given more than once")
    return {k: v[0] for k, v in params.items()}


def _int(value: str | None, name: str, low: int, high: int, default: int) -> int:
    if value is None:
        return default
    if not re.fullmatch(r"\d{1,4}", value) or not low <= int(value) <= high:
        raise HTTPProblem(400, f"{name} must be a whole number from {low} to {high}")
    return int(value)


def _published(request: Request) -> duckdb.DuckDBPyConnection | None:
    try:
        return storage.open_published(request.app.state.settings)
    except storage.NothingPublished:
        return None


def _base(request: Request) -> dict[str, Any]:
    settings: Settings = request.app.state.settings
    return {
        "profile": settings.profile,
        "threshold": settings.confidence_threshold,
        "csrf": request.cookies.get(security.CSRF_COOKIE) or "",
    }


def _page(request: Request, template: str, context: dict[str, Any]) -> Response:
    base = _base(request)
    fresh_cookie = not base["csrf"]
    if fresh_cookie:
        base["csrf"] = security.new_csrf_token()
    templates: Jinja2Templates = request.app.state.templates
    response = templates.TemplateResponse(request, template, {**base, **context})
    if fresh_cookie:
        response.set_cookie(
            security.CSRF_COOKIE, base["csrf"], httponly=True, samesite="strict", path="/"
        )
    return response


def _nothing_published(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    hint = "`make demo`" if settings.profile == "demo" else "`make run` (or `make demo`)"
    return _page(
        request,
        "empty.html",
        {
            "message": f"nothing published for the {settings.profile} profile yet: results "
            f"appear when a pipeline run finishes ({hint})",
            "publication": None,
        },
    )


def _install_routes(app: FastAPI) -> None:
    @app.get("/", response_class=HTMLResponse)
    def signals_page(request: Request) -> Response:
        near = _int(_only(request, {"near"}).get("near"), "near", 0, 50, 5)
        conn = _published(request)
        if conn is None:
            return _nothing_published(request)
        settings: Settings = request.app.state.settings
        with conn:
            view = data.signals(conn, settings.confidence_threshold, near)
            publication = _publication(conn)
        verdicts = _verdicts_by_prediction(request.app.state.verdicts.read())
        return _page(
            request,
            "signals.html",
            {"view": view, "publication": publication, "verdicts": verdicts},
        )

    @app.get("/coin/{base}/{quote}", response_class=HTMLResponse)
    def coin_page(request: Request, base: str, quote: str) -> Response:
        _only(request, set())
        if not COIN_PATH.match(request.url.path):
            raise HTTPProblem(400, "a coin is named like /coin/BTC/USD (upper case)")
        symbol = f"{base}/{quote}"
        conn = _published(request)
        if conn is None:
            return _nothing_published(request)
        with conn:
            if symbol not in data.known_symbols(conn):
                raise HTTPProblem(404, f"no coin {symbol} in the published results")
            detail = data.coin_detail(conn, symbol)
            publication = _publication(conn)
        verdicts = _verdicts_by_prediction(request.app.state.verdicts.for_symbol(symbol))
        charts = {
            "price": plots.price_chart(symbol, detail["prices"], detail["calls"]),
            "depth": plots.depth_chart(symbol, data.depth_curve(detail["books"])),
        }
        return _page(
            request,
            "coin.html",
            {
                "symbol": symbol,
                "detail": detail,
                "charts": charts,
                "verdicts": verdicts,
                "publication": publication,
                "horizons": HORIZON_NAMES,
            },
        )

    @app.get("/status", response_class=HTMLResponse)
    def status_page(request: Request) -> Response:
        _only(request, set())
        return _page(request, "status.html", _status_context(request))

    @app.post("/feedback")
    async def feedback(request: Request) -> Response:
        return await _feedback(request)

    @app.get("/healthz")
    def healthz(request: Request) -> Response:
        _only(request, set())
        settings: Settings = request.app.state.settings
        try:
            info = storage.publication_info(settings)
        except storage.NothingPublished:
            return JSONResponse({"published": False})
        return JSONResponse(
            {"published": True, "published_at": str(info.published_at), "run_id": info.run_id}
        )


def _publication(conn: duckdb.DuckDBPyConnection) -> dict[str, Any] | None:
    try:
        published_at, run_id = conn.execute(
            f"select published_at, run_id from {MANIFEST_SCHEMA}.manifest"
        ).fetchone()
    except duckdb.Error:
        return None
    return {"published_at": pd.Timestamp(published_at).tz_convert("UTC"), "run_id": run_id}


def _verdicts_by_prediction(frame: pd.DataFrame) -> dict[tuple, list[dict]]:
    """(day 'YYYY-MM-DD', symbol, horizon, model_version) -> verdicts, newest first."""
    out: dict[tuple, list[dict]] = {}
    for row in frame.iloc[::-1].to_dict("records"):
        key = (f"{row['day']:%Y-%m-%d}", row["symbol"], row["horizon"], row["model_version"])
        out.setdefault(key, []).append(row)
    return out


def _status_context(request: Request) -> dict[str, Any]:
    settings: Settings = request.app.state.settings
    assets, check_keys = request.app.state.catalog.load()
    conn = _published(request)
    context: dict[str, Any] = {"publication": None, "stale_hours": settings.dashboard_stale_hours}
    if conn is not None:
        with conn:
            reference = health.reference_time(conn, settings.profile)
            model_health = health.model_health(conn)
            calibration = health.calibration(conn, model_health)
            context |= {
                "publication": _publication(conn),
                "reference": reference,
                "assets": health.freshness(conn, assets, reference, settings.dashboard_stale_hours),
                "sources": health.source_rows(conn),
                "model_health": model_health,
                "charts": {
                    "calibration": plots.calibration_chart(calibration["curves"]),
                    "calibration_source": calibration["source"],
                    "ic": plots.time_chart(
                        "Rank IC of each day's predictions (7-day rolling mean)",
                        health.rolling_ic(conn),
                    ),
                    "coverage": plots.time_chart("Coverage: coins per day", health.coverage(conn)),
                },
            }
    context |= _instance_context(request, check_keys)
    context["models"] = _models(settings)
    context["verdict_count"] = request.app.state.verdicts.count()
    return context


def _instance_context(request: Request, check_keys: list[Any]) -> dict[str, Any]:
    from crypto_assets.dashboard import instance

    settings: Settings = request.app.state.settings
    if request.app.state.instance is None:
        request.app.state.instance = instance.open_instance(settings.dagster_home)
    dagster = request.app.state.instance
    if dagster is None:
        return {"runs": [], "failed_checks": [], "instance_note": "no Dagster runs yet"}
    return {
        "runs": instance.runs(dagster),
        "failed_checks": instance.failed_checks(dagster, check_keys),
        "instance_note": "",
    }


def _models(settings: Settings) -> list[dict[str, Any]]:
    """The signal models in use per horizon (MLflow registry; ``crypto-assets status``)."""
    from crypto_assets.status import model_status

    try:
        return model_status(settings)
    except Exception as error:  # an unreachable tracking server must not take the page down
        return [{"horizon": "-", "note": f"MLflow registry not readable: {error}"[:200]}]


async def _read_form(request: Request) -> dict[str, str]:
    if request.headers.get("content-type", "").split(";")[0].strip() != (
        "application/x-www-form-urlencoded"
    ):
        raise HTTPProblem(415, "feedback is a form post (application/x-www-form-urlencoded)")
    declared = request.headers.get("content-length")
    if declared and (not declared.isdigit() or int(declared) > security.MAX_BODY_BYTES):
        raise HTTPProblem(413, f"feedback larger than {security.MAX_BODY_BYTES} bytes")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > security.MAX_BODY_BYTES:
            raise HTTPProblem(413, f"feedback larger than {security.MAX_BODY_BYTES} bytes")
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=20)
    except (UnicodeDecodeError, ValueError) as exc:
        raise HTTPProblem(400, "feedback form could not be read") from exc
    unknown = sorted(set(fields) - FEEDBACK_FIELDS)
    if unknown or any(len(v) > 1 for v in fields.values()):
        raise HTTPProblem(400, "feedback form has unknown or repeated fields")
    return {k: v[0] for k, v in fields.items()}


def _back(target: str | None) -> str:
    """Where to return after a post: the signals page or a coin page, nothing else."""
    if target and (target == "/" or COIN_PATH.match(target)):
        return target
    return "/"


async def _feedback(request: Request) -> Response:
    _only(request, set())
    if not security.same_origin(
        request.headers.get("origin"), request.headers.get("referer"), request.headers.get("host")
    ):
        raise HTTPProblem(403, "cross-site post refused: feedback is accepted from this site only")
    form = await _read_form(request)
    if not security.csrf_ok(request.cookies.get(security.CSRF_COOKIE), form.get("csrf_token")):
        raise HTTPProblem(403, "the form token is missing or stale: reload the page and retry")
    if len(form.get("note", "")) > MAX_NOTE_CHARS:
        raise HTTPProblem(413, f"the note is longer than {MAX_NOTE_CHARS} characters")
    try:
        verdict = make_verdict(
            form.get("day", ""),
            form.get("symbol", ""),
            form.get("horizon", ""),
            form.get("model_version", ""),
            form.get("verdict", ""),
            form.get("note", ""),
            form.get("author", ""),
        )
    except VerdictError as exc:
        raise HTTPProblem(422, str(exc)) from exc
    conn = _published(request)
    if conn is None:
        raise HTTPProblem(404, "no published predictions to judge yet")
    with conn:
        found = storage.read_table(
            conn,
            "predictions",
            "day = ? and symbol = ? and horizon = ? and model_version = ?",
            [
                pd.Timestamp(verdict.day, tz="UTC").to_pydatetime(),
                verdict.symbol,
                verdict.horizon,
                verdict.model_version,
            ],
        )
    if found.empty:
        raise HTTPProblem(404, "no such prediction in the published results")
    request.app.state.verdicts.add(verdict)
    return RedirectResponse(_back(form.get("back")) + "#feedback-saved", status_code=303)


def _pct(value: Any, digits: int = 1) -> str:
    return f"{float(value):+.{digits}%}" if health.finite(value) else "-"


def _prob(value: Any, digits: int = 1) -> str:
    return f"{float(value):.{digits}%}" if health.finite(value) else "-"


def _usd(value: Any) -> str:
    return f"${float(value):,.0f}" if health.finite(value) else "-"


def _present(value: Any) -> bool:
    """Whether a cell holds a value (not None, NaN, NaT or pd.NA, not an empty text)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return False
    try:
        return not bool(pd.isna(value))
    except (TypeError, ValueError):
        return True


def _when(value: Any) -> str:
    if not _present(value):
        return "-"
    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return f"{stamp:%Y-%m-%d %H:%M} UTC"
