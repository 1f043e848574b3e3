"""Sign-in throttling per (account, client) and per client, with growing delays, in Redis.

No account is ever locked: that would let anyone who knows an address shut its owner out.
Instead each (account, client) pair gets ACCOUNT_FREE attempts, then must wait 1, 2, 4, ...
seconds (at most MAX_DELAY) after each further failure before its next attempt is even
checked; a client gets CLIENT_FREE attempts across all accounts before the same happens to
it. The owner signing in from another client is not slowed by an attacker's failures.

An attempt is counted before its password or code is checked, in one Lua script, so
parallel guesses cannot all pass a check made before any of them was counted; a right
password gives its attempt back, a completed sign-in clears the pair. Accounts are keyed
by a hash of the address tried, known or not, so throttling says nothing about which
addresses have accounts.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import time
from dataclasses import dataclass
from math import ceil

import redis

log = logging.getLogger(__name__)

ACCOUNT_FREE = 5
CLIENT_FREE = 20
MAX_DELAY = 15 * 60
# Failures are forgotten a day after the last one.
TTL_SECONDS = 24 * 60 * 60
_PREFIX = "signin"

# KEYS: account hash, client hash. ARGV: client, now, account free, client free, max delay, ttl.
# Returns {allowed 0|1, failures of the pair, seconds to wait, the pair's and the client's
# new "wait until" if this attempt set one ('' if not)}. Numbers go out as strings: Lua's
# are truncated to integers on the way out.
_CLAIM = """
local now = tonumber(ARGV[2])
local pf_field, pt_field = ARGV[1] .. '|f', ARGV[1] .. '|t'
local pf = tonumber(redis.call('HGET', KEYS[1], pf_field) or '0')
local pt = tonumber(redis.call('HGET', KEYS[1], pt_field) or '0')
local cf = tonumber(redis.call('HGET', KEYS[2], 'f') or '0')
local ct = tonumber(redis.call('HGET', KEYS[2], 't') or '0')
local wait = math.max(pt - now, ct - now, 0)
if wait > 0 then
  return {0, pf, tostring(wait), '', ''}
end
local pset, cset = '', ''
pf = pf + 1
cf = cf + 1
redis.call('HSET', KEYS[1], pf_field, pf)
redis.call('HSET', KEYS[2], 'f', cf)
local max_delay = tonumber(ARGV[5])
if pf >= tonumber(ARGV[3]) then
  pset = tostring(now + math.min(2 ^ (pf - tonumber(ARGV[3])), max_delay))
  redis.call('HSET', KEYS[1], pt_field, pset)
end
if cf >= tonumber(ARGV[4]) then
  cset = tostring(now + math.min(2 ^ (cf - tonumber(ARGV[4])), max_delay))
  redis.call('HSET', KEYS[2], 't', cset)
end
redis.call('EXPIRE', KEYS[1], ARGV[6])
redis.call('EXPIRE', KEYS[2], ARGV[6])
return {1, pf, '0', pset, cset}
"""

# KEYS: account hash, client hash. ARGV: client, 1 to clear the pair as well, the pair's and
# the client's "wait until" that the claim set. A wait the claim set is lifted unless a later
# attempt has set another since: before the claim (which was allowed) nobody had to wait.
_GIVE_BACK = """
local pf_field, pt_field = ARGV[1] .. '|f', ARGV[1] .. '|t'
if tonumber(redis.call('HGET', KEYS[2], 'f') or '0') > 0 then
  redis.call('HINCRBY', KEYS[2], 'f', -1)
end
if ARGV[4] ~= '' and redis.call('HGET', KEYS[2], 't') == ARGV[4] then
  redis.call('HDEL', KEYS[2], 't')
end
if ARGV[2] == '1' then
  redis.call('HDEL', KEYS[1], pf_field, pt_field)
  return 1
end
if tonumber(redis.call('HGET', KEYS[1], pf_field) or '0') > 0 then
  redis.call('HINCRBY', KEYS[1], pf_field, -1)
end
if ARGV[3] ~= '' and redis.call('HGET', KEYS[1], pt_field) == ARGV[3] then
  redis.call('HDEL', KEYS[1], pt_field)
end
return 1
"""


def clock() -> float:
    """The current Unix time (a function so tests can hold the clock still)."""
    return time.time()


def client_of(address: str | None) -> str:
    """Name the client an attempt came from: its IPv4 address, or its IPv6 /64 network.

    One IPv6 host usually holds a whole /64, so counting single addresses would let it
    start afresh with each of them.
    """
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


@dataclass(frozen=True)
class Claim:
    """The answer to "may this attempt be checked?"."""

    allowed: bool
    failures: int
    wait: float
    # The waits this attempt imposed on later ones, to lift if it turns out to be right.
    pair_until: str = ""
    client_until: str = ""

    @property
    def wait_seconds(self) -> int:
        """The wait in whole seconds, rounded up (for the audit log)."""
        return ceil(self.wait)


@dataclass(frozen=True)
class Failures:
    """An account's failed attempts still remembered, for the administrators' page."""

    count: int
    clients: int
    delayed_until: float


class Throttle:
    """The counters of one Redis server."""

    def __init__(self, client: redis.Redis) -> None:
        self.redis = client
        self._claim = client.register_script(_CLAIM)
        self._give_back = client.register_script(_GIVE_BACK)

    @staticmethod
    def _account_key(email: str) -> str:
        # Hashed: a "tried address" can be a password typed into the wrong box.
        return f"{_PREFIX}:account:{hashlib.sha256(email.encode()).hexdigest()[:32]}"

    @staticmethod
    def _client_key(client: str) -> str:
        return f"{_PREFIX}:client:{client}"

    def claim(self, email: str, client: str) -> Claim:
        """Count an attempt before it is checked, or say how long it must wait first."""
        keys = [self._account_key(email), self._client_key(client)]
        args: list[str | int] = [client, repr(clock()), ACCOUNT_FREE, CLIENT_FREE, MAX_DELAY, TTL_SECONDS]
        allowed, failures, wait, pair_until, client_until = self._claim(keys=keys, args=args)
        return Claim(bool(allowed), int(failures), float(wait), _text(pair_until), _text(client_until))

    def refund(self, email: str, client: str, claim: Claim) -> None:
        """A right password: its attempt does not count (wrong codes after it still do)."""
        self._return(email, client, claim, clear_pair=False)

    def succeeded(self, email: str, client: str, claim: Claim) -> None:
        """A completed sign-in: this client starts afresh for this account."""
        self._return(email, client, claim, clear_pair=True)

    def _return(self, email: str, client: str, claim: Claim, *, clear_pair: bool) -> None:
        # Best effort: if Redis went away since the claim, the attempt just stays counted,
        # which must not stop a user who gave the right password.
        try:
            self._give_back(
                keys=[self._account_key(email), self._client_key(client)],
                args=[client, "1" if clear_pair else "0", claim.pair_until, claim.client_until],
            )
        except (redis.RedisError, OSError) as exc:
            log.warning("could not give back a sign-in attempt (%s)", type(exc).__name__)

    def clear(self, email: str) -> int:
        """Forget every client's failures on this account (an administrator's unlock); return how many."""
        count = self.failures(email).count
        self.redis.delete(self._account_key(email))
        return count

    def failures(self, email: str) -> Failures:
        """The account's remembered failures across clients, and until when some client waits."""
        fields = self.redis.hgetall(self._account_key(email))
        count = clients = 0
        until = 0.0
        for name, value in fields.items():
            key = name.decode() if isinstance(name, bytes) else str(name)
            if key.endswith("|f") and int(value) > 0:
                count += int(value)
                clients += 1
            elif key.endswith("|t"):
                until = max(until, float(value))
        return Failures(count, clients, until if until > clock() else 0.0)


class Unavailable(Exception):
    """The throttle's Redis cannot be reached: passwords must not be checked uncounted."""


class SignIn:
    """The throttle's decisions for sign-in attempts on one account from one client.

    The sign-in pages (hotline.auth.views) only ask and follow: may this attempt be checked
    (claim), the password was right (password_right), the sign-in completed (completed).
    """

    def __init__(self, client: redis.Redis, email: str, address: str | None) -> None:
        self.throttle = Throttle(client)
        self.email = email
        self.client = client_of(address)

    def claim(self) -> Claim:
        """Count this attempt before it is checked; without Redis, fail closed (Unavailable)."""
        try:
            return self.throttle.claim(self.email, self.client)
        except (redis.RedisError, OSError) as exc:
            log.warning("sign-in throttle unavailable (%s); refusing sign-in attempts", type(exc).__name__)
            raise Unavailable from exc

    def password_right(self, claim: Claim) -> None:
        """A right password: its attempt does not count (wrong codes after it still do)."""
        self.throttle.refund(self.email, self.client, claim)

    def completed(self, claim: Claim) -> None:
        """A completed sign-in: this client starts afresh for this account."""
        self.throttle.succeeded(self.email, self.client, claim)


def failures_of(client: redis.Redis, email: str) -> Failures | None:
    """An account's remembered failed sign-ins, or None if Redis cannot say right now."""
    try:
        return Throttle(client).failures(email)
    except (redis.RedisError, OSError):
        return None


def clear_after_reset(client: redis.Redis, email: str) -> bool:
    """After a password reset the new password starts without the old one's failures.

    Best effort: the reset is committed and its password must still be shown, and failures
    expire by themselves within TTL_SECONDS. Returns whether they were cleared.
    """
    try:
        Throttle(client).clear(email)
    except (redis.RedisError, OSError) as exc:
        log.warning("could not clear failed sign-ins after a password reset (%s)", type(exc).__name__)
        return False
    return True
