"""Thin shim: everything lives in pyproject.toml."""

from setuptools import setup

setup()
