"""shop.localhost: runs in the interpreter named after its virtual host."""

import sys

import demo_page

counter = demo_page.Counter()


def handler(req):
    # PythonImport already imported warmup into this interpreter.
    warmup = sys.modules.get("warmup")
    status = warmup.describe() if warmup else "not imported (PythonImport did not run?)"
    return demo_page.render(req, "shop", counter.next(), ["warmup:      " + status])
