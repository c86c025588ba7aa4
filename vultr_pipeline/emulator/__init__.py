"""Local emulator of the Vultr API v2 that serves a deterministic sample account.

It shares no code with the API client in `vultr_pipeline.vultr`, so each checks the other.
"""

from vultr_pipeline.emulator.account import SampleAccount, generate_account
from vultr_pipeline.emulator.config import SampleAccountConfig
from vultr_pipeline.emulator.faults import FaultKind, FaultPlan
from vultr_pipeline.emulator.server import EmulatorServer

__all__ = [
    "EmulatorServer",
    "FaultKind",
    "FaultPlan",
    "SampleAccount",
    "SampleAccountConfig",
    "generate_account",
]
