"""PythonInterpGIL own (Hydra, Python >= 3.12): this interpreter has its own
GIL, so its requests run in parallel with those of every other interpreter
in the same Apache child."""

import time

import demo_page

counter = demo_page.Counter()


def busy_work(seconds=0.05):
    # CPU-bound on purpose: with a shared GIL this would hold up the other
    # applications of the child; with its own GIL it does not.
    end = time.perf_counter() + seconds
    n = 0
    while time.perf_counter() < end:
        n += 1
    return n


def handler(req):
    loops = busy_work()
    return demo_page.render(req, "fast", counter.next(), ["busy loops:  %d in 50 ms" % loops])
