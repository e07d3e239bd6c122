"""Hydra's implementation of the ``mod_python`` package.

``mp_version`` is what the C module compares with the version it was built
for when it starts an interpreter. ``apache`` is imported when possible, so
``import mod_python`` behaves as it does under mod_python inside httpd, but
the package stays importable outside httpd (where the built-in ``_apache``
module does not exist) for tools such as ``mod_python.httpdconf``.
"""

from . import version

mp_version = version.version

try:
    from . import apache
except ImportError:
    # Outside httpd: no _apache. Inside httpd the C side imports
    # mod_python.apache itself and reports any real error.
    pass
