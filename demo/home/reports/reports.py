"""PythonInterpreter reporting: an interpreter chosen by name. Any section,
in any virtual host, that names "reporting" shares this interpreter."""

import demo_page

counter = demo_page.Counter()


def handler(req):
    return demo_page.render(req, "reports", counter.next())
