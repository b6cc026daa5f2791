"""The demo's fallback teacher child: the real labelling worker with the rule-based stand-in.

On CPU-only machines without the SFT'd ELLM-rele, the LLM teacher's CoT rarely parses, so
the student would learn from almost nothing. The demo then runs the real worker
(`teacher_worker.worker.run_worker`: same topics, cache, dead-lettering, metrics) with
`student_trainer.online.lexical_teacher.LexicalTeacher`, which reads only the query and
the item text (never ground truth) and says `lexical-stand-in` in every label.
Run as `python -m relstream.demo_teacher --world DIR`; settings come from `RELSTREAM_*`.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m relstream.demo_teacher",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--world", type=Path, required=True,
                        help="simulated world whose catalog fills requests without an item")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("kafka").setLevel(logging.WARNING)

    from streams.simulator.loaders import load_catalog
    from student_trainer.online.lexical_teacher import LexicalTeacher
    from teacher_worker.settings import TeacherSettings
    from teacher_worker.worker import run_worker

    stats = run_worker(TeacherSettings(), LexicalTeacher(), catalog=load_catalog(args.world))
    logging.getLogger(__name__).info("teacher stopped: %s", stats)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
