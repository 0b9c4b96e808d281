"""The composition root: the world of a run (api, store, clock, namespace) opened once, and the
two commands that run on it, `apply` (once) and `watch` (on every save).

    config.py     reconciler.toml, the project's settings file
    world.py      the site the command line names, opened into the world both commands run on
    apply.py      one apply: display, engine, out/
    watch.py      one long-running engine fed a fresh plan on every save
"""
