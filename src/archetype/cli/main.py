"""The ``archetype`` command line.

One module per command group registers its commands on the root app.  Every way a
command can end goes through :class:`ArchetypeGroup`, once for every command, as one plain
line on stderr:

* a user mistake (:class:`~archetype.errors.UserError`, a bad option value, a permission
  denied on an output location): ``error: ...``, exit code 2, nothing written;
* SIGTERM / SIGINT: ``error: interrupted by SIGTERM ...``, exit ``128 + signal``
  (143 / 130), after cleanup ran (temp dirs removed, workers stopped, records ``failed``);
* a runtime failure or a bug: ``error: <Type>: <message>``, exit 1 (``-v`` adds the
  traceback).
"""

from __future__ import annotations

import errno
import importlib
import logging
import os
import sys
import traceback
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

try:  # typer >= 0.2x vendors click as typer._click
    from typer._click import exceptions as _cx
except ImportError:  # pragma: no cover - older typer on plain click
    from click import exceptions as _cx

from archetype.cli._common import err_console, print_error, setup_logging, signals_raise
from archetype.errors import UserError, interruption

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
_USER_OS_ERRORS = (errno.EACCES, errno.EPERM, errno.EROFS)
_SPACE_ERRORS = (errno.ENOSPC, errno.EDQUOT)


def _os_message(e: OSError) -> str:
    where = e.filename if e.filename is not None else ""
    text = e.strerror or str(e)
    return f"{where}: {text}" if where else text


class ArchetypeGroup(TyperGroup):
    """Root group: one error path for every command (see the module docstring)."""

    def invoke(self, ctx: Any) -> Any:
        verbose = bool(ctx.params.get("verbose"))
        try:
            with signals_raise():
                return super().invoke(ctx)
        except (typer.Exit, typer.Abort, _cx.ClickException):
            raise
        except UserError as e:
            print_error(str(e))
            raise typer.Exit(code=2) from None
        except BaseException as e:
            stop = interruption(e)
            if stop is not None:
                print_error(
                    f"{stop}; stopped cleanly (temp files removed, a started run's "
                    "record says failed)"
                )
                raise typer.Exit(code=stop.exit_code) from None
            if not isinstance(e, Exception):
                raise
            if verbose:
                err_console.print(traceback.format_exc(), markup=False, highlight=False)
            if isinstance(e, MemoryError):
                print_error("out of memory; use a smaller --chunk-size or fewer rows")
                raise typer.Exit(code=1) from None
            if isinstance(e, OSError) and e.errno in _USER_OS_ERRORS:
                print_error(
                    f"{_os_message(e)} (choose a location you can write, or fix "
                    "the permissions); nothing written"
                )
                raise typer.Exit(code=2) from None
            if isinstance(e, OSError) and e.errno in _SPACE_ERRORS:
                print_error(
                    f"{_os_message(e)}: free some space and run again; outputs are whole or absent"
                )
                raise typer.Exit(code=1) from None
            hint = "" if verbose else " (run with -v for the traceback)"
            print_error(f"{type(e).__name__}: {e}{hint}")
            raise typer.Exit(code=1) from None

    def main(
        self,
        args: Any = None,
        prog_name: Any = None,
        complete_var: Any = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """Click's own errors (bad option value, missing option) as one line, exit 2."""
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except _cx.NoArgsIsHelpError as e:  # bare `archetype` / `archetype models`: help, 2
            given = list(sys.argv[1:] if args is None else args)
            super().main(
                [*given, "--help"], prog_name, complete_var, standalone_mode=False, **extra
            )
            rv = e.exit_code
        except _cx.ClickException as e:
            print_error(e.format_message().replace(": Value error, ", ": "))
            rv = e.exit_code
        except typer.Abort:
            print_error("aborted")
            rv = 1
        code = rv if isinstance(rv, int) else 0
        if standalone_mode:
            sys.exit(code)
        return code


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


def _show_version(value: bool) -> None:
    if value:
        from archetype import __version__

        typer.echo(f"archetype {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Log what each step does (to stderr).")
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_show_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    setup_logging(verbose)


def _register_all() -> None:
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"archetype.cli.{name}")
        module.register(app)


_register_all()


def main() -> None:  # console-script entry point
    """Run the CLI with the output umask (owner-only files unless ``ARCHETYPE_UMASK``)."""
    from archetype._atomic import output_umask

    try:
        os.umask(output_umask())
    except UserError as e:
        print_error(str(e))
        sys.exit(2)
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
