"""Sandbox mode: leadrelay delivering to built-in strict fake vendors, and the kit a site's tests use on it.

- vendors, webhook: the strict fakes of Dub, PIMMS, DATA Reshape and a Standard Webhooks receiver
  (the project's own tests run against the same ones); credentials: their public fake keys.
- fakes: the set the sandbox delivers to, in-process; mode: when sandbox mode is on, and its settings.
- api: the `{path_prefix}/_sandbox/` JSON API; client: a Python client of it.
- plugin: the pytest plugin (its `leadrelay` fixture); browser: its pytest-playwright launch arguments,
  from chromium: which Chromium to launch (the project's own tests launch the same).
- live: a uvicorn server in a thread.
"""
