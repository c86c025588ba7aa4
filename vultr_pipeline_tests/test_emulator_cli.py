"""Command-line entry of the emulator: startup line, Ctrl-C and a port already in use."""

from __future__ import annotations

import argparse
import signal
import socket
import subprocess
import sys

import pytest
import requests

from vultr_pipeline.emulator.cli import (
    add_emulator_arguments,
    config_from_args,
    main,
    run_from_args,
)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_emulator_arguments(parser)
    return parser.parse_args(argv)


def test_options_build_config() -> None:
    args = parse(["--seed", "9", "--instances", "4", "--gpu-instances", "1", "--months", "2"])
    config = config_from_args(args)
    assert (config.seed, config.instances, config.gpu_instances) == (9, 4, 1)
    assert config.invoice_months == 2
    assert config.bare_metal == 2


def test_port_in_use_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        code = run_from_args(parse(["--port", str(port), "--instances", "1"]))
    output = capsys.readouterr()
    assert code == 2
    assert output.out == ""
    assert output.err.count("\n") == 1
    assert str(port) in output.err
    assert "--port" in output.err


def test_serves_until_ctrl_c() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "vultr_pipeline.emulator", "--port", "0", "--api-key", "k"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        url = line.split("VULTR_API_URL=")[1].split()[0]
        response = requests.get(url + "/account", headers={"Authorization": "Bearer k"}, timeout=10)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert url.startswith("http://127.0.0.1:")
    assert response.status_code == 200
    assert process.returncode == 0
    assert "Traceback" not in stderr


@pytest.mark.parametrize(
    "arguments",
    [["--port", "70000"], ["--rate-limit", "0"], ["--instances", "-5"], ["--months", "-2"]],
)
def test_invalid_option_exits_with_usage(arguments, capsys):
    with pytest.raises(SystemExit) as raised:
        main(arguments)

    assert raised.value.code == 2
    assert "invalid" in capsys.readouterr().err
