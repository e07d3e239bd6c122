"""
python-api.md §19, the modules that need no Apache: mod_python.cache
(Cache with its LRU bound, FileCache rebuilt on mtime change, ModuleCache
modules that never enter sys.modules, WeakCache, FunctionCache) and
mod_python.httpdconf (configuration text from str(), the building
expression from repr()). Loaded from the package under test, in this
process; no server is started.
"""

import gc
import importlib.util
import os
import sys
import types

import pytest

import harness


def _load(name):
    path = os.path.join(harness.MP_PACKAGE, name + ".py")
    spec = importlib.util.spec_from_file_location("hydra_test_" + name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


cache = _load("cache")
httpdconf = _load("httpdconf")


class Counting(cache.Cache):
    def __init__(self, max_size=0):
        cache.Cache.__init__(self, max_size)
        self.built = []

    def build(self, key, name, opened, entry, **context):
        self.built.append(name)
        return name.upper()


def test_cache_builds_once_and_bounds_its_size_least_recently_used_first():
    c = Counting(max_size=2)
    assert c["a"] == "A" and c["a"] == "A"
    assert c.built == ["a"]
    c["b"]
    c["a"]          # a is now the most recently used
    c["c"]          # evicts b
    assert sorted(c.keys()) == ["a", "c"] and len(c) == 2
    assert "b" not in c
    c["b"]          # rebuilt; evicts a, now the least recently used
    assert c.built == ["a", "b", "c", "b"]
    assert sorted(c.keys()) == ["b", "c"]
    del c["b"]
    assert "b" not in c
    c.clear()
    assert len(c) == 0


def test_file_cache_rebuilds_when_the_mtime_changes(tmp_path):
    path = tmp_path / "data.txt"
    path.write_bytes(b"one")
    c = cache.FileCache()
    assert c.get(str(path)) == b"one"
    path.write_bytes(b"two")
    os.utime(path, (1000, 1000))
    assert c.get(str(path)) == b"two"
    path.write_bytes(b"six")
    os.utime(path, (1000, 1000))     # same mtime: the cached value stays
    assert c.get(str(path)) == b"two"
    assert cache.FileCache(mode="r").get(str(path)) == "six"


def test_module_cache_makes_fresh_modules_outside_sys_modules(tmp_path):
    path = tmp_path / "page.py"
    path.write_text("X = 1\n")
    c = cache.ModuleCache()
    module = c.get(str(path))
    assert isinstance(module, types.ModuleType)
    assert module.X == 1 and module.__file__ == str(path)
    assert module.__name__ == cache.module_name_for_path(str(path))
    assert module.__name__ not in sys.modules
    path.write_text("X = 2\n")
    os.utime(path, (2000, 2000))
    again = c.get(str(path))
    assert again.X == 2 and again is not module


def test_weak_cache_rebuilds_values_nobody_holds():
    class Value:
        pass

    built = []

    class Weak(cache.WeakCache):
        def build(self, key, name, opened, entry, **context):
            built.append(name)
            return Value()

    c = Weak()
    held = c["k"]
    assert c["k"] is held and built == ["k"]
    del held
    gc.collect()
    c["k"]
    assert built == ["k", "k"]


def test_function_cache_memoises():
    calls = []
    c = cache.FunctionCache(lambda name: calls.append(name) or len(name))
    assert c["abc"] == 3 and c["abc"] == 3
    assert calls == ["abc"]
    assert repr(cache.NOT_INITIALIZED) == "NOT_INITIALIZED"


def test_httpdconf_renders_configuration_text():
    conf = httpdconf.Container(
        httpdconf.Comment("generated"),
        httpdconf.Listen("127.0.0.1:8080"),
        httpdconf.Directory("/srv/www",
                            httpdconf.SetHandler("mod_python"),
                            httpdconf.PythonHandler("mod_python.publisher"),
                            httpdconf.PythonOption(["key", "value"])),
    )
    assert str(conf) == ("# generated\n"
                         "Listen 127.0.0.1:8080\n"
                         "<Directory /srv/www>\n"
                         "  SetHandler mod_python\n"
                         "  PythonHandler mod_python.publisher\n"
                         "  PythonOption key value\n"
                         "</Directory>\n")


def test_httpdconf_repr_is_the_expression_that_builds_it():
    conf = httpdconf.Container(httpdconf.Location("/x", httpdconf.SetHandler("mod_python")),
                               httpdconf.Directive("ServerName", "a.example"))
    rebuilt = eval(repr(conf), vars(httpdconf))
    assert str(rebuilt) == str(conf)
    assert repr(httpdconf.Directive("A", "b")) == "Directive('A', 'b')"


def test_httpdconf_container_append_and_bad_keywords():
    conf = httpdconf.Container()
    conf.append(httpdconf.Directive("LogLevel", "info"))
    assert str(conf) == "LogLevel info\n"
    with pytest.raises(TypeError):
        httpdconf.Container(colour="red")
