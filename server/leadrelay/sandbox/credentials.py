"""The sandbox's fake vendor credentials: public on purpose, they open nothing but the built-in fakes.

The fakes check them exactly as the vendors check real ones (a wrong key gets the vendor's 401),
and the project's own tests use the same values. A real key configured alongside `sandbox` is
never read by the sandbox: it is replaced by these before anything is built (leadrelay.sandbox.mode).
"""

from __future__ import annotations

import base64

DUB_KEY = "dub_test_9f8e7d6c5b4a"
PIMMS_KEY = "pimms_test_1a2b3c4d5e6f"
RESHAPE_TOKEN = "dre_token_0a1b2c3d4e5f"
RESHAPE_SCRIPT = "ABCD1234"
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"leadrelay-test-webhook-secret-32").decode()
