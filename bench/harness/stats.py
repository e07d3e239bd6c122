"""Median with min-max over the rounds: the only statistics the tables show."""

import statistics


def summary(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "n": len(values),
    }


def rotated(items, round_index):
    """The targets in a different order each round, so none always runs first or last."""
    if not items:
        return []
    shift = round_index % len(items)
    return items[shift:] + items[:shift]
