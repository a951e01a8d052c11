"""The study's database: Optuna's RDB storage (SQLite in the run folder by default, or a
shared PostgreSQL / MySQL server for many ``tsssm tune`` processes on one study)."""

from __future__ import annotations

import time
import warnings

import optuna
import sqlalchemy
from sqlalchemy.engine import make_url

from tsssm.training.config import ConfigError

# Each running trial writes a heartbeat; one silent for GRACE_S seconds (its process died,
# on any machine) is marked failed and retried once with the same parameters.
HEARTBEAT_S, GRACE_S, MAX_RETRY = 30, 120, 1
_CREATE_ATTEMPTS = 4


def redact(url: str) -> str:
    """``url`` with its password hidden (for messages and study.json)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except sqlalchemy.exc.ArgumentError:
        return url


def open_storage(url: str) -> optuna.storages.RDBStorage:
    """The RDB storage at ``url`` (``sqlite:///path``, ``postgresql://user:pass@host/db``,
    ``mysql+pymysql://...``), with heartbeats so that trials of a dead process are retried.

    Raises:
        ConfigError: the URL is malformed, its database driver is not installed, or the
            database cannot be reached or opened (the message hides the password).
    """
    for attempt in range(_CREATE_ATTEMPTS):
        try:
            return _rdb_storage(url)
        except ImportError as error:
            raise ConfigError(f"--storage {redact(url)}: its database driver is not installed "
                              f"({error}); e.g. `pip install psycopg2-binary` for PostgreSQL, "
                              "`pip install pymysql` for mysql+pymysql://") from None
        except (sqlalchemy.exc.SQLAlchemyError, ValueError, RuntimeError, OSError) as error:
            # Processes that start together race to create the tables: the losers retry.
            racing = isinstance(error, sqlalchemy.exc.IntegrityError) or "locked" in str(error)
            if racing and attempt + 1 < _CREATE_ATTEMPTS:
                time.sleep(1.0 + attempt)
                continue
            text = str(error).strip()
            first = text.splitlines()[0] if text else type(error).__name__
            raise ConfigError(f"--storage {redact(url)}: cannot open the study storage: "
                              f"{first}") from None
    raise AssertionError("unreachable")


def _rdb_storage(url: str) -> optuna.storages.RDBStorage:
    with warnings.catch_warnings():  # heartbeats are "experimental" since Optuna 2.9
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.storages.RDBStorage(
            url, heartbeat_interval=HEARTBEAT_S, grace_period=GRACE_S,
            heartbeat_stale_trial_callback=retry_callback(MAX_RETRY))


def retry_callback(max_retry: int | None) -> optuna.storages.RetryHeartbeatStaleTrialCallback:
    """Optuna's callback that queues a failed trial again with the same values."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=max_retry)
