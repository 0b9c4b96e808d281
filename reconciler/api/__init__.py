"""The Segmind API at the edge: the HTTP client (the only httpx importer), which backend a run
talks to, and the bundled fake served in process for `--mock`.

    client.py     submit, status, result, download, request history, uploads over HTTP
    answers.py    what the API answers, as values (job states, results, history rows), read once; pure
    backend.py    the real API or the embedded fake; the key checked once, before anything is claimed
    embedded.py   the fake served in this process (`--mock`)
    origins.py    which hosts may hear the key (the API's own origins only)
    redact.py     keys out of server messages, once, where they enter
    failures.py   which FAILED jobs are content blocks
"""
