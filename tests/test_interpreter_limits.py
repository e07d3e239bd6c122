"""No limit a mod_python configuration did not ask for (beyond.md: Hydra's
extensions never change a configuration that does not use them):
PythonMaxInterpreters has no default limit, so a child serves as many
virtual hosts, each in its own interpreter, as the configuration has.
The limit itself, when set, is proven in reliability/test_security.py."""
import pytest

from harness import ApacheServer

VHOSTS = 150

HANDLER_PY = '''
from mod_python import apache

def handler(req):
    req.content_type = "text/plain"
    req.write("%s in %s" % (req.hostname, apache.interpreter))
    return apache.OK
'''


def vhosts_config(count):
    sections = []
    for i in range(count):
        sections.append(
            "<VirtualHost *:{port}>\n"
            "    ServerName v%d.test\n"
            "    <Location /who>\n"
            "        SetHandler mod_python\n"
            "        PythonHandler who\n"
            "    </Location>\n"
            "</VirtualHost>" % i)
    return "\n".join(sections)


@pytest.mark.parametrize("mpm", ["event", "prefork"])
def test_150_virtual_hosts_get_150_interpreters_in_one_child(mpm):
    with ApacheServer(vhosts_config(VHOSTS), {"pylib/who.py": HANDLER_PY}, mpm=mpm,
                      single_child=True) as server:
        for i in range(VHOSTS):
            host = "v%d.test" % i
            resp = server.get("/who", host=host)
            assert resp.status == 200, (host, resp.status, resp.body[:500])
            assert resp.body == "%s in %s" % (host, host)
        status = server.get("/who", host="v0.test")
        assert status.status == 200
        assert server.error_log().count("PythonMaxInterpreters") == 0
        assert server.crash_lines() == []
