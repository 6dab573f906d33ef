"""Loopback only, enforced below every library (see :mod:`evaluation.netguard.sitecustomize`)."""

from evaluation.netguard.sitecustomize import LOG_ENV, SITE_DIR, Attempt, attempts, install

__all__ = ["LOG_ENV", "SITE_DIR", "Attempt", "attempts", "install"]
