"""`simulate HOTLINE`: place a simulated call against a running app, from the command line.

The app wires the command in with `make_simulate_command(resolve)`, where `resolve` maps a
hotline id or number to (number, account SID, auth token): the simulator signs with the
app's own token, so the app's signature check passes only if the URLs match too.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import click

from hotline.simulator.call import CallResult, SimulatedCall
from hotline.simulator.callers import Caller, InteractiveCaller, ScriptedCaller, parse_keys
from hotline.simulator.fake_twilio import FakeTwilio

Resolver = Callable[[str], tuple[str, str, str]]
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _default_url() -> str:
    return os.environ.get("HOTLINE_PUBLIC_URL") or "http://127.0.0.1:5000"


def media_address(twilio_url: str | None) -> tuple[str, int] | None:
    """Host and port to serve the fake Twilio API on, if `twilio_url` is a local http URL."""
    if not twilio_url:
        return None
    parts = urlsplit(twilio_url)
    if parts.scheme != "http" or parts.hostname not in _LOOPBACK or parts.port is None:
        return None
    return ("127.0.0.1" if parts.hostname == "localhost" else parts.hostname), parts.port


def summary(result: CallResult, fake: FakeTwilio) -> list[str]:
    """A short account of the call for a person at a terminal."""
    legs = {leg: sum(1 for r in result.requests if r.leg == leg) for leg in ("caller", "dispatcher", "callback")}
    fetched = sum(1 for sid in result.recordings if sid in fake.fetched)
    lines = [
        f"call {result.call_sid}: ended by {result.ended_by} after {result.duration}s",
        f"recordings sent: {len(result.recordings)} (fetched by the app: {fetched}, deleted: {len(fake.deleted)})",
        f"requests made: {len(result.requests)} ({legs['caller']} for the call, {legs['dispatcher']} for "
        f"dispatcher whispers, {legs['callback']} status callbacks)",
    ]
    if result.fell_through:
        lines.append("PROBLEM: a <Gather> or <Record> fell through with nothing after it: the call just ended")
    lines += [f"error: {error}" for error in result.errors] or ["errors: none"]
    return lines


def _wait_for_fetches(result: CallResult, fake: FakeTwilio, seconds: float) -> None:
    """Keep serving until the app's worker has fetched (or deleted) every recording."""
    deadline = time.monotonic() + seconds
    pending = set(result.recordings)
    if pending and seconds > 0:
        click.echo(f"serving {len(pending)} recording(s) until the app fetches them (up to {seconds:g}s)...")
    while pending and time.monotonic() < deadline:
        pending -= set(fake.fetched) | fake.deleted
        if pending:
            time.sleep(0.2)
    if pending and seconds > 0:
        click.echo(f"{len(pending)} recording(s) not fetched yet: is the worker running?")


def callback_keys(tip: str, pin: str | None, language: str | None, answers: int) -> str:
    """The keys of a call back: language, 9, the tip number, the PIN (or #), then 1 before
    each answer to add and # to hang up. `language` is the --keys given (default 1)."""
    if not tip.isdigit():
        raise ValueError("the tip number is digits only")
    if pin is not None and not pin.isdigit():
        raise ValueError("the PIN is digits only")
    first = parse_keys(language or "1")
    return ",".join([*first, "9", f"{tip}#", pin or "#", *(["1"] * answers), "#"])


def make_simulate_command(
    resolve: Resolver,
    twilio_api_base_url: Callable[[], str | None] | None = None,
    app_url: Callable[[], str] | None = None,
) -> click.Command:
    """Build the `simulate` command; `twilio_api_base_url` says where the app fetches recordings."""

    @click.command("simulate")
    @click.argument("hotline")
    @click.option("--keys", default=None, help="Keys per menu or digit entry, comma/space separated; '-' = silence.")
    @click.option("--say", "says", multiple=True, help="Next recorded answer ('#' skips, '0' dispatcher).")
    @click.option(
        "--wav",
        "wavs",
        multiple=True,
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help="A WAV file to record as an answer (used after the --say items).",
    )
    @click.option(
        "--url", default=None, help="The app's base URL, as Twilio calls it (default: the app's HOTLINE_PUBLIC_URL)."
    )
    @click.option("--no-dispatcher", is_flag=True, help="Dispatchers do not answer transfers.")
    @click.option(
        "--voicemail",
        "voicemail",
        multiple=True,
        metavar="NUMBER",
        help="This dispatcher phone is picked up by its voicemail (repeatable).",
    )
    @click.option("--from", "from_", default="+15555550100", show_default=True, help="The caller's number.")
    @click.option(
        "--twilio-url",
        default=None,
        help="Where the simulated Twilio API serves recordings; default: the app's TWILIO_API_BASE_URL when local.",
    )
    @click.option("--wait", default=20.0, show_default=True, help="Seconds to keep serving recordings after the call.")
    @click.option(
        "--callback",
        "callback_tip",
        default=None,
        metavar="TIP",
        help="Call back about an earlier report with this tip number: hear its messages, add each --say.",
    )
    @click.option("--pin", default=None, help="The PIN chosen on the first call (with --callback; none: press #).")
    def simulate(
        hotline: str,
        keys: str | None,
        says: tuple[str, ...],
        wavs: tuple[Path, ...],
        url: str | None,
        no_dispatcher: bool,
        voicemail: tuple[str, ...],
        from_: str,
        twilio_url: str | None,
        wait: float,
        callback_tip: str | None,
        pin: str | None,
    ) -> None:
        """Place a simulated call to HOTLINE (an id or its phone number), playing Twilio's part."""
        url = url or (app_url() if app_url else _default_url())
        try:
            to, account_sid, auth_token = resolve(hotline)
        except (KeyError, ValueError) as exc:
            raise click.UsageError(str(exc)) from None
        caller: Caller
        if callback_tip is not None:
            try:
                keys = callback_keys(callback_tip, pin, keys, len(says) + len(wavs))
            except ValueError as exc:
                raise click.BadParameter(str(exc), param_hint="--callback/--pin") from None
        elif pin is not None:
            raise click.UsageError("--pin goes with --callback")
        if keys is None and not says and not wavs:
            caller = InteractiveCaller(output_fn=click.echo)
        else:
            try:
                parse_keys(keys or "")
            except ValueError as exc:
                raise click.BadParameter(str(exc), param_hint="--keys") from None
            caller = ScriptedCaller(
                keys or "",
                [*says, *wavs],
                dispatcher_answers=not no_dispatcher,
                echo=click.echo,
                voicemail=voicemail,
            )
        configured = twilio_url or (twilio_api_base_url() if twilio_api_base_url else None)
        configured = configured or os.environ.get("TWILIO_API_BASE_URL")
        address = media_address(configured)
        host, port = address or ("127.0.0.1", 0)
        try:
            # Accepts the app's API key too, as the account's real Twilio would.
            key, secret = os.environ.get("TWILIO_API_KEY", ""), os.environ.get("TWILIO_API_SECRET", "")
            fake = FakeTwilio(account_sid, auth_token, host=host, port=port, api_key=key, api_secret=secret).start()
        except OSError as exc:
            raise click.ClickException(f"cannot serve the Twilio API on {host}:{port}: {exc}") from None
        try:
            if address is None:
                click.echo(
                    f"note: recordings are served at {fake.base_url}, but the app fetches them from "
                    f"{configured or 'https://api.twilio.com'}: set TWILIO_API_BASE_URL=http://127.0.0.1:PORT "
                    "for the app and pass the same --twilio-url here to let it fetch them."
                )
            click.echo(f"calling {to} at {url.rstrip('/')} from {from_}\n")
            result = SimulatedCall(url, auth_token, account_sid, to, caller, fake, from_=from_).run()
            if address is not None:
                _wait_for_fetches(result, fake, wait)
            click.echo("")
            for line in summary(result, fake):
                click.echo(line)
        finally:
            fake.stop()
        if result.errors or result.fell_through:
            raise click.exceptions.Exit(1)

    return simulate
