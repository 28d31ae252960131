"""The server key the tests' settings configure (tests/conftest.py's make_settings), and the header that sends it.

The dub and pimms dialects are a server's calls: a test that sends them does so as the
site's backend would, with `headers=SERVER`.
"""

SERVER_KEY = "test-server-key-0123456789-abcdefghijklmnop"
SERVER = {"Authorization": f"Bearer {SERVER_KEY}"}
