"""``POST /v1/query``: run a pipe query for the caller's project (sk_, or aat_ with the
``query`` scope). Answers JSON, CSV or ``llm`` Markdown, each naming the lake version read."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from api.deps import CatalogDep, ManagementPrincipal, SettingsDep, require_feature
from api.schemas import error_responses
from growthos_pipeline.query import format as formats
from growthos_pipeline.query.errors import QueryError
from growthos_pipeline.query.run import run_for


class QueryRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    q: str = Field(
        min_length=1,
        max_length=10_000,
        description='The pipe query, e.g. event_type = "page_view" | last 7d | count by _browser',
    )
    format: Literal["json", "llm", "csv"] = "json"
    limit: int = Field(default=100, ge=1, le=10_000)
    offset: int = Field(default=0, ge=0, le=100_000_000)
    as_of: int | None = Field(default=None, ge=0, description="Re-run as of this lake version")
    engine: Literal["polars", "duckdb"] = "polars"
    project_id: str | None = Field(
        default=None, max_length=40, description="Only for org admin keys: the project to query"
    )


class QueryAnswer(BaseModel):
    columns: list[str]
    rows: list[dict[str, object]]
    row_count: int
    has_more: bool
    next_offset: int | None
    lake_version: int | None = Field(
        description="The Delta table version read; pass it as as_of to reproduce this answer"
    )
    engine: str
    elapsed_ms: float
    range: dict[str, str]


router = APIRouter(
    tags=["query"], responses=error_responses(400, 401, 403, 404, 422, 429, 503, 504)
)


@router.post(
    "/query",
    name="run_query",
    dependencies=[require_feature("query")],
    response_model=QueryAnswer,
    responses={200: {"content": {"text/csv": {}, "text/markdown": {}}}},
)
async def run_query(
    principal: ManagementPrincipal,
    body: QueryRequest,
    catalog: CatalogDep,
    settings: SettingsDep,
) -> Response:
    """Run a query. Errors in query text answer 400 with the position (as a text block with a
    caret in the llm format)."""
    try:
        result = await run_in_threadpool(
            run_for,
            catalog,
            settings,
            principal,
            body.q,
            project_id=body.project_id,
            engine=body.engine,
            as_of=body.as_of,
            limit=body.limit,
            offset=body.offset,
        )
    except QueryError as err:
        if body.format != "llm":
            raise
        return Response(err.render(), status_code=400, media_type=formats.MEDIA_TYPES["llm"])
    headers = {
        "X-Lake-Version": str(result.lake_version if result.lake_version is not None else "")
    }
    if body.format == "llm":
        text = formats.markdown(
            result.frame,
            lake_version=result.lake_version,
            has_more=result.has_more,
            offset=body.offset,
        )
        return Response(text, media_type=formats.MEDIA_TYPES["llm"], headers=headers)
    if body.format == "csv":
        return Response(
            formats.csv_text(result.frame), media_type=formats.MEDIA_TYPES["csv"], headers=headers
        )
    answer = {
        "columns": result.columns,
        "rows": formats.records(result.frame),
        "row_count": result.frame.height,
        "has_more": result.has_more,
        "next_offset": body.offset + result.frame.height if result.has_more else None,
        "lake_version": result.lake_version,
        "engine": result.engine,
        "elapsed_ms": round(result.elapsed_ms, 2),
        "range": {"from": result.compiled.start.isoformat(), "to": result.compiled.end.isoformat()},
    }
    return Response(formats.json_bytes(answer), media_type="application/json", headers=headers)
