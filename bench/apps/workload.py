"""The CPU-bound work of scenario (b): a few milliseconds of pure-Python arithmetic.

Pure bytecode on purpose: no C call that could release the GIL, so the only
way two requests run at the same time is two interpreters with their own GIL
(or two processes). The iteration count is fixed, not calibrated, so every
target does exactly the same work."""

ITERATIONS = 60_000


def burn(iterations=ITERATIONS):
    acc = 0
    for i in range(iterations):
        acc = (acc * 31 + i) % 1_000_003
    return acc
