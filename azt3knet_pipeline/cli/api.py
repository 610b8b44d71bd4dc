"""`azt3knet api serve`: the REST API under uvicorn. Imports inside functions: see cli/common.py."""

from __future__ import annotations

import typer

from azt3knet_pipeline.cli.common import err, fail, handle_errors

api_app = typer.Typer(help="The REST API (see docs/api.md).", no_args_is_help=True)


@api_app.command("serve")
@handle_errors
def api_serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind."),
    port: int = typer.Option(8000, "--port", help="Port to bind."),
    executor: str = typer.Option(
        None, "--executor", help="auto|daemon|embedded: who executes runs (default: AZT3KNET_API_RUN_EXECUTOR, auto)."
    ),
    log_level: str = typer.Option("info", "--log-level", help="uvicorn log level."),
) -> None:
    """Serve the REST API with uvicorn. Refuses to start without AZT3KNET_ADMIN_TOKEN."""
    import uvicorn

    from azt3knet_pipeline.api.app import create_app
    from azt3knet_pipeline.api.auth import admin_token
    from azt3knet_pipeline.errors import AdminTokenError
    from azt3knet_pipeline.orchestration.launch import executor_mode
    from azt3knet_pipeline.settings import get_settings

    settings = get_settings()
    try:
        admin_token(settings)
        mode = executor_mode(executor or settings.api_run_executor)
    except AdminTokenError as exc:
        raise fail(str(exc), exc.exit_code) from None
    err.print(
        f"azt3knet API on http://{host}:{port} (runs: {mode}; OpenAPI at /openapi.json)", markup=False, highlight=False
    )
    uvicorn.run(create_app(executor=mode), host=host, port=port, log_level=log_level, workers=1)
