"""The command line: parse arguments, call one function, turn the outcome into an exit code."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import gc
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from sitegen import __version__
from sitegen.config import Config, ConfigError, load
from sitegen.state import StateLock, StateLocked
from sitegen.units import format_value

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2


def _err(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _load(args: argparse.Namespace) -> Config:
    cfg = load(args.config)
    out = getattr(args, "out", None)
    if out:
        cfg = dataclasses.replace(cfg, site=dataclasses.replace(cfg.site, out_dir=Path(out)))
    return cfg


def _progress(args: argparse.Namespace) -> Callable[[str], None]:
    return (lambda _msg: None) if args.quiet else (lambda msg: _err(f"  {msg}"))


def cmd_check(args: argparse.Namespace) -> int:
    """Validate the configuration and print every error."""
    from sitegen.redact import redact  # its patterns cost publish's start-up otherwise

    cfg = _load(args)
    print(
        f"{cfg.source}: ok ({len(cfg.panels)} panels, publishing "
        f"{'to s3://' + cfg.publish.bucket if cfg.publish.bucket else 'off'})"
    )
    alerts = cfg.alerts
    read = (
        f"Alertmanager {redact(alerts.alertmanager_url)}"
        if alerts.alertmanager_url
        else f"Prometheus {redact(cfg.prometheus.url)}"
        if alerts.prometheus
        else "no server (only sitegen's own failing sources)"
    )
    print(f"alerts: from {read}, incidents kept {alerts.keep_days} days")
    if not cfg.site.base_url:
        print("note: no feed.atom: site.base_url is empty, and a feed needs absolute links")
    return EXIT_OK


def cmd_render(args: argparse.Namespace) -> int:
    """Run one cycle without publishing and say where the site is."""
    from sitegen.cycle import Runtime, run_cycle  # heavy imports only for the verbs that need them

    cfg = _load(args)
    if not args.quiet:
        _err(f"sitegen {__version__}: rendering from {cfg.source}")
    rt = Runtime.start(cfg, _progress(args))
    try:
        result = run_cycle(rt)
    finally:
        rt.close()
    for s in result.snapshot.sources:
        if not s.ok:
            stale = " (showing stale data)" if s.stale_since else ""
            _err(f"  warning: source {s.name} failed: {s.error}{stale}")
        for problem in s.problems:
            _err(f"  warning: source {s.name}: {problem}")
    w = result.written
    seconds = sum(s.seconds for s in result.stages)
    print(
        f"wrote {w.files} files ({format_value(w.bytes, 'bytes')}) to {w.path} "
        f"in {seconds:.2f}s; open {w.path / 'index.html'}"
    )
    return EXIT_OK


@contextlib.contextmanager
def _collector_paused(resume: bool) -> Iterator[None]:
    """Pause the cyclic garbage collector for one command; resume it after if `resume`."""
    # botocore's service models are some 10^5 objects in no reference cycle: the collector
    # scans them again and again while they load, and all of them once more when it resumes.
    # What one publish leaves in cycles is bounded by its one site.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled and resume:
            gc.enable()


def cmd_publish(args: argparse.Namespace) -> int:
    """Sync the written site to the bucket and print what changed."""
    with _collector_paused(resume=not args.exits):
        return _publish(args)


def _publish(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from sitegen.site.publish import publish, publish_error

    cfg = _load(args)
    if not cfg.publish.bucket:
        raise ConfigError(["publish.bucket: not set, so there is nowhere to publish to"])
    site = cfg.site.out_dir
    if not (site / "manifest.json").is_file():
        _err(f"sitegen: {site} holds no site (no manifest.json): run sitegen render first")
        return EXIT_FAILED
    # Beside a `run` on the same state_dir it would race that run's publish state; a dry run
    # only reads it.
    cfg.site.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    lock = None if args.dry_run else StateLock(cfg.site.state_dir)
    try:
        done = publish(
            site, cfg.publish, cfg.site.state_dir, cfg.site.interval_seconds, dry_run=args.dry_run
        )
    except (BotoCoreError, ClientError) as exc:
        _err(f"sitegen: publish to s3://{cfg.publish.bucket}/{cfg.publish.prefix} failed: "
             f"{publish_error(exc)}; the bucket keeps its previous site")  # fmt: skip
        return EXIT_FAILED
    finally:
        if lock is not None:
            lock.release()
    p = done.plan
    if args.dry_run:
        for key in p.puts:
            print(f"upload {key}")
        for key in p.deletes:
            print(f"delete {key}")
        for key in p.invalidate:
            print(f"invalidate /{cfg.publish.prefix}{key}")
    print(done.summary())
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    """Render every interval until SIGTERM or SIGINT."""
    from sitegen.schedule import run_forever

    cfg = _load(args)
    _err(f"sitegen {__version__}: running from {cfg.source}, writing {cfg.site.out_dir}")
    return run_forever(cfg, _progress(args))


def parser() -> argparse.ArgumentParser:
    """Return the argument parser of the sitegen command."""
    p = argparse.ArgumentParser(
        prog="sitegen",
        description="Publish observability snapshots as a static, JavaScript-free website.",
    )
    p.add_argument("--version", action="version", version=f"sitegen {__version__}")
    sub = p.add_subparsers(dest="verb", required=True, metavar="VERB")
    config_help = (
        "TOML config file (default: $SITEGEN_CONFIG, else ./sitegen.toml, "
        "else the embedded default: this host and sitegen itself)"
    )

    render = sub.add_parser(
        "render",
        help="run one cycle and write the site, no publishing",
        description="Collect, render, optimize and write the site once. "
        "Exit 0 when the site was written (even if a source failed: the "
        "site says so), 2 on a config error.",
    )
    render.add_argument("--config", metavar="FILE", help=config_help)
    render.add_argument("--out", metavar="DIR", help="output directory (overrides site.out_dir)")
    render.add_argument("-q", "--quiet", action="store_true", help="print only the summary line")
    render.set_defaults(func=cmd_render)

    pub = sub.add_parser(
        "publish",
        help="sync the written site to S3 and invalidate changed pages in CloudFront",
        description="Upload what changed since the last publish (by SHA-256: assets, then "
        "pages and data, then manifest.json), delete keys no longer used, and invalidate the "
        "changed pages. Prints uploaded / unchanged / deleted / invalidated counts.",
    )
    pub.add_argument("--config", metavar="FILE", help=config_help)
    pub.add_argument("--out", metavar="DIR", help="site directory (overrides site.out_dir)")
    pub.add_argument("--dry-run", action="store_true", help="print what would change, send nothing")
    pub.set_defaults(func=cmd_publish)

    run = sub.add_parser(
        "run",
        help="render every site.interval_seconds until stopped",
        description="Run a cycle every site.interval_seconds, one at a time, serving sitegen's "
        "own metrics on site.metrics_listen. SIGTERM or SIGINT stops it cleanly (exit 0) after "
        "the running cycle, waiting at most 10 s; a second signal exits at once.",
    )
    run.add_argument("--config", metavar="FILE", help=config_help)
    run.add_argument("-q", "--quiet", action="store_true", help="do not print each stage")
    run.set_defaults(func=cmd_run)

    check = sub.add_parser(
        "check",
        help="validate the configuration, print every error",
        description="Validate the configuration and print every error as "
        "'key.path: message'. Exit 2 if it is invalid.",
    )
    check.add_argument("--config", metavar="FILE", help=config_help)
    check.set_defaults(func=cmd_check)
    return p


def main(argv: list[str] | None = None, *, exits: bool = False) -> int:
    """Run the sitegen command line; return the exit code.

    `exits`: the process ends after this command (the `sitegen` program), so a one-shot
    command need not leave the process as it found it.
    """
    args = parser().parse_args(argv)
    args.exits = exits
    try:
        return args.func(args)
    except ConfigError as exc:
        for error in exc.errors:
            _err(error)
        _err(f"{len(exc.errors)} error(s) in the configuration")
        return EXIT_CONFIG
    except StateLocked as exc:
        _err(f"sitegen: {exc}")
        return EXIT_CONFIG
    except OSError as exc:
        _err(f"sitegen: {exc}")
        return EXIT_FAILED
    except KeyboardInterrupt:
        _err("sitegen: interrupted")
        return 130


def command() -> None:
    """Run the `sitegen` program: the command line in this process, which then exits."""
    code = main(exits=True)
    # At exit CPython collects cycles among every object left (botocore's models alone are
    # some 10^5): a tenth of a second of a publish, for memory the exit frees anyway.
    gc.freeze()
    sys.exit(code)
