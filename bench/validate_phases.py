"""Where the time of one cold `reconciler validate` process goes, phase by phase (issue 17).

Run by `python bench/validate.py --profile`, as a process of its own in a directory holding
`specs/`: it times the phases of a real `reconciler validate` (CPU seconds, by wrapping the
functions each phase runs), then prints them as JSON on its last line. Wrapping costs a few
milliseconds; a profiler would cost more than the work it measures. With `--cprofile N` it prints
instead the N functions with the most time of their own under cProfile (which inflates Python calls).
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from typing import Any

spent: dict[str, float] = {}


def wrap(owner: Any, name: str, phase: str) -> None:
    """Add the CPU time of every call of owner.name to `phase` (nothing when it does not exist)."""
    function = getattr(owner, name, None)
    if function is None:
        return

    def timed(*args: Any, **kwargs: Any) -> Any:
        begin = time.process_time()
        try:
            return function(*args, **kwargs)
        finally:
            spent[phase] = spent.get(phase, 0.0) + time.process_time() - begin

    setattr(owner, name, timed)


def _short(path: str) -> str:
    """reconciler/spec/yamldoc.py as spec/yamldoc.py, a library file as its last two parts."""
    if "/reconciler/" in path:
        return path.rsplit("/reconciler/", maxsplit=1)[-1]
    return "/".join(path.split("/")[-2:])


def main() -> None:
    if sys.argv[1:2] == ["--cprofile"]:
        import cProfile
        import pstats

        from reconciler.cli import main as cli_main

        count = int(sys.argv[2])
        profile = cProfile.Profile()
        profile.enable()
        with contextlib.suppress(SystemExit):
            cli_main(["validate"])
        profile.disable()
        stats = pstats.Stats(profile)
        rows = sorted(stats.stats.items(), key=lambda item: -item[1][2])[:count]  # type: ignore[attr-defined]
        total = sum(v[2] for v in stats.stats.values())  # type: ignore[attr-defined]
        found = [[f"{_short(file)}:{name}", own, own / total, calls] for (file, _, name), (_, calls, own, _, _) in rows]
        print(json.dumps(found))
        return
    import ryml

    import reconciler.cli
    import reconciler.cli.common
    import reconciler.cli.inspect  # the command's own modules, as the group imports them
    from reconciler import spec
    from reconciler.spec import documents
    from reconciler.spec.cache import FileParseCache

    spent["start-up and imports"] = time.process_time()  # since the process began
    wrap(ryml, "parse_in_arena", "rapidyaml parse (C++)")
    for name in ("entry_lines", "_yaml_entry_lines"):  # after / before the split of documents.py
        wrap(documents, name, "entry names' lines (scan)")
    wrap(spec, "parse", "parse: bytes to values (all of documents.parse)")
    wrap(spec, "resolve_file", "resolve_file (parse + entries)")
    wrap(spec, "finish_entries", "local files, entries made")
    wrap(FileParseCache, "save", "parse cache written")
    wrap(reconciler.cli.common, "load", "spec.load (all)")
    with contextlib.suppress(SystemExit):
        reconciler.cli.main(["validate"])
    spent["process (all)"] = time.process_time()
    print(json.dumps(spent))


if __name__ == "__main__":
    main()
