"""The benchmark harness behind bench/run.py (stdlib only, Debian's /usr/bin/python3)."""
