"""The JupyterLab server of the browser tests.

Galata's test settings: no token, Galata's in-page helpers, a new root directory in the
temporary folder for every run. The port is the one playwright.config.ts waits on.
"""

import os

from jupyterlab.galata import configure_jupyter_server

configure_jupyter_server(c)  # noqa: F821 (c is the config object Jupyter passes in)

c.ServerApp.port = int(os.environ.get("WEBTRT_UI_TESTS_PORT", "8888"))  # noqa: F821
# CI machines run everything as root.
c.ServerApp.allow_root = True  # noqa: F821
# Galata probes paths that do not exist yet: the 404 warnings would bury the test report.
c.Application.log_level = "ERROR"  # noqa: F821
