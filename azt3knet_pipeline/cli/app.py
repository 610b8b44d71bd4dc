"""`python -m azt3knet_pipeline.cli.app` and `from azt3knet_pipeline.cli.app import app, main`: the CLI under
its earlier module name (scripts, infra/ entry points and tests run it so); the app lives in cli/main.py."""

from azt3knet_pipeline.cli.main import app, main

__all__ = ["app", "main"]

if __name__ == "__main__":
    main()
