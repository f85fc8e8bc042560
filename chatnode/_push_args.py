"""The push providers on `chatnode serve`'s command line.

Each provider is configured by its credential's files and names; one that
is not is simply not there, and the node refuses its targets at `push`.
Files are read and parsed here, at start, so a wrong key stops the node with
one line that names the flag, not at the first push an hour later.
"""

from __future__ import annotations

import argparse
import ssl

from push import ApnsConfig, FcmConfig, PushConfig, VapidConfig


class PushSettingsError(ValueError):
    """Push flags that cannot be used: the message names the flag."""


def add_push_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("push (each provider is off unless its credential is given)")
    group.add_argument("--vapid-private-key", metavar="PEM",
                       help="Web Push and UnifiedPush: the VAPID key (EC P-256, PEM); with --vapid-subject")
    group.add_argument("--vapid-subject", metavar="URL", help="a mailto: or https: URL push services may reach you at")
    group.add_argument("--fcm-service-account", metavar="JSON", help="FCM: the service-account key file of the project")
    group.add_argument("--apns-key", metavar="P8", help="APNs: the token-auth key (.p8); with the three below")
    group.add_argument("--apns-key-id", metavar="ID", help="the key's id (ten characters)")
    group.add_argument("--apns-team-id", metavar="ID", help="the developer team's id (ten characters)")
    group.add_argument("--apns-topic", metavar="BUNDLE", help="the app's bundle id")
    group.add_argument("--push-allow-host", action="append", default=[], metavar="HOST",
                       help="also push to this host, private or not (repeatable; for tests and labs)")
    group.add_argument("--push-ca", metavar="PEM",
                       help="trust only the CA certificates in PEM for provider connections (labs)")
    group.add_argument("--push-previews", action="store_true",
                       help="send sender and the start of the text to devices that ask, encrypted to them")
    group.add_argument("--push-ack-timeout", type=_seconds, default=10.0, metavar="SECONDS",
                       help="how long a connected device has to ack a message before it is pushed (default 10)")  # fmt: skip


def _seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of seconds")
    return seconds


def push_config_from_args(args: argparse.Namespace) -> PushConfig:
    """The pusher's configuration the flags give; raises PushSettingsError naming what is wrong."""
    try:
        return PushConfig(
            vapid=_vapid(args),
            fcm=_fcm(args),
            apns=_apns(args),
            previews=args.push_previews,
            allowed_hosts=frozenset(args.push_allow_host),
            tls=_trust(args.push_ca),
        )
    except (OSError, ValueError) as exc:  # an unreadable file (ssl.SSLError is an OSError), a bad credential
        raise PushSettingsError(str(exc)) from None


def _together(args: argparse.Namespace, *names: str) -> bool:
    """Whether the flags `names` are given (all of them); some but not all is an error."""
    given = [getattr(args, name) is not None for name in names]
    if any(given) and not all(given):
        flags = ", ".join("--" + name.replace("_", "-") for name in names)
        raise PushSettingsError(f"{flags} go together")
    return all(given)


def _read(path: str) -> bytes:
    with open(path, "rb") as file:
        return file.read()


def _vapid(args: argparse.Namespace) -> VapidConfig | None:
    if not _together(args, "vapid_private_key", "vapid_subject"):
        return None
    return VapidConfig.from_pem(_read(args.vapid_private_key), args.vapid_subject)


def _fcm(args: argparse.Namespace) -> FcmConfig | None:
    if args.fcm_service_account is None:
        return None
    return FcmConfig.from_json(_read(args.fcm_service_account))


def _apns(args: argparse.Namespace) -> ApnsConfig | None:
    if not _together(args, "apns_key", "apns_key_id", "apns_team_id", "apns_topic"):
        return None
    return ApnsConfig.from_p8(_read(args.apns_key), args.apns_key_id, args.apns_team_id, args.apns_topic)


def _trust(ca: str | None) -> ssl.SSLContext | None:
    return None if ca is None else ssl.create_default_context(cafile=ca)
