"""The apply engine: from a plan to stored videos, never paying twice.

The flow of one key reads top to bottom; the last line is what every job shares.

    work.py        what a run is handed: one Work per key (works_for), earlier failures (pure)
    reconcile.py   a plan's work run to a Summary, out/ mirrored at the end
    run.py         the Engine: N workers over a queue, Ctrl-C, the signals
    context.py     the world a run acts on (Runtime), its Options, and the narrow JobContext a job sees
    generation.py  one key from claim to outcome: settle() drives the steps below
    job.py         one key's state in one run, and its endings (the claim given back in one place)
    submit.py      the paid step: submit, or adopt the job that exists (history, account)
    collect.py     poll, fetch, recover an expired result
    uploads.py     local images on the API's storage, once per content
    download.py    a video streamed into the store through the video check
    stop.py        how far a run has stopped (submits, or everything)
    pacer.py, policy.py, budget.py, learning.py, history.py, adopt.py, videocheck.py, events.py
                   the rate and retries, the spending cap, latencies, the request history, what is told
"""
