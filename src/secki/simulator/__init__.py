"""Election simulator: a complete, internally consistent election bundle from a seed.

Pure numpy (no Django). ``simulate(SimulationConfig(...))`` returns a
:class:`SimulatedElection` of arrays; ``write_bundle(election, out_dir)`` writes the bundle of
docs/formats.md; ``secki simulate`` is the command line. Defaults model the Azerbaijani
presidential election of 7 February 2024 with neutral candidate names; everything produced is
labelled simulated.
"""

from secki.simulator.config import (
    FraudSpec,
    FraudSpecError,
    IntegerSpec,
    SimulationConfig,
    StuffingSpec,
    parse_fraud,
)
from secki.simulator.fraud import Truth
from secki.simulator.model import Candidate, SimulatedElection, simulate
from secki.simulator.votes import Protocols
from secki.simulator.write import write_bundle

__all__ = [
    "Candidate",
    "FraudSpec",
    "FraudSpecError",
    "IntegerSpec",
    "Protocols",
    "SimulatedElection",
    "SimulationConfig",
    "StuffingSpec",
    "Truth",
    "parse_fraud",
    "simulate",
    "write_bundle",
]
