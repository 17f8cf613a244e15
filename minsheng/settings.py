"""Every MINSHENG_* environment variable, read in one place (README.md, "Configuration", says what each does).

`settings()` reads the environment once per process; a process started later (`minsheng serve` execs BentoML,
whose workers are new processes) reads it again, so a variable set before that start reaches them."""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent  # labels/, data/, models/ live beside the package
QUANTIZATIONS = ("int8", "off")
SERVED_QUANTIZE = "int8"  # unless MINSHENG_QUANTIZE says otherwise (reports/evaluation.md, "As served")


@dataclass(frozen=True)
class Settings:
    db_url: str | None  # MINSHENG_DB_URL; None: SQLite under data_dir
    data_dir: Path  # MINSHENG_DATA_DIR
    model: str | None  # MINSHENG_MODEL: a model-store tag pinned to serve
    default_model: str | None  # MINSHENG_DEFAULT_MODEL: serves until one is promoted (a bento's packed model)
    quantize: str  # MINSHENG_QUANTIZE: "int8" or "off"
    threads: int  # MINSHENG_THREADS: batches the model service computes side by side (a core each); 0: all cores
    host: str  # MINSHENG_HOST
    port: int  # MINSHENG_PORT
    auth: bool  # MINSHENG_AUTH=off opens /classify and /submit without a token
    usage_tracking: bool  # MINSHENG_USAGE_TRACKING=on lets BentoML report usage to its vendor
    build_cases: bool  # MINSHENG_BUILD_CASES=off: no case-base build in the background when a model starts serving
    cases_file: Path | None  # MINSHENG_CASES_FILE: published replies to seed the case base; None: data/cases
    deliver: bool  # MINSHENG_DELIVER=off: the service sends no webhooks (`minsheng deliver` still does)
    deliver_lease: int  # MINSHENG_DELIVER_LEASE: seconds a deliverer holds a claimed event before another may send it
    deliver_max_backoff: int  # MINSHENG_DELIVER_MAX_BACKOFF: the longest wait, in seconds, between two attempts
    clock_offset_file: Path | None  # MINSHENG_CLOCK_OFFSET_FILE: seconds added to the service's clock (tests move time)
    overdue_sweep_seconds: int  # MINSHENG_OVERDUE_SWEEP_SECONDS: how often the service looks for newly overdue tickets

    @classmethod
    def from_env(cls, env: os._Environ | dict[str, str] = os.environ) -> Settings:
        """The settings `env` gives; a ValueError that names the variable for a value that cannot be used."""
        quantize = env.get("MINSHENG_QUANTIZE", SERVED_QUANTIZE)
        if quantize not in QUANTIZATIONS:
            raise ValueError(f"MINSHENG_QUANTIZE must be one of {QUANTIZATIONS}, not {quantize!r}")
        return cls(
            db_url=env.get("MINSHENG_DB_URL") or None,
            data_dir=Path(env.get("MINSHENG_DATA_DIR", "var")).resolve(),
            model=env.get("MINSHENG_MODEL") or None,
            default_model=env.get("MINSHENG_DEFAULT_MODEL") or None,
            quantize=quantize,
            threads=_integer(env, "MINSHENG_THREADS", 0),
            host=env.get("MINSHENG_HOST", "127.0.0.1"),
            port=_integer(env, "MINSHENG_PORT", 3000),
            auth=env.get("MINSHENG_AUTH", "on").lower() != "off",
            usage_tracking=env.get("MINSHENG_USAGE_TRACKING", "off").lower() == "on",
            build_cases=env.get("MINSHENG_BUILD_CASES", "on").lower() != "off",
            cases_file=Path(env["MINSHENG_CASES_FILE"]).resolve() if env.get("MINSHENG_CASES_FILE") else None,
            deliver=env.get("MINSHENG_DELIVER", "on").lower() != "off",
            deliver_lease=max(3, _integer(env, "MINSHENG_DELIVER_LEASE", 30)),
            deliver_max_backoff=max(1, _integer(env, "MINSHENG_DELIVER_MAX_BACKOFF", 300)),
            clock_offset_file=(Path(env["MINSHENG_CLOCK_OFFSET_FILE"]).resolve()
                               if env.get("MINSHENG_CLOCK_OFFSET_FILE") else None),
            overdue_sweep_seconds=_integer(env, "MINSHENG_OVERDUE_SWEEP_SECONDS", 60) or 60,
        )


def _integer(env, name: str, default: int) -> int:
    value = env.get(name)
    if value is None or value == "":
        return default
    if not value.isdigit():
        raise ValueError(f"{name} must be a non-negative integer, not {value!r}")
    return int(value)


@cache
def settings() -> Settings:
    """This process's settings (tests that change the environment in process call settings.cache_clear())."""
    return Settings.from_env()
