"""The pipe query language: text -> DSL AST -> sqlglot tree -> guarded tree -> engine -> result.

=================  ==========================================  ================================
stage              module                                      output
=================  ==========================================  ================================
tokens             :mod:`~growthos_pipeline.query.lexer`       tokens with spans
parse              :mod:`~growthos_pipeline.query.parser`      :class:`~.ast.Query` (spans kept)
compile            :mod:`~growthos_pipeline.query.compile`     one sqlglot tree of CTEs, the
                                                               project filter injected, time
                                                               resolved to UTC literals
guard              :mod:`~growthos_pipeline.query.guard`       the same tree, allow-listed
translate / run    :mod:`~growthos_pipeline.query.to_polars`,  a Polars LazyFrame over the
                   :mod:`~growthos_pipeline.query.engines`     Delta snapshot (or SQL for
                                                               DuckDB / Spark)
format             :mod:`~growthos_pipeline.query.format`      llm Markdown, JSON, CSV
=================  ==========================================  ================================

Generated SQL text is never run by Polars: the tree is translated node by node.
"""

from __future__ import annotations

from growthos_pipeline.query.run import QueryResult, run

__all__ = ["QueryResult", "run"]
