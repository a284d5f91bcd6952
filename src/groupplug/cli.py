"""``groupplug``: validate, show and run grouped workflows.

Exit status: 0 valid / succeeded, 1 the workflow failed, 2 a bad spec, bad usage or a missing
engine (the message says what to install), 3 the engine or its services failed (a server that
died or never answered), 130 interrupted (Ctrl-C or SIGTERM: the run was stopped).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from typing import Any

from .exceptions import EngineFailed, EngineNotAvailable, GroupplugError, GroupplugValueError
from .report import RunReport
from .spec import Workflow

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_ENGINE, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


def _version() -> str:
    """The installed distribution's version (what pip installed), else the source tree's."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("groupplug")
    except PackageNotFoundError:  # imported from a checkout that was never installed
        from . import __version__

        return __version__


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="groupplug", description="Group semantics (leads, barriers, directives) for workflows"
    )
    # -v goes before or after the subcommand: each subparser takes it too; SUPPRESS keeps a
    # subparser from resetting a count given before it.
    verbose = argparse.ArgumentParser(add_help=False)
    verbose.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS,
                         help="-v: the run's story (barriers, stops, groups ending); -vv: the "
                         "engines' own logs on the terminal too")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="-v: the run's story; -vv: the engines' logs too")
    parser.add_argument("--version", action="version", version=f"groupplug {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    validate = sub.add_parser("validate", parents=[verbose],
                              help="check a workflow file; exit 2 on problems")
    validate.add_argument("file")
    validate.add_argument("--engine", help="also run this engine's own checks")
    show = sub.add_parser("show", parents=[verbose],
                          help="the group tree with leads, barriers and directives")
    show.add_argument("file")
    show.add_argument("--json", action="store_true", help="print the spec as JSON")
    sub.add_parser("schema", help="print the JSON Schema of workflow files (for editors)")
    run = sub.add_parser("run", parents=[verbose],
                         help="run a workflow (or selected groups) on an engine")
    run.add_argument("file")
    run.add_argument("--engine", default="local", help="local (default), airflow or prefect")
    run.add_argument("-g", "--group", action="append", default=[], dest="groups",
                     help="run only this group (and its children); repeatable")
    run.add_argument("--json", action="store_true", help="print exactly one JSON report")
    run.add_argument("--log-dir", help="local engine: where member logs go (kept)")
    run.add_argument("--keep", action="store_true", help="local engine: keep the run's "
                     "directory of member logs (removed at the end unless a member failed)")
    run.add_argument("--dag-id", help="Airflow DAG file: the DAG to run (default: its only DAG)")
    run.add_argument("--port", type=int, help="Prefect: the embedded server's port (default: a "
                     "free one)")
    run.add_argument("--stack", action="store_true", help="Airflow or Prefect: run on the stack "
                     "of 'scripts/stack up' (PostgreSQL, Celery or Dask workers) instead of an "
                     "embedded engine; also GROUPPLUG_STACK=1")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from . import runlog

    args = _parser().parse_args(argv)
    args.engine_log = runlog.engine_log_path(args.engine) if args.command == "run" else None
    runlog.configure(args.verbose, args.engine_log)
    try:
        return _answer(args)
    finally:
        sys.stdout.flush()  # the report or the error first, then where the logs are
        _name_engine_log(args)


def _answer(args: argparse.Namespace) -> int:
    """The command's exit status; groupplug's errors as messages, never tracebacks."""
    try:
        return _command(args)
    except GroupplugValueError as exc:
        for problem in exc.problems:
            text = str(problem)  # a load error's path is the file already: name it once
            where = "" if text.startswith(f"{args.file}:") else f"{args.file}: "
            print(f"{where}{text}", file=sys.stderr)
        return EXIT_USAGE
    except EngineFailed as exc:
        print(f"groupplug: {exc}", file=sys.stderr)
        if getattr(args, "json", False) and isinstance(exc.report, RunReport):
            print(json.dumps({**exc.report.to_json(), "error": str(exc)}))
        return EXIT_ENGINE
    except GroupplugError as exc:
        print(f"groupplug: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        from .interrupts import requested

        reason = requested() or "interrupted (KeyboardInterrupt)"
        print(f"groupplug: {reason}; the run's report was lost", file=sys.stderr)
        if args.command == "run" and args.json:  # still the one object --json promises
            print(json.dumps({"workflow": None, "run_id": None, "engine": args.engine,
                              "state": "interrupted", "reason": reason, "groups": {}}))
        return EXIT_INTERRUPTED


def _command(args: argparse.Namespace) -> int:
    return {"validate": _validate, "show": _show, "run": _run,
            "schema": _schema}[args.command](args)


def _load(args: argparse.Namespace, engine: str | None) -> Workflow:
    from .loader import load_workflow
    from .validation import check

    workflow = load_workflow(args.file)
    if engine is not None:
        check(workflow, engine=engine)
    return workflow


def _validate(args: argparse.Namespace) -> int:
    workflow = _load(args, args.engine)
    groups = sum(1 for _, g in workflow.walk() if not g.implicit)
    tasks = len({t.name for _, g in workflow.walk() for t in g.tasks})
    print(f"{args.file}: valid ({groups} groups, {tasks} tasks)")
    return EXIT_OK


def _schema(args: argparse.Namespace) -> int:
    from importlib import resources

    # The packaged file (a test keeps it equal to a fresh generation from schema_model).
    print(resources.files("groupplug").joinpath("workflow.schema.json").read_text(), end="")
    return EXIT_OK


def _show(args: argparse.Namespace) -> int:
    import yaml

    from .directives import aggregate, format_directive
    from .loader import dump_workflow
    from .tree import spec_tree

    workflow = _load(args, None)
    if args.json:
        data = yaml.safe_load(dump_workflow(workflow))
        data["aggregated_directives"] = {p: aggregate(g) for p, g in workflow.walk() if g.tasks}
        print(json.dumps(data, indent=2, sort_keys=False))
        return EXIT_OK

    def describe(group: Any) -> str:
        totals = aggregate(group) if group.tasks else {}
        return " ".join(f"{k}={format_directive(k, v)}" for k, v in totals.items())

    print("\n".join(spec_tree(workflow, describe)))
    return EXIT_OK


def python_target(file: str) -> tuple[str, str | None] | None:
    """``("dags/x.py", "name")`` for ``dags/x.py:name``, ``(file, None)`` for a ``.py`` file,
    None for anything else (a YAML workflow)."""
    path, sep, target = file.rpartition(":")
    if sep and path.endswith(".py") and target.isidentifier():
        return path, target
    return (file, None) if file.endswith(".py") else None


def _run(args: argparse.Namespace) -> int:
    from .plugins import get_plugin_manager

    pm = get_plugin_manager()
    engines = sorted({n for names in pm.hook.groupplug_engine_names() for n in names})
    if args.engine not in engines:
        raise EngineNotAvailable(
            f"no installed plugin provides engine {args.engine!r}; available: "
            f"{', '.join(engines)} (from a clone of groupplug: pip install '.[airflow]' or "
            "'.[prefect]')"
        )
    python = python_target(args.file)
    if python is not None:
        return _run_python(args, pm, *python)
    if args.dag_id:
        raise GroupplugError("--dag-id picks a DAG of an Airflow DAG file (.py); "
                             f"{args.file} is a workflow file")
    from .tree import run_tree

    workflow = _load(args, args.engine)
    for name in args.groups:
        try:
            workflow.find_group(name)
        except KeyError:
            names = ", ".join(p for p, _ in workflow.walk())
            raise GroupplugError(f"-g {name}: no such group; groups: {names}") from None
    from .live import LiveTree
    from .story import Storyteller

    options = _run_options(args)
    live = LiveTree(lambda r: run_tree(workflow, r, colour=True),
                    sys.stdout if not args.json else sys.stderr)
    story = Storyteller({p for p, g in workflow.walk() if g.tasks and g.has_barrier})
    if live.enabled or args.verbose:
        def updated(report: RunReport) -> None:
            story.see(report)
            live.update(report)

        options["on_update"] = updated
    live.update(_pending(workflow, args.engine))  # the tree while the engine starts
    live.start()
    try:
        report = _on_engine(args, lambda: pm.hook.groupplug_run_workflow(
            workflow=workflow, engine=args.engine, groups=list(args.groups), options=options))
        if report is not None:
            story.see(report)  # what the live updates missed (all of it without them)
    finally:
        live.stop()
    if report is None:
        raise EngineNotAvailable(f"no plugin ran the workflow on engine {args.engine!r}")
    if args.json:
        print(json.dumps(report.to_json()))
    else:
        colour = sys.stdout.isatty()
        print("\n".join(run_tree(workflow, report, colour=colour)))
    return _exit_code(report)


def _pending(workflow: Workflow, engine: str) -> RunReport:
    from .report import GroupReport, MemberReport

    report = RunReport(workflow.name, engine)
    for path, group in workflow.walk():
        report.groups[path] = GroupReport(
            lead=group.lead.name if group.lead else None,
            members={t.name: MemberReport() for t in group.tasks})
    return report


def _run_options(args: argparse.Namespace) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if args.engine == "local" and args.log_dir:
        options["log_dir"] = args.log_dir
    if args.engine == "local" and args.keep:
        options["keep"] = True
    if args.port is not None:
        options["port"] = args.port
    options.update(_stack_option(args))
    return options


def _stack_option(args: argparse.Namespace) -> dict[str, Any]:
    if not args.stack:
        return {}
    if args.engine not in ("airflow", "prefect"):
        raise GroupplugError(f"--stack runs on --engine airflow or --engine prefect, not "
                             f"{args.engine}; drop --stack for the {args.engine} engine")
    if args.port is not None:
        raise GroupplugError("--port starts an embedded Prefect server; --stack uses the "
                             "stack's: give one of them")
    return {"stack": True}


def _on_engine(args: argparse.Namespace, call: Any) -> Any:
    """Run ``call`` (the engine's run hook) with Ctrl-C and SIGTERM stopping the run, and any
    error that is not groupplug's own (an engine's client raising) as an engine failure."""
    from . import interrupts
    from ._signals import stopping_on_signals

    def last_words() -> int:  # the engine failed and its run cannot end by itself
        reason = interrupts.requested() or "the engine failed"
        print(f"groupplug: {reason}; ending the run with what is known", file=sys.stderr,
              flush=True)
        if args.json:
            known = interrupts.known_report()
            data = known.to_json() if isinstance(known, RunReport) else {
                "workflow": None, "run_id": None, "engine": args.engine, "groups": {}}
            print(json.dumps({**data, "state": "failed", "error": reason}), flush=True)
        return EXIT_ENGINE

    interrupts.reset()
    try:
        with stopping_on_signals(last_words):
            report = call()
    except (GroupplugError, KeyboardInterrupt):
        raise
    except Exception as exc:
        if args.verbose:
            logging.getLogger("groupplug").exception("the engine failed")
        raise EngineFailed(f"engine {args.engine} failed: {type(exc).__name__}: {exc}"
                           + ("" if args.verbose else " (-v shows the traceback)")) from exc
    reason = interrupts.requested()
    if reason and interrupts.failed():
        raise EngineFailed(reason, report)
    if reason and report is not None and not report.interrupted:
        report.interrupted = reason
    return report


def _exit_code(report: RunReport) -> int:
    if report.interrupted:
        return EXIT_INTERRUPTED
    return EXIT_OK if report.state == "succeeded" else EXIT_FAILED


def _run_python(args: argparse.Namespace, pm: Any, path: str, target: str | None) -> int:
    """``groupplug run FILE.py[:NAME]``: a DAG file (Airflow) or a flow (Prefect)."""
    import os

    if args.engine == "local":
        raise GroupplugError(
            f"{args.file}: a Python file runs on --engine airflow (a DAG file) or --engine "
            "prefect (FILE.py:FLOW); for the local engine write a YAML workflow")
    if not os.path.isfile(path):
        raise GroupplugError(f"{path}: no such file")
    if args.groups:
        raise GroupplugError("-g selects groups of a workflow file; a Python file runs whole")
    if args.dag_id:
        if target is not None:
            raise GroupplugError(f"give the DAG once: {path}:{target} or --dag-id {args.dag_id}")
        target = args.dag_id
    options: dict[str, Any] = {"json": args.json}
    if args.port is not None:
        options["port"] = args.port
    options.update(_stack_option(args))
    from .story import Storyteller

    report = _on_engine(args, lambda: pm.hook.groupplug_run_python_file(
        path=path, target=target, engine=args.engine, options=options))
    if report is not None:
        Storyteller().see(report)
    if report is None:
        raise EngineNotAvailable(f"engine {args.engine!r} cannot run Python files ({path})")
    if args.json:
        print(json.dumps(report.to_json()))
    else:
        from .tree import report_lines

        print("\n".join(report_lines(report, colour=sys.stdout.isatty())))
    return _exit_code(report)


def _name_engine_log(args: argparse.Namespace) -> None:
    """The engines' log file, named once the run ended (stderr: stdout may be the JSON)."""
    if args.engine_log is not None and args.engine_log.exists():
        logging.getLogger("groupplug.say").info("engine logs: %s", args.engine_log)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
