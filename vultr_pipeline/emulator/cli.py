"""Command-line entry of the emulator: `vultr-pipeline emulator [options]`."""

from __future__ import annotations

import argparse
import errno
import logging
import signal
import sys
from collections.abc import Sequence

from vultr_pipeline.emulator.config import SampleAccountConfig
from vultr_pipeline.emulator.server import HOST, EmulatorServer

EXIT_PORT_IN_USE = 2


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"invalid count {text!r}: use 0 or more")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"invalid port {text!r}: use 0 to 65535")
    return value


def _rate(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"invalid rate limit {text!r}: use 1 or more")
    return value


def add_emulator_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the emulator options to a parser or subparser."""
    parser.add_argument(
        "--port",
        type=_port,
        default=8089,
        help="TCP port on 127.0.0.1 (default: 8089; 0 picks a free one)",
    )
    parser.add_argument(
        "--api-key",
        default=None,
        help="only Bearer key to accept (default: accept any non-empty key)",
    )
    parser.add_argument(
        "--seed", type=int, default=7, help="seed of the generated account (default: 7)"
    )
    parser.add_argument(
        "--instances", type=_count, default=12, help="Cloud Compute instances (default: 12)"
    )
    parser.add_argument(
        "--gpu-instances",
        type=_count,
        default=3,
        help="Cloud GPU instances, in addition to --instances (default: 3)",
    )
    parser.add_argument(
        "--bare-metal", type=_count, default=2, help="bare-metal servers (default: 2)"
    )
    parser.add_argument(
        "--months",
        type=_count,
        default=6,
        help="closed monthly invoices before the current month (default: 6)",
    )
    parser.add_argument(
        "--rate-limit",
        type=_rate,
        default=None,
        help="requests per second before replying 429 (default: no limit)",
    )
    parser.add_argument("--verbose", action="store_true", help="log one line per request")


def config_from_args(args: argparse.Namespace) -> SampleAccountConfig:
    """Build the account config from parsed emulator options."""
    return SampleAccountConfig(
        seed=args.seed,
        instances=args.instances,
        gpu_instances=args.gpu_instances,
        bare_metal=args.bare_metal,
        invoice_months=args.months,
    )


def run_from_args(args: argparse.Namespace) -> int:
    """Serve the emulator until Ctrl-C; return the process exit code.

    Returns:
        0 after Ctrl-C, or 2 when the port is already in use.
    """
    server = EmulatorServer(
        config_from_args(args),
        api_key=args.api_key,
        rate_limit=args.rate_limit,
        port=args.port,
        verbose=args.verbose,
    )
    if args.verbose:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    try:
        server.bind()
    except OSError as error:
        if error.errno != errno.EADDRINUSE:
            raise
        print(
            f"error: port {args.port} on {HOST} is already in use; pick another with --port",
            file=sys.stderr,
        )
        return EXIT_PORT_IN_USE

    print(
        f"Vultr API emulator serving at {server.url}; point the pipeline at it with "
        f"VULTR_API_URL={server.url} (Ctrl-C to stop)",
        flush=True,
    )
    # A background job of a non-interactive shell inherits SIGINT as ignored, so Python
    # installs no KeyboardInterrupt handler. Installing it here lets Ctrl-C, or a test's
    # SIGINT, stop the server.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        return 0
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Parse emulator options from `argv` and serve."""
    parser = argparse.ArgumentParser(
        prog="vultr-pipeline emulator", description="Serve a sample Vultr API v2 on 127.0.0.1."
    )
    add_emulator_arguments(parser)
    return run_from_args(parser.parse_args(argv))
