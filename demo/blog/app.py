"""blog.localhost: a module also called `app`, in another interpreter.

The shop's `app` and this one never meet: each interpreter has its own
sys.modules, so both can use the same module name.
"""

import sys

import demo_page

counter = demo_page.Counter()


def handler(req):
    seen = "warmup" in sys.modules
    note = "yes" if seen else "no (PythonImport named shop.localhost, not this interpreter)"
    return demo_page.render(req, "blog", counter.next(), ["warmup here: " + note])
