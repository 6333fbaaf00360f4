"""`digitcli serve`: a local page to draw digits on and an HTTP API, on Starlette and uvicorn.

`service` does the work (decode an upload in memory, run `predict`'s pipeline with the NumPy engine,
build the record), `app` maps HTTP onto it (routes, limits, JSON errors), `server` runs uvicorn and
shuts it down cleanly on Ctrl-C and SIGTERM. The page (`static/`) is plain HTML, CSS and JavaScript,
served by the app itself, so it works offline. Starlette and uvicorn are the optional `serve` extra.
"""
