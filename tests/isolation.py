"""A pytest plugin loaded before pytest-django reads the settings (``-p tests.isolation``).

Tests never write into the developer's var/ (demo database, keys, inbox): everything that settings
places under KONBINI_VAR_DIR (signing keys, the test CA, checkpoints, generated secrets) goes to a
fresh folder for each test run.
"""

import os
import tempfile

os.environ.setdefault("KONBINI_VAR_DIR", tempfile.mkdtemp(prefix="konbini-tests-"))
