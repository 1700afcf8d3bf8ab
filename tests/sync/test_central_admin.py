"""What an administrator meets at the centre's command line: `serve`'s options, the admin
commands' refusals. A mistake is a plain message and a non-zero exit, before anything starts
or is written, never a traceback and never a service that runs but cannot serve."""

from __future__ import annotations

import pytest

from central.cli import main as central_main

pytestmark = pytest.mark.central

# A database nothing listens at: an option refused before anything starts never reaches it (a
# `serve` that got past its options would stop here, exit 3, instead of running on).
NOWHERE = "postgresql://nobody@127.0.0.1:1/nowhere"


def _cli(capsys, *args: str) -> tuple[int, str, str]:
    rc = central_main(list(args))
    out = capsys.readouterr()
    return rc, out.out, out.err


@pytest.mark.parametrize("port", ["70000", "65536", "0", "-1"])
def test_serve_refuses_a_port_that_is_not_one(capsys, port: str) -> None:
    """Before: --port 70000 was taken as it was given, and the service said it served on
    http://127.0.0.1:70000 while it listened on port 4464 (70000 - 65536), where no station
    looks for it."""
    rc, _, err = _cli(capsys, "serve", "--url", NOWHERE, "--port", port)
    assert rc == 2, err
    assert "--port" in err and "65535" in err and "Traceback" not in err
