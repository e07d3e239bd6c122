"""PythonInterpPerDirectory On: one interpreter per directory.

/teams/red/ and /teams/blue/ both run this handler, each in an interpreter
named after its directory, so each has its own counter.
"""

import os

import demo_page

counter = demo_page.Counter()


def handler(req):
    team = os.path.basename(req.filename.rstrip("/")) if req.filename else "?"
    return demo_page.render(req, "teams (" + team + ")", counter.next())
