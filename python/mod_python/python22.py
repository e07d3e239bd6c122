"""Compatibility shim kept so that old code doing
``import mod_python.python22`` still imports. It defines nothing: every
name it once provided is built into Python 3."""
