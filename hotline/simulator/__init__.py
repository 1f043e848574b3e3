"""A stand-in for Twilio: places signed calls against the app, serves recordings, plays the REST API.

One wire (`webhooks`: Twilio's parameters, signature and a transport, HTTP or in process) under
two ways of driving a call: `SimulatedCall` plays a whole call from a caller's script,
`CallDriver` takes it a step at a time (the tests' and benchmarks' driver).
"""

from hotline.simulator.call import CallResult, Exchange, SimulatedCall
from hotline.simulator.callers import Answer, Caller, InteractiveCaller, ScriptedCaller
from hotline.simulator.driver import AppTwilio, CallDriver
from hotline.simulator.fake_twilio import FakeTwilio
from hotline.simulator.webhooks import HttpTransport, Line, Place, Transport, Twilio, WsgiTransport

__all__ = [
    "Answer",
    "AppTwilio",
    "CallDriver",
    "CallResult",
    "Caller",
    "Exchange",
    "FakeTwilio",
    "HttpTransport",
    "InteractiveCaller",
    "Line",
    "Place",
    "ScriptedCaller",
    "SimulatedCall",
    "Transport",
    "Twilio",
    "WsgiTransport",
]
