"""A stand-in for Twilio: places signed calls against the app, serves recordings, plays the REST API."""

from hotline.simulator.call import CallResult, Exchange, SimulatedCall
from hotline.simulator.callers import Answer, Caller, InteractiveCaller, ScriptedCaller
from hotline.simulator.fake_twilio import FakeTwilio

__all__ = [
    "Answer",
    "CallResult",
    "Caller",
    "Exchange",
    "FakeTwilio",
    "InteractiveCaller",
    "ScriptedCaller",
    "SimulatedCall",
]
