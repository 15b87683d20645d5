"""``zoo demo``: serve a stored adapter on a local web page (gradio)."""

from __future__ import annotations

import click

from zoo_core.commands._shared import _echo_err, get_zoo
from zoo_core.errors import ZooError, first_line

_LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}


def check_port(host: str, port: int) -> None:
    """Refuse, in one line, an address this process cannot listen on, before the model is loaded."""
    import errno
    import socket

    try:
        family, kind, proto, _, address = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError) as exc:
        raise ZooError(f"--host {host}: not an address to listen on ({exc})") from None
    with socket.socket(family, kind, proto) as probe:
        # As uvicorn binds: a port left in TIME_WAIT by a demo that just stopped is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ZooError(
                    f"port {port} on {host} is in use (another zoo demo?); pick another, e.g. --port {port + 1}"
                ) from None
            if exc.errno == errno.EACCES:
                raise ZooError(
                    f"port {port} needs administrator rights here; pick one above 1023 with --port"
                ) from None
            if exc.errno == errno.EADDRNOTAVAIL:
                raise ZooError(f"--host {host}: not an address of this machine; the default is 127.0.0.1") from None
            raise ZooError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


@click.command()
@click.argument("adapter")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on; 0.0.0.0 makes the page reachable from other machines on your network.",
)
@click.option("--port", type=click.IntRange(1, 65535), default=7860, show_default=True, help="Port to listen on.")
@click.option(
    "--top-k", type=click.IntRange(min=1), default=5, show_default=True, help="How many labels the page shows."
)
@click.option(
    "--share",
    is_flag=True,
    help="Also make a temporary PUBLIC link through gradio's share servers (gradio.live): anyone who has it "
    "can use the page. Off unless given.",
)
def demo(adapter, host, port, top_k, share):
    """Serve a web page that classifies with a stored adapter (NAME or NAME@N).

    The page has an image upload (image adapters) or a text box (text adapters), a Predict button,
    the top-k labels with their probabilities (the same as 'zoo predict' gives) and the adapter's
    card. It listens on 127.0.0.1 only unless --host says otherwise; Ctrl-C stops it. Needs gradio:
    pip install 'transfer-zoo[demo]'.

    \b
    Examples:
      zoo demo flowers-lite0
      zoo demo reviews@2 --port 8080 --top-k 3
      zoo demo flowers-lite0 --host 0.0.0.0
    """
    from zoo_core.demo import DemoModel, build_blocks, demo_adapter, import_gradio, launch_demo

    # Cheap checks first: an unknown adapter, a busy port or a missing gradio is one line in a
    # second, not after the model has loaded.
    ref, _ = demo_adapter(adapter)
    check_port(host, port)
    import_gradio()
    _echo_err(f"loading {ref}...")
    blocks = build_blocks(DemoModel.load(str(ref), zoo=get_zoo(), top_k=top_k))
    if share:
        _echo_err(
            "warning: --share makes a PUBLIC link through gradio's servers: anyone who has it can use this "
            "page (and your adapter) until you stop it or the link expires"
        )
    local_url, share_url = launch_demo(blocks, host, port, share)
    click.echo(f"zoo demo: {ref} on {local_url} (Ctrl-C stops it)")
    if host.strip() not in _LOOPBACK:
        _echo_err(f"note: listening on {host}: other machines that reach this one can use the page")
    if share_url:
        click.echo(f"public link: {share_url}")
    elif share:
        _echo_err("warning: the public link could not be made (see above); the page is served locally only")
    _serve(blocks)


#: How long a stopped demo waits for the web server to close before it exits anyway.
CLOSE_SECONDS = 10.0


def _serve(blocks) -> None:
    """Block until Ctrl-C or SIGTERM, then close the server (and any share tunnel) and say so.

    Both signals only set an event, so the interrupt never lands inside the server's own code; the
    close runs in a daemon thread with a deadline (:data:`CLOSE_SECONDS`), because a server thread
    that does not finish (seen in CI: no "stopped" line a minute after Ctrl-C) must not keep the
    process alive."""
    import signal
    import threading

    stop = threading.Event()
    previous = {}
    try:  # a SIGINT between here and the handler is a KeyboardInterrupt, and still closes the server
        if threading.current_thread() is threading.main_thread():  # signal handlers can only be set there
            for signum in (signal.SIGINT, signal.SIGTERM):
                previous[signum] = signal.signal(signum, lambda *_: stop.set())
        while not stop.wait(0.5):  # a short wait so that a signal is acted on promptly
            pass
    except KeyboardInterrupt:  # a SIGINT that arrived before the handler was set
        pass
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        _exit_soon(20.0)
        closer = threading.Thread(target=_close_server, args=(blocks,), name="zoo-demo-close", daemon=True)
        closer.start()
        closer.join(CLOSE_SECONDS)
        if closer.is_alive():
            _echo_err(f"warning: the web server did not close within {CLOSE_SECONDS:g} s; exiting anyway")
        _end_tunnels()  # here, not after the close: a hung close must not leave a share tunnel running
    click.echo("zoo demo: stopped")


def _close_server(blocks) -> None:
    """Close the gradio server; a failure is one warning line (the demo is stopping either way)."""
    try:
        blocks.close(verbose=False)
    except Exception as error:  # whatever the server raises, the stop goes on
        _echo_err(f"warning: closing the web server failed ({first_line(error)}); exiting anyway")


def _end_tunnels() -> None:
    """End any share tunnel's process (gradio keeps them in ``CURRENT_TUNNELS``)."""
    try:
        from gradio.tunneling import CURRENT_TUNNELS
    except ImportError:  # no gradio, no tunnel
        return
    for tunnel in list(CURRENT_TUNNELS):
        if tunnel.proc is not None:
            tunnel.proc.terminate()


def _exit_soon(seconds: float) -> None:
    """Make sure a stopped demo's process exits: a library thread that outlives the server (seen in CI:
    after Ctrl-C the process stayed alive past a minute) must not keep it running. When the interpreter
    starts shutting down (``threading._register_atexit``: before non-daemon threads are joined, so an
    in-process caller is never affected while it runs), a daemon timer is armed that ends the process
    with status 0 if it is still alive ``seconds`` later; a normal exit comes first and stops it."""
    import os
    import sys
    import threading

    def leave() -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)

    def arm() -> None:
        timer = threading.Timer(seconds, leave)
        timer.daemon = True
        timer.start()

    register = getattr(threading, "_register_atexit", None)  # CPython 3.9+; elsewhere exit as before
    if register is not None:
        try:
            register(arm)
        except RuntimeError:  # the interpreter is already shutting down
            arm()
