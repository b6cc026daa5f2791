"""`relstream stack up | down | status | install`: the local services."""

from __future__ import annotations

import argparse

from relstream.core.settings import CommonSettings, redact_url


def register(commands: argparse._SubParsersAction, bench: argparse._SubParsersAction) -> None:
    stack = commands.add_parser("stack", help="start, stop or inspect the local stack")
    stack.add_argument("action", choices=["up", "down", "status", "install"])
    stack.add_argument("--no-teacher", action="store_true",
                       help="up: leave out the teacher's vLLM server (Kafka and Redis only)")
    stack.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from relstream.stack import LocalStack

    stack = LocalStack(CommonSettings())
    if args.action == "install":
        print(f"kafka jars: {stack.install_kafka()}")
        return 0
    if args.action == "down":
        stopped = stack.down()
        print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
        return 0
    statuses = stack.up(teacher=not args.no_teacher) if args.action == "up" else stack.status()
    for st in statuses:
        state = "up" if st.running else "down"
        pid = f" pid {st.pid}" if st.pid else ""
        # `where` is a DSN or URL for ClickHouse and Redis: shown without its password.
        print(f"{st.name:<11} {state:<5} {redact_url(st.where)}{pid}  {st.detail}")
    return 0 if all(s.running for s in statuses) else 1
