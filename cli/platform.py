"""Operator commands: generate CRDs, render a platform offline, run the operator."""

import typer


def register(app: typer.Typer) -> None:
    """Adds the operator's top-level commands to the main app."""
