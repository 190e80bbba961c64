"""The ``archetype`` command line.

One module per command group registers its commands on the root app.  User mistakes
(:class:`~archetype.errors.UserError`) become one line on stderr and exit code 2, caught
once here for every command.  Bugs propagate (traceback, exit code 1).
"""

from __future__ import annotations

import importlib
import logging
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from archetype.cli._common import err_console, setup_logging
from archetype.errors import UserError

log = logging.getLogger(__name__)

# Command-group modules under archetype.cli; each defines ``register(app)``.
COMMAND_MODULES = (
    "synth",
    "features",
    "cluster",
    "segments",
    "pipeline",
    "bench",
    "demo",
    "serve",
    "experiments",
)


class ArchetypeGroup(TyperGroup):
    """Root group: turns user errors into one stderr line and exit code 2."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except UserError as e:
            msg = str(e).replace("\n", " ")
            err_console.print(f"[bold red]error:[/] {msg}", highlight=False, soft_wrap=True)
            raise typer.Exit(code=2) from None
        except MemoryError:
            err_console.print(
                "[bold red]error:[/] out of memory; use a smaller --chunk-size or fewer rows",
                highlight=False,
            )
            raise typer.Exit(code=1) from None


app = typer.Typer(
    name="archetype",
    cls=ArchetypeGroup,
    help=(
        "Behavioral customer segmentation at scale: event logs in, behavioral embeddings, "
        "mini-batch k-means on CPU or GPU, stable segment ids, reports.\n\n"
        "Start with `archetype demo` to run the whole job on synthetic data."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


@app.callback()
def _root(
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Log what each step does (to stderr).")
    ] = False,
) -> None:
    setup_logging(verbose)


def _register_all() -> None:
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"archetype.cli.{name}")
        module.register(app)


_register_all()


def main() -> None:  # console-script entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
