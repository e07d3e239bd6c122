"""The publisher page of the package test's site (install-test.sh)."""


def index(req, who="nobody"):
    return "publisher ok, hello %s\n" % who
